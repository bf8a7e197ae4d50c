/**
 * The DuckDB query engine on a real Parquet lake written in the test by DuckDB itself (COPY ... TO
 * ... (FORMAT PARQUET, PARTITION_BY ...)), laid out as the Glue jobs lay it out, and every analytics
 * and quality SQL file run through it. Expected figures are worked out by hand from the data below.
 */
import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../errors.js';
import { QueryFailedError } from '../errors.js';
import { ANALYTICS, QUALITY_CHECKS, runQualityChecks } from '../queries/index.js';
import { DuckDbQueryEngine, lakeDirectory } from './engine.js';

// Products: id → title, category, price.
//   1 Backpack  men's clothing 109.95 | 2 T-Shirt men's clothing 22.30 | 3 Ring jewelery 9.99
//   4 SSD       electronics    109.00 | 5 Cap     men's clothing 49.95
// Users: 1 john, 2 mor, 3 kevin, 4 don.
// Carts (latest versions): id, user, date, [product x quantity]
//   1 john  2024-01-05 [1x2, 3x1]   219.90 + 9.99            = 229.89
//   2 john  2024-02-10 [2x3]        66.90
//   3 mor   2024-02-11 [4x1, 1x1]   109.00 + 109.95          = 218.95
//   4 kevin 2024-02-20 [3x4]        39.96
//   5 mor   2024-03-01 [2x1, 5x1]   22.30 + 49.95            = 72.25
//   6 kevin 2023-12-31 [4x2]        218.00
//   7 don   2024-03-05 [2x1]        22.30
const PRODUCTS = `(VALUES
  (1, 'Backpack', 'men''s clothing', 109.95),
  (2, 'T-Shirt', 'men''s clothing', 22.3),
  (3, 'Ring', 'jewelery', 9.99),
  (4, 'SSD', 'electronics', 109.0),
  (5, 'Cap', 'men''s clothing', 49.95)) AS p(product_id, title, category, price)`;
const USERS = `(VALUES (1, 'john'), (2, 'mor'), (3, 'kevin'), (4, 'don')) AS u(user_id, username)`;
const LINES = `(VALUES
  (1, 1, DATE '2024-01-05', 1, 2), (1, 1, DATE '2024-01-05', 3, 1),
  (2, 1, DATE '2024-02-10', 2, 3),
  (3, 2, DATE '2024-02-11', 4, 1), (3, 2, DATE '2024-02-11', 1, 1),
  (4, 3, DATE '2024-02-20', 3, 4),
  (5, 2, DATE '2024-03-01', 2, 1), (5, 2, DATE '2024-03-01', 5, 1),
  (6, 3, DATE '2023-12-31', 4, 2),
  (7, 4, DATE '2024-03-05', 2, 1)) AS l(cart_id, user_id, order_date, product_id, quantity)`;

let tmp: string;
let cleanLake: string;
let dirtyLake: string;
let engine: DuckDbQueryEngine;

/** Writes the gold and silver tables of the data above under `lake` as the Glue jobs would. */
async function writeLake(lake: string): Promise<void> {
  await mkdir(join(lake, 'gold'), { recursive: true });
  await mkdir(join(lake, 'silver'), { recursive: true });
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  try {
    await c.run(`CREATE TABLE products AS SELECT
      CAST(product_id AS BIGINT) AS product_id, title, category, CAST(price AS DOUBLE) AS price FROM ${PRODUCTS}`);
    await c.run(`CREATE TABLE users AS SELECT CAST(user_id AS BIGINT) AS user_id, username FROM ${USERS}`);
    await c.run(`CREATE TABLE lines AS SELECT CAST(cart_id AS BIGINT) AS cart_id, CAST(user_id AS BIGINT) AS user_id,
      order_date, CAST(product_id AS BIGINT) AS product_id, CAST(quantity AS BIGINT) AS quantity FROM ${LINES}`);
    await c.run(`COPY (
      SELECT l.cart_id, l.user_id, l.product_id, l.quantity, p.price AS unit_price,
             p.price * l.quantity AS line_amount, p.category, p.title AS product_title, u.username,
             l.order_date, CAST(year(l.order_date) AS INTEGER) AS year, CAST(month(l.order_date) AS INTEGER) AS month
      FROM lines l JOIN products p USING (product_id) JOIN users u USING (user_id)
    ) TO '${lake}/gold/fact_order_lines' (FORMAT PARQUET, PARTITION_BY (year, month))`);
    // silver_carts: the current state, one row per cart (issue 11).
    await c.run(`COPY (
      SELECT 'carts-' || cart_id || '-v2' AS id, 'fakestore.carts' AS source,
             TIMESTAMP '2024-03-06 10:15:00' AS ingested_at, CAST(MIN(order_date) AS TIMESTAMP) AS event_time,
             cart_id, MIN(user_id) AS user_id, CAST(MIN(order_date) AS TIMESTAMP) AS cart_date,
             list({'productId': product_id, 'quantity': quantity} ORDER BY product_id) AS products,
             '2024-03-06' AS dt, '10' AS hour
      FROM lines GROUP BY cart_id
    ) TO '${lake}/silver/carts' (FORMAT PARQUET, PARTITION_BY (dt, hour))`);
    await c.run(`COPY (
      SELECT 'products-' || product_id AS id, 'fakestore.products' AS source,
             TIMESTAMP '2024-03-06 10:15:00' AS ingested_at, NULL::TIMESTAMP AS event_time,
             product_id, title, price, category, 'a ' || title AS description, 4.1 AS rating_rate,
             CAST(100 AS BIGINT) AS rating_count, '2024-03-06' AS dt, '10' AS hour
      FROM products
    ) TO '${lake}/silver/products' (FORMAT PARQUET, PARTITION_BY (dt, hour))`);
    await c.run(`COPY (
      SELECT 'users-' || user_id AS id, 'fakestore.users' AS source,
             TIMESTAMP '2024-03-06 10:15:00' AS ingested_at, NULL::TIMESTAMP AS event_time,
             user_id, username, sha256(username || '@mail') AS email, sha256('phone') AS phone,
             sha256('pw') AS password, upper(username) AS first_name, 'Doe' AS last_name, 'kilcoole' AS city,
             '2024-03-06' AS dt, '10' AS hour
      FROM users
    ) TO '${lake}/silver/users' (FORMAT PARQUET, PARTITION_BY (dt, hour))`);
    // The history tables (`history: true`): every version; here an older v1 of each cart, and the
    // current products and users, so no silver row is stale.
    await c.run(`COPY (
      SELECT * FROM read_parquet('${lake}/silver/carts/**/*.parquet', hive_partitioning = true)
      UNION ALL BY NAME
      SELECT 'carts-' || cart_id || '-v1' AS id, 'fakestore.carts' AS source,
             TIMESTAMP '2024-03-06 09:15:00' AS ingested_at, cart_id, '2024-03-06' AS dt, '09' AS hour
      FROM (SELECT DISTINCT cart_id FROM lines)
    ) TO '${lake}/silver/carts_history' (FORMAT PARQUET, PARTITION_BY (dt, hour))`);
    for (const entity of ['products', 'users']) {
      await c.run(`COPY (
        SELECT * FROM read_parquet('${lake}/silver/${entity}/**/*.parquet', hive_partitioning = true)
      ) TO '${lake}/silver/${entity}_history' (FORMAT PARQUET, PARTITION_BY (dt, hour))`);
    }
  } finally {
    c.closeSync();
    db.closeSync();
  }
}

/**
 * Adds to `lake`: a silver user row repeating id `users-2` (another hour), a gold row with a null
 * product_id, and a newer version of product 3 in the history table that silver does not hold.
 */
async function dirty(lake: string): Promise<void> {
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  try {
    await mkdir(join(lake, 'silver/users/dt=2024-03-06/hour=11'), { recursive: true });
    await c.run(`COPY (
      SELECT 'users-2' AS id, 'fakestore.users' AS source, TIMESTAMP '2024-03-06 11:00:00' AS ingested_at,
             NULL::TIMESTAMP AS event_time, CAST(2 AS BIGINT) AS user_id, 'mor' AS username, 'x' AS email,
             'x' AS phone, 'x' AS password, 'MOR' AS first_name, 'Doe' AS last_name, 'kilcoole' AS city
    ) TO '${lake}/silver/users/dt=2024-03-06/hour=11/dup.parquet' (FORMAT PARQUET)`);
    await mkdir(join(lake, 'silver/products_history/dt=2024-03-06/hour=12'), { recursive: true });
    await c.run(`COPY (
      SELECT 'products-3-v2' AS id, 'fakestore.products' AS source, TIMESTAMP '2024-03-06 12:00:00' AS ingested_at,
             NULL::TIMESTAMP AS event_time, CAST(3 AS BIGINT) AS product_id, 'Ring' AS title, 11.99 AS price,
             'jewelery' AS category
    ) TO '${lake}/silver/products_history/dt=2024-03-06/hour=12/newer.parquet' (FORMAT PARQUET)`);
    await mkdir(join(lake, 'gold/fact_order_lines/year=2024/month=4'), { recursive: true });
    await c.run(`COPY (
      SELECT CAST(8 AS BIGINT) AS cart_id, CAST(1 AS BIGINT) AS user_id, CAST(NULL AS BIGINT) AS product_id,
             CAST(1 AS BIGINT) AS quantity, 1.0 AS unit_price, 1.0 AS line_amount, 'unknown' AS category,
             NULL AS product_title, 'john' AS username, DATE '2024-04-01' AS order_date
    ) TO '${lake}/gold/fact_order_lines/year=2024/month=4/null-key.parquet' (FORMAT PARQUET)`);
  } finally {
    c.closeSync();
    db.closeSync();
  }
}

function sqlOf(name: string): string {
  const q = ANALYTICS.find((a) => a.name === name);
  if (!q) throw new Error(`no analytics query ${name}`);
  return q.sql;
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'duckdb-engine-'));
  cleanLake = join(tmp, 'clean');
  dirtyLake = join(tmp, 'dirty');
  await writeLake(cleanLake);
  await cp(cleanLake, dirtyLake, { recursive: true });
  await dirty(dirtyLake);
  engine = await DuckDbQueryEngine.open({ lakeUri: pathToFileURL(cleanLake).href });
});

afterAll(async () => {
  await engine?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('DuckDbQueryEngine', () => {
  it('creates a view per gold table and per silver entity, with Hive partitions as columns', async () => {
    expect(engine.kind).toBe('duckdb');
    expect(engine.views).toEqual([
      'fact_order_lines',
      'silver_carts',
      'silver_carts_history',
      'silver_products',
      'silver_products_history',
      'silver_users',
      'silver_users_history',
    ]);
    const gold = await engine.query(
      'SELECT year, month, count(*) AS n FROM fact_order_lines GROUP BY year, month ORDER BY year, month',
    );
    expect(gold).toEqual({
      columns: ['year', 'month', 'n'],
      rows: [
        ['2023', '12', '1'],
        ['2024', '1', '2'],
        ['2024', '2', '4'],
        ['2024', '3', '3'],
      ],
    });
    const silver = await engine.query(
      'SELECT dt, hour, count(*) AS n FROM silver_carts GROUP BY ALL ORDER BY hour',
    );
    // DuckDB keeps the partition value `hour=10` as text, like a Glue `string` partition.
    expect(silver.rows).toEqual([['2024-03-06', '10', '7']]);
  });

  it('returns every value as text like Athena, and SQL NULL as null', async () => {
    const r = await engine.query(
      `SELECT 42::BIGINT AS i, 109.95::DECIMAL(18, 2) AS d, DATE '2024-01-05' AS day, NULL AS nothing,
              'men''s' AS s, true AS b, [1, 2] AS a`,
    );
    expect(r.columns).toEqual(['i', 'd', 'day', 'nothing', 's', 'b', 'a']);
    expect(r.rows).toEqual([['42', '109.95', '2024-01-05', null, "men's", 'true', '[1, 2]']]);
  });

  it('runs monthly_sales_trend: orders, lines, units, revenue per month, oldest first', async () => {
    expect(await engine.query(sqlOf('monthly_sales_trend'))).toEqual({
      columns: ['year', 'month', 'orders', 'lines', 'units', 'revenue'],
      rows: [
        ['2023', '12', '1', '1', '2', '218.00'],
        ['2024', '1', '1', '2', '3', '229.89'],
        ['2024', '2', '3', '4', '9', '325.81'],
        ['2024', '3', '2', '3', '3', '94.55'],
      ],
    });
  });

  it('runs top_products_by_revenue: ties on revenue broken by product_id', async () => {
    expect(await engine.query(sqlOf('top_products_by_revenue'))).toEqual({
      columns: ['product_id', 'product_title', 'category', 'orders', 'units', 'revenue'],
      rows: [
        ['1', 'Backpack', "men's clothing", '2', '3', '329.85'],
        ['4', 'SSD', 'electronics', '2', '3', '327.00'],
        ['2', 'T-Shirt', "men's clothing", '3', '5', '111.50'],
        // Ring (9.99 + 39.96) and Cap (49.95) tie at 49.95: the lower product_id first.
        ['3', 'Ring', 'jewelery', '2', '5', '49.95'],
        ['5', 'Cap', "men's clothing", '1', '1', '49.95'],
      ],
    });
  });

  it('runs revenue_by_category with each category share of revenue', async () => {
    // Total 868.25: 491.30 / 868.25 = 56.585 %, 327.00 → 37.662 %, 49.95 → 5.753 %.
    expect(await engine.query(sqlOf('revenue_by_category'))).toEqual({
      columns: ['category', 'products', 'orders', 'units', 'revenue', 'revenue_share_pct'],
      rows: [
        ["men's clothing", '3', '5', '9', '491.30', '56.59'],
        ['electronics', '1', '2', '3', '327.00', '37.66'],
        ['jewelery', '1', '2', '5', '49.95', '5.75'],
      ],
    });
  });

  it('runs repeat_customers: only users with more than one order', async () => {
    expect(await engine.query(sqlOf('repeat_customers'))).toEqual({
      columns: ['user_id', 'username', 'orders', 'revenue'],
      rows: [
        ['1', 'john', '2', '296.79'],
        ['2', 'mor', '2', '291.20'],
        ['3', 'kevin', '2', '257.96'],
      ],
    });
  });

  it('passes every quality check on the clean lake', async () => {
    const results = await runQualityChecks(engine);
    expect(results.map((r) => [r.name, r.value, r.passed, r.error])).toEqual([
      ['dq_null_keys', 0, true, undefined],
      ['dq_duplicate_ids', 0, true, undefined],
      ['dq_silver_vs_gold_lines', 0, true, undefined],
      ['dq_duplicate_keys', 0, true, undefined],
      ['dq_stale_silver_rows', 0, true, undefined],
    ]);
    expect(results).toHaveLength(QUALITY_CHECKS.length);
  });

  it('fails the quality checks on a lake with a duplicate silver id, a gold row without product and a stale silver row', async () => {
    const bad = await DuckDbQueryEngine.open({ lakeUri: pathToFileURL(dirtyLake).href });
    try {
      const results = await runQualityChecks(bad);
      expect(results.map((r) => [r.name, r.value, r.passed])).toEqual([
        ['dq_null_keys', 1, false],
        ['dq_duplicate_ids', 1, false],
        // 10 silver lines (latest cart versions) − 11 gold rows.
        ['dq_silver_vs_gold_lines', -1, false],
        // users-2 twice: one surplus user_id.
        ['dq_duplicate_keys', 1, false],
        // silver product 3 (10:15) is older than its version of 12:00 in products_history.
        ['dq_stale_silver_rows', 1, false],
      ]);
    } finally {
      await bad.close();
    }
  });

  it('reports a check whose table is missing as failed with the error, and runs the others', async () => {
    const emptyDir = join(tmp, 'gold-only');
    await cp(join(cleanLake, 'gold'), join(emptyDir, 'gold'), { recursive: true });
    const goldOnly = await DuckDbQueryEngine.open({ lakeUri: pathToFileURL(emptyDir).href });
    try {
      expect(goldOnly.views).toEqual(['fact_order_lines']);
      const [nullKeys, duplicates, lines] = await runQualityChecks(goldOnly);
      expect(nullKeys).toMatchObject({ name: 'dq_null_keys', value: 0, passed: true });
      expect(duplicates).toMatchObject({ name: 'dq_duplicate_ids', value: null, passed: false });
      expect(duplicates?.error).toMatch(/QueryFailedError: .*silver_carts/);
      expect(lines).toMatchObject({ name: 'dq_silver_vs_gold_lines', value: null, passed: false });
    } finally {
      await goldOnly.close();
    }
  });

  it('skips folders without Parquet and picks up new folders on refreshViews', async () => {
    const lake = join(tmp, 'growing');
    await mkdir(join(lake, 'silver', 'carts'), { recursive: true });
    const e = await DuckDbQueryEngine.open({ lakeUri: pathToFileURL(lake).href });
    try {
      expect(e.views).toEqual([]);
      await cp(join(cleanLake, 'silver', 'users'), join(lake, 'silver', 'users'), { recursive: true });
      expect(await e.refreshViews()).toEqual(['silver_users']);
      expect((await e.query('SELECT count(*) AS n FROM silver_users')).rows).toEqual([['4']]);
    } finally {
      await e.close();
    }
  });

  it('throws QueryFailedError (not retriable) for bad SQL and after close', async () => {
    const err = await engine.query('SELECT * FROM no_such_table').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QueryFailedError);
    expect((err as QueryFailedError).retriable).toBe(false);
    expect((err as Error).message).toMatch(/no_such_table/);
    const e = await DuckDbQueryEngine.open({ lakeUri: pathToFileURL(cleanLake).href });
    await e.close();
    await e.close();
    await expect(e.query('SELECT 1')).rejects.toThrow(/closed/);
  });

  it('accepts file:// URIs relative to the working directory and rejects s3://', () => {
    expect(lakeDirectory('file:///data/lake')).toBe('/data/lake');
    expect(lakeDirectory('file://./data/lake')).toBe(join(process.cwd(), 'data/lake'));
    expect(() => lakeDirectory('s3://bucket/lake')).toThrow(ConfigError);
  });
});
