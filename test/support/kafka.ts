/** Helpers for tests against the real Kafka broker (src/local/kafka-local.ts). */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll } from 'vitest';
import { type KafkaLocal, startKafkaLocal } from '../../src/local/kafka-local.js';

/** A kafkajs client for the test broker, quiet. */
export function testKafka(bootstrap: string): Kafka {
  return new Kafka({ clientId: 'test', brokers: [bootstrap], logLevel: logLevel.NOTHING });
}

/** A unique topic name (kafkajs's own tests do the same). */
export function testTopic(prefix = 'test'): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** One message read back. */
export interface ReadMessage {
  partition: number;
  offset: string;
  key: string;
  value: string;
}

/**
 * Reads `topic` from the beginning with a fresh consumer group until `count` messages arrived (or
 * `timeoutMs` passed), then stops. Returns them in per-partition offset order.
 */
export async function readTopic(
  kafka: Kafka,
  topic: string,
  count: number,
  timeoutMs = 60_000,
): Promise<ReadMessage[]> {
  const consumer = kafka.consumer({ groupId: testTopic('reader'), maxWaitTimeInMs: 200 });
  const out: ReadMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let done: () => void = () => undefined;
    const finished = new Promise<void>((r) => {
      done = r;
    });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        out.push({
          partition,
          offset: message.offset,
          key: message.key?.toString('utf8') ?? '',
          value: message.value?.toString('utf8') ?? '',
        });
        if (out.length >= count) done();
      },
    });
    await Promise.race([finished, new Promise((r) => setTimeout(r, timeoutMs))]);
  } finally {
    await consumer.disconnect();
  }
  return out;
}

/**
 * A broker for one test file: started before its tests (in a temp folder), stopped and removed
 * after. `broker` may be replaced by a test (`k.broker = await k.broker.restart()`).
 */
export function useKafkaBroker(prefix: string): { root: string; broker: KafkaLocal } {
  const k = { root: mkdtempSync(join(tmpdir(), `${prefix}-`)), broker: undefined as unknown as KafkaLocal };
  beforeAll(async () => {
    k.broker = await startKafkaLocal({ dataDir: join(k.root, 'broker') });
  }, 180_000);
  afterAll(async () => {
    await k.broker?.stop();
    rmSync(k.root, { recursive: true, force: true });
  });
  return k;
}
