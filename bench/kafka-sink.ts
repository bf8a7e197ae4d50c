/**
 * Kafka sink benchmark: N realistic envelopes (~1 KB JSON, 1,000 entity keys) through the Kafka sink
 * (`src/producers/kafka`: idempotent, acks -1, one request in flight) into a real single-node
 * Apache Kafka broker (src/local/kafka-local.ts, its own JVM), once per compression. Checks the
 * topic holds exactly N records (end offsets), then prints records/s (first write to last
 * acknowledgement) and this process's CPU-s (user + system, `process.cpuUsage`) per million records:
 * the client's cost, the broker's JVM not included.
 *
 * Run: `make bench-kafka` or
 *   node --experimental-transform-types --no-warnings --import ./deploy/cdk/register.mjs bench/kafka-sink.ts [--records 200000] [--cases gzip,none]
 * The CPU is shared by other work: CPU-s figures compare between cases, records/s less so.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { ensureTopics } from '../src/kafka/topics.js';
import { startKafkaLocal } from '../src/local/kafka-local.js';
import { silentLogger } from '../src/log.js';
import { createKafkaSink } from '../src/producers/kafka/index.js';
import type { OutgoingRecord } from '../src/producers/types.js';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '200000' },
    cases: { type: 'string', default: 'gzip,none' },
  },
});
const N = Number(values.records);
const cases = values.cases!.split(',') as ('gzip' | 'none')[];

function record(i: number): OutgoingRecord {
  const key = i % 1_000;
  const payload = {
    id: key,
    title: `Product ${key} with a reasonably long descriptive title`,
    price: (key % 500) + 0.99,
    description: 'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(10),
    category: ['electronics', 'jewelery', "men's clothing"][key % 3],
    rating: { rate: (key % 50) / 10, count: key * 7 },
    updated_at: new Date(1_700_000_000_000 + i * 1000).toISOString(),
  };
  const envelope = {
    source: 'bench.products',
    id: `${key}@${payload.updated_at}`,
    ingested_at: new Date().toISOString(),
    payload,
  };
  return {
    source: 'bench.products',
    partitionKey: `bench.products:${key}`,
    data: Buffer.from(JSON.stringify(envelope)),
  };
}

const dir = mkdtempSync(join(tmpdir(), 'bench-kafka-'));
const broker = await startKafkaLocal({ dataDir: join(dir, 'broker') });
const kafka = new Kafka({ clientId: 'bench', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
const rows: string[] = [];
try {
  const bytes = record(0).data.byteLength;
  for (const compression of cases) {
    const topic = `bench-${compression}-${Date.now()}`;
    await ensureTopics(kafka, [{ topic, partitions: 8 }]);
    const sink = createKafkaSink(
      { type: 'kafka', name: `bench-${compression}`, topic, brokers: [broker.bootstrap], compression },
      { deadLetters: { put: async () => undefined }, logger: silentLogger },
    );
    await sink.start();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < N; i += 1_000) {
      writes.push(sink.write(Array.from({ length: Math.min(1_000, N - i) }, (_, k) => record(i + k))));
      if (writes.length >= 8) await writes.shift();
    }
    await Promise.all(writes);
    await sink.flush();
    const secs = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    await sink.close();
    const admin = kafka.admin();
    await admin.connect();
    const offsets = await admin.fetchTopicOffsets(topic);
    await admin.disconnect();
    const stored = offsets.reduce((n, o) => n + Number(o.high), 0);
    if (stored !== N) throw new Error(`${compression}: topic holds ${stored} records, expected ${N}`);
    const cpuPerMillion = ((cpu.user + cpu.system) / 1e6) * (1e6 / N);
    rows.push(
      `${compression.padEnd(5)}  ${String(N).padStart(8)}  ${String(bytes).padStart(6)}  ${Math.round(
        N / secs,
      )
        .toString()
        .padStart(10)}  ${cpuPerMillion.toFixed(1).padStart(16)}  ${stored === N ? 'ok' : 'MISMATCH'}`,
    );
  }
} finally {
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
}
console.log('compr   records  bytes/rec   records/s  client CPU-s/1M  check');
for (const r of rows) console.log(r);
