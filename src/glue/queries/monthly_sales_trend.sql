-- Monthly sales trend over the gold fact table, one row per (year, month), oldest first.
-- Columns: year, month, orders (distinct carts), lines (product lines), units (sum of quantity),
-- revenue (sum of line_amount, DECIMAL(18,2)).
-- Portable: runs unchanged on Athena (Trino) and DuckDB.
SELECT
  year,
  month,
  COUNT(DISTINCT cart_id) AS orders,
  COUNT(*) AS lines,
  SUM(quantity) AS units,
  CAST(SUM(line_amount) AS DECIMAL(18, 2)) AS revenue
FROM fact_order_lines
GROUP BY year, month
ORDER BY year, month
