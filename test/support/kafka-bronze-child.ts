/**
 * A Kafka bronze writer in a process of its own, for the test that SIGKILLs it midway. Reads its
 * config as JSON from argv[2]; each lake write is slowed by SLOW_PUT_MS so the kill lands between
 * objects. Prints "started" once reading.
 */
import { createKafkaBronzeWriter } from '../../src/consumers/bronze/kafka-writer.js';
import { openLake } from '../../src/lake/index.js';
import { silentLogger } from '../../src/log.js';

const config = JSON.parse(process.argv[2]!);
const lake = openLake(config.lakeUri);
const slowMs = Number(process.env.SLOW_PUT_MS ?? 0);
const slowLake = Object.assign(Object.create(lake), {
  put: async (key: string, body: Uint8Array, type?: string) => {
    await new Promise((r) => setTimeout(r, slowMs));
    return lake.put(key, body, type);
  },
});
const writer = createKafkaBronzeWriter(config, {
  lake: slowLake,
  logger: silentLogger,
  deadLetters: { put: async () => undefined } as never,
});
await writer.start();
process.stdout.write('started\n');
