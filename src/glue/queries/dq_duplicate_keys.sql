-- Data quality: surplus rows per entity key in current silver (issue 11, ADR 0016). Silver is the
-- current state, MERGEd on the key, so each key appears once: cart_id in silver_carts, product_id in
-- silver_products, user_id in silver_users. Counts the rows beyond the first of each key.
-- One row, one column: value (expected 0).
-- Portable: runs unchanged on Athena (Trino) and DuckDB.
SELECT COALESCE(SUM(copies - 1), 0) AS value
FROM (
  SELECT cart_id, COUNT(*) AS copies FROM silver_carts GROUP BY cart_id HAVING COUNT(*) > 1
  UNION ALL
  SELECT product_id, COUNT(*) AS copies FROM silver_products GROUP BY product_id HAVING COUNT(*) > 1
  UNION ALL
  SELECT user_id, COUNT(*) AS copies FROM silver_users GROUP BY user_id HAVING COUNT(*) > 1
) AS duplicated
