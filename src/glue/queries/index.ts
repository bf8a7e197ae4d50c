/**
 * The lake's reference analytics and data-quality checks, as SQL files beside this module
 * (`src/glue/queries/*.sql`), written to run unchanged on Athena (Trino) and DuckDB.
 *
 * Analytics read the gold table `fact_order_lines`; the checks also read the silver tables
 * `silver_carts`, `silver_products`, `silver_users` and their history tables
 * `silver_<entity>_history`. Each check returns one row with a numeric column `value`, compared
 * with the check's {@link Expectation} by {@link runQualityChecks}.
 *
 * The SQL text is read lazily (on first access to `sql`), so importing this module never touches the
 * disk. Files are looked up next to this module first (a build that copies `*.sql` beside the `.js`),
 * then in `src/glue/queries` of the nearest ancestor directory (running from `dist/glue/queries`
 * inside the project checkout or an image that ships `src/glue/queries`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describeError } from '../../errors.js';
import type { QueryEngine } from '../types.js';

/** One SQL file. */
export interface SqlQuery {
  /** File name without `.sql`, e.g. `monthly_sales_trend`. */
  readonly name: string;
  /** What the query answers, and its columns. */
  readonly description: string;
  /** The statement (read from `<name>.sql` on first access, then cached). */
  readonly sql: string;
}

/** How a check's `value` must compare with `value` of the expectation to pass. */
export interface Expectation {
  op: 'eq' | 'lte' | 'gte';
  value: number;
}

/** A data-quality check: a query returning one row with a numeric `value`, and what it must be. */
export interface QualityCheck extends SqlQuery {
  readonly expectation: Expectation;
}

/** The outcome of one {@link QualityCheck}. */
export interface QualityCheckResult {
  name: string;
  description: string;
  expectation: Expectation;
  /** The `value` the query returned; `null` when the query failed or returned no number. */
  value: number | null;
  passed: boolean;
  /** Why the check could not be evaluated (query error, not exactly one row, no numeric `value`). */
  error?: string;
}

const FILE_PROBE = 'monthly_sales_trend.sql';
let cachedDir: string | undefined;

/**
 * The directory holding the `.sql` files: this module's directory when they sit beside it, else
 * `<ancestor>/src/glue/queries` for the nearest ancestor that has it.
 * @throws Error when neither exists (a build that ships neither the `.sql` files nor `src/glue/queries`).
 */
export function queriesDir(): string {
  cachedDir ??= findQueriesDir();
  return cachedDir;
}

/**
 * Finds the `.sql` files starting from `here` (see {@link queriesDir}).
 * @param here - where to start. @default this module's directory
 */
export function findQueriesDir(here: string = import.meta.dirname): string {
  if (existsSync(join(here, FILE_PROBE))) return here;
  for (let dir = here; ; dir = dirname(dir)) {
    const candidate = join(dir, 'src', 'glue', 'queries');
    if (existsSync(join(candidate, FILE_PROBE))) return candidate;
    if (dirname(dir) === dir) break;
  }
  throw new Error(
    `glue queries: cannot find ${FILE_PROBE} beside ${here} nor in src/glue/queries of any parent directory`,
  );
}

/** Reads `<name>.sql` from {@link queriesDir}. */
export function readQuery(name: string): string {
  return readFileSync(join(queriesDir(), `${name}.sql`), 'utf8');
}

function sqlQuery(name: string, description: string): SqlQuery {
  let sql: string | undefined;
  return {
    name,
    description,
    get sql() {
      sql ??= readQuery(name);
      return sql;
    },
  };
}

function check(name: string, description: string, expectation: Expectation): QualityCheck {
  return Object.defineProperties(sqlQuery(name, description), {
    expectation: { value: expectation, enumerable: true },
  }) as QualityCheck;
}

/** The reference analytics over `fact_order_lines`, in report order. */
export const ANALYTICS: readonly SqlQuery[] = [
  sqlQuery(
    'monthly_sales_trend',
    'Orders, lines, units and revenue per month: year, month, orders, lines, units, revenue.',
  ),
  sqlQuery(
    'top_products_by_revenue',
    'The 10 products with the most revenue: product_id, product_title, category, orders, units, revenue.',
  ),
  sqlQuery(
    'revenue_by_category',
    'Revenue per category: category, products, orders, units, revenue, revenue_share_pct.',
  ),
  sqlQuery('repeat_customers', 'Users with more than one order: user_id, username, orders, revenue.'),
];

/** The data-quality checks; each returns one row with a numeric `value`. */
export const QUALITY_CHECKS: readonly QualityCheck[] = [
  check('dq_null_keys', 'Gold rows with a null cart_id, product_id or user_id.', { op: 'eq', value: 0 }),
  check('dq_duplicate_ids', 'Surplus rows per envelope id in silver_carts, silver_products, silver_users.', {
    op: 'eq',
    value: 0,
  }),
  check(
    'dq_silver_vs_gold_lines',
    'Product lines of the latest version of each silver cart minus gold fact_order_lines rows.',
    { op: 'eq', value: 0 },
  ),
  check(
    'dq_duplicate_keys',
    'Surplus rows per entity key (cart_id, product_id, user_id) in current silver.',
    {
      op: 'eq',
      value: 0,
    },
  ),
  check(
    'dq_stale_silver_rows',
    'Current silver rows (carts, products, users) with a newer version of their key in the silver_<entity>_history table.',
    { op: 'eq', value: 0 },
  ),
];

/** Whether `value` meets `expectation`. */
export function meets(value: number, expectation: Expectation): boolean {
  switch (expectation.op) {
    case 'eq':
      return value === expectation.value;
    case 'lte':
      return value <= expectation.value;
    case 'gte':
      return value >= expectation.value;
  }
}

/**
 * Runs every check (in order, one at a time) on `engine` and reports each one's value and pass/fail.
 * A check whose query fails, or that does not return exactly one row with a numeric `value`, fails
 * with `error` set; the other checks still run.
 * @param checks - the checks to run. @default QUALITY_CHECKS
 */
export async function runQualityChecks(
  engine: QueryEngine,
  checks: readonly QualityCheck[] = QUALITY_CHECKS,
): Promise<QualityCheckResult[]> {
  const results: QualityCheckResult[] = [];
  for (const c of checks) {
    const base = { name: c.name, description: c.description, expectation: c.expectation };
    try {
      const { columns, rows } = await engine.query(c.sql);
      const col = columns.indexOf('value');
      if (col < 0) throw new Error(`no column "value" (columns: ${columns.join(', ')})`);
      if (rows.length !== 1) throw new Error(`expected one row, got ${rows.length}`);
      const raw = rows[0]![col];
      const value = raw === null || raw === undefined || raw.trim() === '' ? Number.NaN : Number(raw);
      if (!Number.isFinite(value)) throw new Error(`value "${raw}" is not a number`);
      results.push({ ...base, value, passed: meets(value, c.expectation) });
    } catch (err) {
      results.push({ ...base, value: null, passed: false, error: describeError(err) });
    }
  }
  return results;
}
