import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { LocalSummary } from '../../src/local/index.js';
import { freePort } from '../../src/local/kinesis-local.js';
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
 * End to end through Kafka: `ingest local --config config/local-kafka.yaml` starts a real
 * single-node Apache Kafka broker (KRaft, the `make kafka` jars), produces every fixture record to
 * a topic with the Kafka sink, lands it in bronze with the Kafka bronze writer (a consumer group),
 * and carries it on to silver and gold with local Spark. Slow: Spark runs both jobs.
 */
describe('ingest local through Kafka', () => {
  beforeAll(() => requireBuiltCli());

  it('lands all 283 fixture records in bronze exactly once and carries them to gold', async () => {
    const dir = tempDir('e2e-local-kafka');
    const env = {
      INGEST_STATE_DIR: join(dir, 'state'),
      INGEST_LAKE_URI: `file://${join(dir, 'lake')}`,
      INGEST_RUN_PORT: '0',
      INGEST_CONSUME_PORT: '0',
      INGEST_KAFKA_BROKER: `127.0.0.1:${await freePort()}`,
    };
    const summaryFile = join(dir, 'summary.json');
    const run = spawnCli(
      ['local', '--config', 'config/local-kafka.yaml', '--fixture-port', '0', '--summary-json', summaryFile],
      env,
    );
    const { code } = await run.exited;
    expect(code, run.stderr()).toBe(0);
    expect(run.stdout()).toMatch(/TOTAL\s+5\s+0\s+283\s+0\s+283\s+0\s+283\s+283\s+0/);

    const objects = await readBronze(join(dir, 'lake'));
    const all = objects.flatMap((o) => o.lines);
    expect(all).toHaveLength(283);
    expect(new Set(all.map((e) => `${e.source}/${e.id}`)).size).toBe(283);
    const perSource: Record<string, number> = {};
    for (const e of all) perSource[e.source as string] = (perSource[e.source as string] ?? 0) + 1;
    expect(perSource).toEqual(FIXTURE_COUNTS);
    for (const o of objects) {
      // <topic>-<partition>-<first offset, 20 digits>.json.gz
      expect(o.key).toMatch(
        /^bronze\/source=[^/]+\/dt=\d{4}-\d{2}-\d{2}\/hour=\d{2}\/ingest-local-\d+-\d{20}\.json\.gz$/,
      );
    }

    const summary = JSON.parse(readFileSync(summaryFile, 'utf8')) as LocalSummary;
    expect(summary.complete).toBe(true);
    expect(summary.lake?.silverRows).toEqual(FIXTURE_SILVER_ROWS);
    expect(goldMonthlyRevenue(summary)).toEqual({ '2020-01': 3018.5, '2020-03': 1672.77 });
    expect(summary.lake!.quality.every((q) => q.passed)).toBe(true);
  }, 1_200_000);
});
