import { beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/local/kinesis-local.js';
import { requireBuiltCli } from '../support/cli.js';
import { expectFixtureLake, expectFixturesLandedOnce, runLocalOnFixtures } from '../support/local-run.js';

/**
 * End to end through Kafka: `ingest local --config config/local-kafka.yaml` starts a real
 * single-node Apache Kafka broker (KRaft, the `make kafka` jars), produces every fixture record to
 * a topic with the Kafka sink, lands it in bronze with the Kafka bronze writer (a consumer group),
 * and carries it on to silver and gold with local Spark. Slow: Spark runs both jobs.
 */
describe('ingest local through Kafka', () => {
  beforeAll(() => requireBuiltCli());

  it('lands all 283 fixture records in bronze exactly once and carries them to gold', async () => {
    const { run, summary, objects } = await runLocalOnFixtures('e2e-local-kafka', 'config/local-kafka.yaml', {
      INGEST_KAFKA_BROKER: `127.0.0.1:${await freePort()}`,
    });
    expect(run.stdout()).toMatch(/TOTAL\s+5\s+0\s+283\s+0\s+283\s+0\s+283\s+283\s+0/);

    expectFixturesLandedOnce(objects);
    for (const o of objects) {
      // <topic>-<partition>-<first offset, 20 digits>.json.gz
      expect(o.key).toMatch(
        /^bronze\/source=[^/]+\/dt=\d{4}-\d{2}-\d{2}\/hour=\d{2}\/ingest-local-\d+-\d{20}\.json\.gz$/,
      );
    }

    expect(summary.complete).toBe(true);
    expectFixtureLake(summary, { '2020-01': 3018.5, '2020-03': 1672.77 });
  }, 1_200_000);
});
