-- The 10 products with the highest revenue. Ties on revenue are broken by product_id (ascending).
-- Columns: product_id, product_title, category, orders (distinct carts), units, revenue (DECIMAL(18,2)).
-- product_title and category are MAX() per product so a product renamed between cart versions still
-- gives one row.
-- Portable: runs unchanged on Athena (Trino) and DuckDB.
SELECT
  product_id,
  MAX(product_title) AS product_title,
  MAX(category) AS category,
  COUNT(DISTINCT cart_id) AS orders,
  SUM(quantity) AS units,
  CAST(SUM(line_amount) AS DECIMAL(18, 2)) AS revenue
FROM fact_order_lines
GROUP BY product_id
ORDER BY revenue DESC, product_id
LIMIT 10
