import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { LocalSummary } from '../../src/local/index.js';
import {
  FIXTURE_COUNTS,
  FIXTURE_SILVER_ROWS,
  goldMonthlyRevenue,
  readBronze,
  requireBuiltCli,
  spawnCli,
  tempDir,
} from '../support/cli.js';

/**
 * End to end through Firehose: `ingest local --config config/local-firehose.yaml` on the real
 * fixtures, PutRecordBatch into moto's Firehose (DirectPut, delivering to moto's S3), mirrored into
 * the file lake's bronze layout, then the real PySpark jobs to silver and gold. No Kinesis emulator.
 * Runs Spark: slow.
 */
describe('ingest local through Firehose (config/local-firehose.yaml)', () => {
  beforeAll(() => requireBuiltCli());

  it('lands all 283 fixture records in bronze exactly once and carries them to silver and gold', async () => {
    const dir = tempDir('e2e-local-firehose');
    const env = {
      INGEST_STATE_DIR: join(dir, 'state'),
      INGEST_LAKE_URI: `file://${join(dir, 'lake')}`,
      INGEST_RUN_PORT: '0',
      INGEST_CONSUME_PORT: '0',
    };
    const summaryFile = join(dir, 'summary.json');
    const run = spawnCli(
      [
        'local',
        '--config',
        'config/local-firehose.yaml',
        '--fixture-port',
        '0',
        '--summary-json',
        summaryFile,
      ],
      env,
    );
    const { code } = await run.exited;
    expect(code, run.stderr()).toBe(0);
    // The same summary as config/local.yaml: 5 sources, 283 polled, put, in bronze, no duplicates.
    expect(run.stdout()).toMatch(/TOTAL\s+5\s+0\s+283\s+0\s+283\s+0\s+283\s+283\s+0/);
    expect(run.stdout()).toContain('complete: every accepted record landed and every hour is done');

    const objects = await readBronze(join(dir, 'lake'));
    const all = objects.flatMap((o) => o.lines);
    expect(all).toHaveLength(283);
    expect(new Set(all.map((e) => `${e.source}/${e.id}`)).size).toBe(283);
    const perSource: Record<string, number> = {};
    for (const e of all) perSource[e.source as string] = (perSource[e.source as string] ?? 0) + 1;
    expect(perSource).toEqual(FIXTURE_COUNTS);
    for (const o of objects) {
      // Firehose's layout: source from the record, date and hour of arrival (mirrored from moto).
      const m =
        /^bronze\/source=([^/]+)\/dt=\d{4}-\d{2}-\d{2}\/hour=\d{2}\/ingest-local-bronze-[^/]+\.json\.gz$/.exec(
          o.key,
        );
      expect(m, o.key).not.toBeNull();
      for (const e of o.lines) expect(e.source).toBe(m![1]);
    }

    const summary = JSON.parse(readFileSync(summaryFile, 'utf8')) as LocalSummary;
    expect(summary.lake?.cycle.failed).toEqual([]);
    expect(summary.lake?.silverRows).toEqual(FIXTURE_SILVER_ROWS);
    expect(goldMonthlyRevenue(summary)).toEqual({ '2020-01': 3018.5, '2020-03': 1672.77 });
    expect(summary.lake!.quality.every((q) => q.passed)).toBe(true);
  }, 1_200_000);
});
