import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readBronze, requireBuiltCli, spawnCli } from '../support/cli.js';
import { expectFixtureLake, expectFixturesLandedOnce, runLocalOnFixtures } from '../support/local-run.js';

/**
 * End to end: `ingest local` on the real fixtures, through the real Kinesis emulator, into a file
 * lake. Bronze must hold every fixture record exactly once, as valid gzip, in the right partitions.
 */
/** Revenue per month computed from the fixture JSON alone, in integer cents to avoid float drift. */
function expectedMonthlyRevenue(): Record<string, number> {
  const products = JSON.parse(readFileSync('fixtures/fakestore/products_raw.json', 'utf8')) as {
    id: number;
    price: number;
  }[];
  const carts = JSON.parse(readFileSync('fixtures/fakestore/carts_raw.json', 'utf8')) as {
    date: string;
    products: { productId: number; quantity: number }[];
  }[];
  const price = new Map(products.map((p) => [p.id, Math.round(p.price * 100)]));
  const cents: Record<string, number> = {};
  for (const cart of carts) {
    const month = cart.date.slice(0, 7);
    for (const line of cart.products)
      cents[month] = (cents[month] ?? 0) + price.get(line.productId)! * line.quantity;
  }
  return Object.fromEntries(Object.entries(cents).map(([m, c]) => [m, c / 100]));
}

describe('ingest local on the fixtures', () => {
  beforeAll(() => requireBuiltCli());

  it('lands all 283 fixture records in bronze exactly once, carries them to gold, then a second run puts nothing new', async () => {
    const { dir, env, run, summary, objects } = await runLocalOnFixtures('e2e-local');
    expect(run.stdout()).toMatch(/TOTAL\s+5\s+0\s+283\s+0\s+283\s+0\s+283/);
    const all = expectFixturesLandedOnce(objects);

    for (const o of objects) {
      const m =
        /^bronze\/source=([^/]+)\/dt=(\d{4}-\d{2}-\d{2})\/hour=(\d{2})\/ingest-local-shardId-\d{12}-\d+\.json\.gz$/.exec(
          o.key,
        );
      expect(m, o.key).not.toBeNull();
      for (const e of o.lines) {
        expect(e.source).toBe(m![1]);
        const at = e.ingested_at as string;
        expect(at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
        expect(at.slice(0, 10)).toBe(m![2]);
        expect(at.slice(11, 13)).toBe(m![3]);
        expect(e.payload).toBeTypeOf('object');
      }
    }
    // The envelope carries the payload unchanged and a deterministic id.
    const issue = all.find((e) => e.source === 'github.issues')!;
    const payload = issue.payload as { id: number; updated_at: string };
    expect(issue.id).toBe(`${payload.id}@${payload.updated_at}`);
    expect(issue.event_time).toBe(new Date(payload.updated_at).toISOString());

    // Silver and gold: the hourly scheduler ran the PySpark jobs on the landed hour. Gold's monthly
    // revenue equals an independent computation from the fixture JSON (price × quantity per line,
    // rounded to cents, summed per month of the cart date).
    expect(summary.lake?.cycle.failed).toEqual([]);
    expect(summary.lake?.cycle.done).toHaveLength(1);
    expectFixtureLake(summary, expectedMonthlyRevenue());
    expect(run.stdout()).toContain('gold: monthly_sales_trend');

    // Second run on the same state: every record is unchanged, nothing is put, bronze is unchanged.
    const again = spawnCli(['local', '--fixture-port', '0'], env);
    const second = await again.exited;
    expect(second.code, again.stderr()).toBe(0);
    expect(again.stdout()).toMatch(/TOTAL\s+5\s+0\s+283\s+283\s+0\s+0\s+283/);
    const after = (await readBronze(join(dir, 'lake'))).flatMap((o) => o.lines);
    expect(after).toHaveLength(283);

    // `ingest query` on the same lake (issue 11): silver is the current state, one row per key, and a
    // named query gives the same gold figures.
    const query = spawnCli(
      [
        'query',
        '--config',
        'config/local.yaml',
        '--format',
        'json',
        'SELECT count(*) AS n, count(DISTINCT event_id) AS keys FROM silver_earthquakes',
      ],
      env,
    );
    expect((await query.exited).code, query.stderr()).toBe(0);
    expect(JSON.parse(query.stdout())).toEqual([{ n: '233', keys: '233' }]);
    const named = spawnCli(['query', '--config', 'config/local.yaml', '--named', 'monthly_sales_trend'], env);
    expect((await named.exited).code, named.stderr()).toBe(0);
    expect(named.stdout()).toMatch(/2020\s+1\s+2\s+4\s+20\s+3018\.50/);
    expect(named.stdout()).toMatch(/2020\s+3\s+5\s+10\s+22\s+1672\.77/);
  }, 600_000);
});
