-- Data quality: current silver rows older than a newer version of the same key (issue 11, ADR 0016).
-- The newer versions are read from the history tables (`history: true` on the entity: every version
-- merged from bronze, one row per envelope id), not from bronze itself: bronze is raw JSON whose key
-- and version sit in the payload under source-specific paths, while the history table has silver's
-- typed columns and is an Iceberg table of the same catalog on both engines. The FakeStore entities
-- have no version column, so `ingested_at` orders their versions; the comparison is strict, like the
-- merge rule, so equal copies never count. Counts each stale silver row once.
-- One row, one column: value (expected 0). Fails (table not found) when a history table is missing.
-- Portable: runs unchanged on Athena (Trino) and DuckDB.
SELECT
  (SELECT COUNT(*) FROM silver_carts s WHERE EXISTS (
    SELECT 1 FROM silver_carts_history h
    WHERE h.cart_id = s.cart_id AND h.ingested_at > s.ingested_at))
  + (SELECT COUNT(*) FROM silver_products s WHERE EXISTS (
    SELECT 1 FROM silver_products_history h
    WHERE h.product_id = s.product_id AND h.ingested_at > s.ingested_at))
  + (SELECT COUNT(*) FROM silver_users s WHERE EXISTS (
    SELECT 1 FROM silver_users_history h
    WHERE h.user_id = s.user_id AND h.ingested_at > s.ingested_at)) AS value
