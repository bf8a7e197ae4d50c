/**
 * The Kafka bronze writer against a real KRaft broker (src/local/kafka-local.ts): every produced
 * envelope lands in bronze once, malformed records are dead-lettered, offsets are committed only
 * after the objects are written; and a writer SIGKILLed midway is resumed by another with no
 * record lost and none duplicated (objects are named after their first offset, so a replay from
 * the committed offset overwrites what the killed writer wrote past it).
 */
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { testKafka, testTopic, useKafkaBroker } from '../../../test/support/kafka.js';
import { ensureTopics } from '../../kafka/topics.js';
import { countBronze } from '../../local/index.js';
import { silentLogger } from '../../log.js';
import { nodeWatchdogArgs } from '../../runtime/children.js';
import type { KafkaBronzeWriterConfig } from './kafka-config.js';
import { createKafkaBronzeWriter } from './kafka-writer.js';

const k = useKafkaBroker('kafka-bronze');

const envelope = (i: number) =>
  JSON.stringify({
    source: `test.s${i % 3}`,
    id: `id-${i}`,
    ingested_at: new Date(Date.UTC(2026, 0, 1, i % 2)).toISOString(),
    payload: { i, pad: 'x'.repeat(200) },
  });

async function produce(topic: string, from: number, n: number, extra: string[] = []): Promise<void> {
  const producer = testKafka(k.broker.bootstrap).producer();
  await producer.connect();
  const messages = Array.from({ length: n }, (_, k) => ({
    key: `k${(from + k) % 17}`,
    value: envelope(from + k),
  }));
  await producer.send({ topic, messages: [...messages, ...extra.map((value) => ({ key: 'bad', value }))] });
  await producer.disconnect();
}

async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 200));
  }
}

function config(
  topic: string,
  lake: string,
  extra: Partial<KafkaBronzeWriterConfig> = {},
): KafkaBronzeWriterConfig {
  return {
    name: 'bronze',
    type: 'bronze_kafka',
    topic,
    groupId: `${topic}-group`,
    brokers: [k.broker.bootstrap],
    lakeUri: `file://${lake}`,
    bufferIntervalSecs: 0.5,
    bufferMaxBytes: 1024 * 1024,
    ...extra,
  } as KafkaBronzeWriterConfig;
}

async function committed(topic: string, groupId: string): Promise<number> {
  const admin = testKafka(k.broker.bootstrap).admin();
  await admin.connect();
  try {
    const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return (t?.partitions ?? []).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
  } finally {
    await admin.disconnect();
  }
}

describe('kafka bronze writer against a real broker', () => {
  it('lands every envelope once, dead-letters the malformed, and commits after writing', async () => {
    const topic = testTopic('bronze');
    await ensureTopics(testKafka(k.broker.bootstrap), [{ topic, partitions: 3 }]);
    await produce(topic, 0, 600, ['not json']);
    const lake = join(k.root, 'lake-a');
    const letters: unknown[] = [];
    const writer = createKafkaBronzeWriter(config(topic, lake), {
      logger: silentLogger,
      deadLetters: { put: async (l: unknown[]) => void letters.push(...l) } as never,
    });
    await writer.start();
    await until(() => writer.stats().recordsLanded + writer.stats().recordsDeadLettered >= 601);
    await writer.stop();
    const counts = await countBronze(`file://${lake}`);
    const records = [...counts.values()].reduce((n, c) => n + c.records, 0);
    const ids = [...counts.values()].reduce((n, c) => n + c.ids.size, 0);
    expect({ records, ids, letters: letters.length }).toEqual({ records: 600, ids: 600, letters: 1 });
    expect(await committed(topic, `${topic}-group`)).toBe(601);
  });

  it('resumes after a writer is SIGKILLed midway: nothing lost, nothing duplicated', async () => {
    const topic = testTopic('bronze-kill');
    await ensureTopics(testKafka(k.broker.bootstrap), [{ topic, partitions: 2 }]);
    await produce(topic, 0, 2_000);
    const lake = join(k.root, 'lake-b');
    // Size-based buffers only (~5 objects per partition), so both writers cut them at the same offsets.
    const cfg = config(topic, lake, { bufferIntervalSecs: 600, bufferMaxBytes: 64 * 1024 });
    const child = spawn(
      process.execPath,
      [
        ...nodeWatchdogArgs(),
        '--experimental-transform-types',
        '--no-warnings',
        '--import',
        resolve('deploy/cdk/register.mjs'),
        resolve('test/support/kafka-bronze-child.ts'),
        JSON.stringify(cfg),
      ],
      { env: { ...process.env, SLOW_PUT_MS: '400' }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let gone = false;
    const exited = new Promise((r) => child.once('exit', r)).then(() => {
      gone = true;
    });
    await until(async () => {
      if (gone) throw new Error('the child writer exited before it was killed');
      const n = [...(await countBronze(`file://${lake}`)).values()].reduce((a, c) => a + c.records, 0);
      return n >= 300;
    }, 120_000);
    child.kill('SIGKILL');
    await exited;
    const before = [...(await countBronze(`file://${lake}`)).values()].reduce((a, c) => a + c.records, 0);
    expect(before).toBeLessThan(2_000);

    const writer = createKafkaBronzeWriter(cfg, {
      logger: silentLogger,
      deadLetters: { put: async () => undefined } as never,
    });
    await writer.start();
    await until(
      async () => (await committed(topic, `${topic}-group`)) + writer.stats().recordsBuffered >= 2_000,
      120_000,
    );
    await writer.stop();
    const counts = await countBronze(`file://${lake}`);
    const records = [...counts.values()].reduce((n, c) => n + c.records, 0);
    const ids = [...counts.values()].reduce((n, c) => n + c.ids.size, 0);
    if (records !== 2_000) {
      const all = new Set([...counts.values()].flatMap((c) => [...c.ids]));
      const missing = Array.from({ length: 2000 }, (_, i) => `id-${i}`).filter((id) => !all.has(id));
      const { readdirSync } = await import('node:fs');
      console.log(
        'DEBUG',
        JSON.stringify({
          missing: missing.slice(0, 50),
          n: missing.length,
          stats: writer.stats(),
          files: readdirSync(lake, { recursive: true }),
        }),
      );
    }
    expect({ records, ids }).toEqual({ records: 2_000, ids: 2_000 });
    expect(await committed(topic, `${topic}-group`)).toBe(2_000);
  }, 300_000);
});
