/**
 * The Kafka sink against a real single-node KRaft broker (src/local/kafka-local.ts): produce through
 * the sink, consume back with a plain kafkajs consumer and check every record, its key, its
 * partition and per-key order; then an outage (the broker SIGKILLed mid-stream and restarted):
 * nothing lost.
 */
import { describe, expect, it } from 'vitest';
import { readTopic, testKafka, testTopic, useKafkaBroker } from '../../../test/support/kafka.js';
import { ensureTopics } from '../../kafka/topics.js';
import { silentLogger } from '../../log.js';
import type { OutgoingRecord } from '../types.js';
import { createKafkaSink, KafkaTopicNotFoundError } from './index.js';
import { producerKafkaResetsTotal } from './telemetry.js';

const k = useKafkaBroker('kafka-sink');

function records(n: number, keys: number, from = 0): OutgoingRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    source: 'test.src',
    partitionKey: `test.src:${(from + i) % keys}`,
    data: Buffer.from(JSON.stringify({ id: String(from + i), key: (from + i) % keys })),
  }));
}

const deadLetters = () => {
  const letters: unknown[] = [];
  return { letters, put: async (l: unknown[]) => void letters.push(...l) };
};

describe('kafka sink against a real broker', () => {
  it('refuses a missing topic at start, with one clear error', async () => {
    const sink = createKafkaSink(
      { type: 'kafka', topic: testTopic('missing'), brokers: [k.broker.bootstrap] },
      { deadLetters: deadLetters(), logger: silentLogger },
    );
    await expect(sink.start()).rejects.toBeInstanceOf(KafkaTopicNotFoundError);
    await sink.close();
  });

  it.each(['gzip', 'none'] as const)(
    'delivers every record once, partitioned and ordered by key (%s)',
    async (compression) => {
      const kafka = testKafka(k.broker.bootstrap);
      const topic = testTopic('sink');
      await ensureTopics(kafka, [{ topic, partitions: 3 }]);
      const dl = deadLetters();
      const sink = createKafkaSink(
        {
          type: 'kafka',
          topic,
          brokers: [k.broker.bootstrap],
          compression,
          maxBatchRecords: 50,
          maxRecordBytes: 2_000,
        },
        { deadLetters: dl, logger: silentLogger },
      );
      await sink.start();
      const big: OutgoingRecord = { source: 'test.src', partitionKey: 'big', data: Buffer.alloc(5_000, 120) };
      const input = records(1_000, 37);
      const deliveries = await Promise.all([
        sink.write(input.slice(0, 500)),
        sink.write([big]),
        sink.write(input.slice(500)),
      ]);
      await sink.close();
      expect(deliveries[1]).toEqual([
        { status: 'dead_lettered', reason: expect.stringMatching(/over maxRecordBytes 2000/) },
      ]);
      expect([...deliveries[0], ...deliveries[2]].every((d) => d.status === 'delivered')).toBe(true);
      expect(dl.letters).toHaveLength(1);

      const got = await readTopic(kafka, topic, 1_000);
      expect(got).toHaveLength(1_000);
      expect(new Set(got.map((m) => JSON.parse(m.value).id)).size).toBe(1_000);
      const partitionOfKey = new Map<string, number>();
      const lastIdOfKey = new Map<string, number>();
      for (const m of got) {
        expect(partitionOfKey.get(m.key) ?? m.partition).toBe(m.partition);
        partitionOfKey.set(m.key, m.partition);
        const id = Number(JSON.parse(m.value).id);
        expect(id).toBeGreaterThan(lastIdOfKey.get(m.key) ?? -1);
        lastIdOfKey.set(m.key, id);
      }
      expect(new Set(partitionOfKey.values()).size).toBe(3);
    },
  );

  it('loses nothing when the broker is SIGKILLed mid-stream and restarted', async () => {
    const kafka = testKafka(k.broker.bootstrap);
    const topic = testTopic('outage');
    await ensureTopics(kafka, [{ topic, partitions: 2 }]);
    const sink = createKafkaSink(
      {
        type: 'kafka',
        name: 'outage',
        topic,
        brokers: [k.broker.bootstrap],
        maxBatchRecords: 20,
        clientRetries: 1,
        connectionTimeoutMs: 500,
        requestTimeoutMs: 2_000,
        retry: { baseDelayMs: 50, maxDelayMs: 500, throttledBaseDelayMs: 50 },
      },
      { deadLetters: deadLetters(), logger: silentLogger },
    );
    await sink.start();
    const first = await sink.write(records(200, 11));
    await k.broker.kill();
    const during = sink.write(records(300, 11, 200));
    await new Promise((r) => setTimeout(r, 2_000));
    k.broker = await k.broker.restart();
    const rest = await during;
    await sink.close();
    expect([...first, ...rest].every((d) => d.status === 'delivered')).toBe(true);
    const got = await readTopic(kafka, topic, 500);
    const ids = new Set(got.map((m) => JSON.parse(m.value).id as string));
    expect(ids.size).toBe(500);
    // The failed calls started new producer sessions (counted, never as drops).
    const resets = (await producerKafkaResetsTotal.get()).values.find((v) => v.labels.sink === 'outage');
    expect(resets?.value ?? 0).toBeGreaterThan(0);
  }, 240_000);
});
