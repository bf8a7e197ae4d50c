-- Revenue per product category, highest first; ties broken by category name.
-- Columns: category, products (distinct products sold), orders (distinct carts), units,
-- revenue (DECIMAL(18,2)), revenue_share_pct (percent of all revenue, DECIMAL(5,2)).
-- Portable: runs unchanged on Athena (Trino) and DuckDB.
SELECT
  category,
  COUNT(DISTINCT product_id) AS products,
  COUNT(DISTINCT cart_id) AS orders,
  SUM(quantity) AS units,
  CAST(SUM(line_amount) AS DECIMAL(18, 2)) AS revenue,
  CAST(100 * SUM(line_amount) / SUM(SUM(line_amount)) OVER () AS DECIMAL(5, 2)) AS revenue_share_pct
FROM fact_order_lines
GROUP BY category
ORDER BY revenue DESC, category
