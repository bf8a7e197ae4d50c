-- Customers with more than one order (distinct carts), most orders first, then highest revenue,
-- then user_id. username is MAX() per user so a renamed user still gives one row.
-- Columns: user_id, username, orders, revenue (DECIMAL(18,2)).
-- Portable: runs unchanged on Athena (Trino) and DuckDB.
SELECT
  user_id,
  MAX(username) AS username,
  COUNT(DISTINCT cart_id) AS orders,
  CAST(SUM(line_amount) AS DECIMAL(18, 2)) AS revenue
FROM fact_order_lines
GROUP BY user_id
HAVING COUNT(DISTINCT cart_id) > 1
ORDER BY orders DESC, revenue DESC, user_id
