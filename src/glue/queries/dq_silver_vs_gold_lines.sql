-- Data quality: product lines in the latest version of each silver cart (latest ingested_at per
-- cart_id, ties broken by the greatest id) minus the rows of the gold fact table. Gold explodes each
-- cart's products into one row per line, so the difference is expected to be 0; a positive value
-- means lines were lost (e.g. an unknown product dropped by the join), a negative one duplicates.
-- One row, one column: value (expected 0).
-- Portable: runs unchanged on Athena (Trino) and DuckDB. The array is counted with
-- CROSS JOIN UNNEST and a bare alias (no column list): Trino expands an array of ROW into one column
-- per field and DuckDB into one STRUCT column, so a column alias list could not suit both, while
-- COUNT(*) needs none. (cardinality() would not do either: DuckDB's accepts only MAPs.)
WITH latest AS (
  SELECT
    products,
    ROW_NUMBER() OVER (PARTITION BY cart_id ORDER BY ingested_at DESC, id DESC) AS rn
  FROM silver_carts
),
silver_lines AS (
  SELECT COUNT(*) AS n
  FROM latest
  CROSS JOIN UNNEST(latest.products) AS product_line
  WHERE latest.rn = 1
),
gold_lines AS (
  SELECT COUNT(*) AS n FROM fact_order_lines
)
SELECT silver_lines.n - gold_lines.n AS value
FROM silver_lines CROSS JOIN gold_lines
