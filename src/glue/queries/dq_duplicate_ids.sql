-- Data quality: surplus rows sharing an envelope `id` in the silver tables (silver is deduplicated on
-- id, so every id must appear once per table). Counts, over silver_carts, silver_products and
-- silver_users, the rows beyond the first of each id.
-- One row, one column: value (expected 0).
-- Portable: runs unchanged on Athena (Trino) and DuckDB.
SELECT COALESCE(SUM(copies - 1), 0) AS value
FROM (
  SELECT id, COUNT(*) AS copies FROM silver_carts GROUP BY id HAVING COUNT(*) > 1
  UNION ALL
  SELECT id, COUNT(*) AS copies FROM silver_products GROUP BY id HAVING COUNT(*) > 1
  UNION ALL
  SELECT id, COUNT(*) AS copies FROM silver_users GROUP BY id HAVING COUNT(*) > 1
) AS duplicated
