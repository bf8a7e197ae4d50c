import { beforeAll, describe, expect, it } from 'vitest';
import { requireBuiltCli } from '../support/cli.js';
import { expectFixtureLake, expectFixturesLandedOnce, runLocalOnFixtures } from '../support/local-run.js';

/**
 * End to end through Firehose: `ingest local --config config/local-firehose.yaml` on the real
 * fixtures, PutRecordBatch into moto's Firehose (DirectPut, delivering to moto's S3), mirrored into
 * the file lake's bronze layout, then the real PySpark jobs to silver and gold. No Kinesis emulator.
 * Runs Spark: slow.
 */
describe('ingest local through Firehose (config/local-firehose.yaml)', () => {
  beforeAll(() => requireBuiltCli());

  it('lands all 283 fixture records in bronze exactly once and carries them to silver and gold', async () => {
    const { run, summary, objects } = await runLocalOnFixtures(
      'e2e-local-firehose',
      'config/local-firehose.yaml',
    );
    // The same summary as config/local.yaml: 5 sources, 283 polled, put, in bronze, no duplicates.
    expect(run.stdout()).toMatch(/TOTAL\s+5\s+0\s+283\s+0\s+283\s+0\s+283\s+283\s+0/);
    expect(run.stdout()).toContain('complete: every accepted record landed and every hour is done');

    expectFixturesLandedOnce(objects);
    for (const o of objects) {
      // Firehose's layout: source from the record, date and hour of arrival (mirrored from moto).
      const m =
        /^bronze\/source=([^/]+)\/dt=\d{4}-\d{2}-\d{2}\/hour=\d{2}\/ingest-local-bronze-[^/]+\.json\.gz$/.exec(
          o.key,
        );
      expect(m, o.key).not.toBeNull();
      for (const e of o.lines) expect(e.source).toBe(m![1]);
    }

    expect(summary.lake?.cycle.failed).toEqual([]);
    expectFixtureLake(summary, { '2020-01': 3018.5, '2020-03': 1672.77 });
  }, 1_200_000);
});
