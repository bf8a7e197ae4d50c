/**
 * The SQL loader: where it finds the files (beside the module, or `src/glue/queries` above `dist/`),
 * that every `.sql` file is registered, and how runQualityChecks evaluates results. The SQL itself
 * runs on DuckDB in src/glue/duckdb/engine.test.ts and through Athena (moto) in
 * test/integration/glue-athena.test.ts.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { QueryFailedError } from '../errors.js';
import type { QueryEngine, QueryResult } from '../types.js';
import { ANALYTICS, findQueriesDir, meets, QUALITY_CHECKS, queriesDir, runQualityChecks } from './index.js';

const ROOT = resolve(import.meta.dirname, '../../..');

function engineAnswering(...answers: (QueryResult | Error)[]): QueryEngine {
  return {
    kind: 'duckdb',
    query: async () => {
      const next = answers.shift();
      if (!next) throw new Error('no more answers');
      if (next instanceof Error) throw next;
      return next;
    },
    close: async () => undefined,
  };
}

describe('glue queries loader', () => {
  it('finds the files beside the module, and from dist/ by walking up to src/glue/queries', async () => {
    expect(queriesDir()).toBe(join(ROOT, 'src/glue/queries'));
    expect(findQueriesDir(join(ROOT, 'dist/glue/queries'))).toBe(join(ROOT, 'src/glue/queries'));
    const copied = await mkdtemp(join(tmpdir(), 'queries-'));
    try {
      await writeFile(join(copied, 'monthly_sales_trend.sql'), 'SELECT 1');
      expect(findQueriesDir(copied)).toBe(copied);
    } finally {
      await rm(copied, { recursive: true, force: true });
    }
    expect(() => findQueriesDir('/')).toThrow(/cannot find monthly_sales_trend\.sql/);
  });

  it('registers every .sql file once and reads each as one statement', async () => {
    const files = (await readdir(queriesDir())).filter((f) => f.endsWith('.sql')).sort();
    const names = [...ANALYTICS, ...QUALITY_CHECKS].map((q) => `${q.name}.sql`).sort();
    expect(names).toEqual(files);
    for (const q of [...ANALYTICS, ...QUALITY_CHECKS]) {
      expect(q.sql).toMatch(/\bSELECT\b/);
      expect(q.sql.trim().endsWith(';')).toBe(false);
    }
    expect(QUALITY_CHECKS.map((c) => c.expectation)).toEqual([
      { op: 'eq', value: 0 },
      { op: 'eq', value: 0 },
      { op: 'eq', value: 0 },
      { op: 'eq', value: 0 },
      { op: 'eq', value: 0 },
    ]);
  });

  it('evaluates expectations', () => {
    expect(meets(0, { op: 'eq', value: 0 })).toBe(true);
    expect(meets(-1, { op: 'eq', value: 0 })).toBe(false);
    expect(meets(3, { op: 'lte', value: 3 })).toBe(true);
    expect(meets(4, { op: 'lte', value: 3 })).toBe(false);
    expect(meets(2, { op: 'gte', value: 3 })).toBe(false);
  });

  it('fails a check on a query error, a missing value column, a non-number, and keeps going', async () => {
    const results = await runQualityChecks(
      engineAnswering(
        new QueryFailedError('Table silver_users does not exist'),
        { columns: ['n'], rows: [['0']] },
        { columns: ['value'], rows: [[null]] },
        { columns: ['value'], rows: [['0']] },
        { columns: ['value'], rows: [['2']] },
      ),
    );
    expect(results.map((r) => [r.name, r.value, r.passed, r.error])).toEqual([
      ['dq_null_keys', null, false, 'QueryFailedError: Table silver_users does not exist'],
      ['dq_duplicate_ids', null, false, 'Error: no column "value" (columns: n)'],
      ['dq_silver_vs_gold_lines', null, false, 'Error: value "null" is not a number'],
      ['dq_duplicate_keys', 0, true, undefined],
      ['dq_stale_silver_rows', 2, false, undefined],
    ]);
  });
});
