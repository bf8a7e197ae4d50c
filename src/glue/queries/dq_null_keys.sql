-- Data quality: rows of the gold fact table missing a key (cart_id, product_id or user_id).
-- One row, one column: value (expected 0).
-- Portable: runs unchanged on Athena (Trino) and DuckDB.
SELECT COUNT(*) AS value
FROM fact_order_lines
WHERE cart_id IS NULL OR product_id IS NULL OR user_id IS NULL
