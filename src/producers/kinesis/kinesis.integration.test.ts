/**
 * Against the real Kinesis emulator (kinesis-mock via kinesis-local): small on purpose, the emulator
 * accepts a few hundred records per second.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { emulatorKinesisClient, type KinesisLocal, startKinesisLocal } from '../../local/kinesis-local.js';
import { silentLogger } from '../../log.js';
import { readiness } from '../../telemetry/index.js';
import type { Delivery, OutgoingRecord } from '../types.js';
import { createKinesisClient, createKinesisSink, StreamNotFoundError, wrapKinesisClient } from './index.js';
import { producerBufferBytes, producerBufferRecords, producerRecordsTotal } from './telemetry.js';
import { noDeadLetters, readStreamRecords } from './testing.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

let kinesis: KinesisLocal;
let reader: KinesisClient;

interface Read {
  key: string;
  n: number;
  shardId: string;
  sequenceNumber: string;
}

/** Reads every shard of a stream from TRIM_HORIZON to the tip. */
async function readStream(stream: string): Promise<Read[]> {
  return (await readStreamRecords(reader, stream)).map((r) => {
    const body = JSON.parse(dec.decode(r.data)) as { key: string; n: number };
    return { ...body, shardId: r.shardId, sequenceNumber: r.sequenceNumber };
  });
}

function records(keys: string[], perKey: number, from = 0): OutgoingRecord[] {
  const out: OutgoingRecord[] = [];
  for (let n = from; n < from + perKey; n++) {
    for (const key of keys)
      out.push({ source: 'it', partitionKey: key, data: enc.encode(JSON.stringify({ key, n })) });
  }
  return out;
}

/** Asserts each (key, n) arrived exactly once and each key's records are in n order on their shard. */
function assertExactlyOnceInOrder(read: Read[], written: OutgoingRecord[], deliveries: Delivery[]): void {
  const ids = read.map((r) => `${r.key}/${r.n}`);
  expect(new Set(ids).size).toBe(ids.length);
  expect([...ids].sort()).toEqual(
    written
      .map((w) => dec.decode(w.data))
      .map((d) => {
        const { key, n } = JSON.parse(d) as { key: string; n: number };
        return `${key}/${n}`;
      })
      .sort(),
  );
  const byKey = new Map<string, Read[]>();
  for (const r of read) byKey.set(r.key, [...(byKey.get(r.key) ?? []), r]);
  for (const [, rs] of byKey) {
    expect(new Set(rs.map((r) => r.shardId)).size).toBe(1);
    expect(rs.map((r) => r.n)).toEqual([...rs.map((r) => r.n)].sort((a, b) => a - b));
  }
  // Every delivery names where its record landed.
  const where = new Map(read.map((r) => [`${r.key}/${r.n}`, r]));
  written.forEach((w, i) => {
    const { key, n } = JSON.parse(dec.decode(w.data)) as { key: string; n: number };
    const landed = where.get(`${key}/${n}`)!;
    expect(deliveries[i]).toEqual({
      status: 'delivered',
      shardId: landed.shardId,
      sequenceNumber: landed.sequenceNumber,
    });
  });
}

beforeAll(async () => {
  kinesis = await startKinesisLocal({
    streams: [
      { name: 'it-ordered', shards: 2 },
      { name: 'it-stall', shards: 1 },
      { name: 'it-outage', shards: 1 },
    ],
  });
  reader = emulatorKinesisClient(kinesis.endpoint);
});

afterAll(async () => {
  vi.unstubAllEnvs();
  reader?.destroy();
  if (kinesis) {
    kinesis.resume();
    await kinesis.stop();
  }
});

describe('kinesis sink against kinesis-mock', () => {
  it('start() fails clearly for a missing stream and ready() answers', async () => {
    const client = wrapKinesisClient(emulatorKinesisClient(kinesis.endpoint), {
      endpoint: kinesis.endpoint,
      ownsClient: true,
    });
    const missing = createKinesisSink(
      { type: 'kinesis', name: 'it-missing', streamName: 'no-such-stream' },
      { deadLetters: noDeadLetters, logger: silentLogger, client },
    );
    const err = await missing.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamNotFoundError);
    expect((err as Error).message).toContain('no-such-stream');
    expect((err as Error).message).toContain(kinesis.endpoint);
    expect(await missing.ready()).toBe(false);
    await missing.close();
  });

  it('delivers ~100 records across keys to a 2-shard stream exactly once, in order per key', async () => {
    // The default client, configured the SDK way: endpoint from AWS_ENDPOINT_URL_KINESIS (http: → HTTP/1.1).
    vi.stubEnv('AWS_ENDPOINT_URL_KINESIS', kinesis.endpoint);
    vi.stubEnv('AWS_REGION', 'us-east-1');
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
    const sink = createKinesisSink(
      { type: 'kinesis', name: 'it-ordered', streamName: 'it-ordered', lingerMs: 5, maxBatchRecords: 25 },
      { deadLetters: noDeadLetters, logger: silentLogger },
    );
    await sink.start();
    expect(await sink.ready()).toBe(true);
    const keys = Array.from({ length: 12 }, (_, i) => `key-${i}`);
    const first = records(keys, 4, 0);
    const second = records(keys, 4, 4);
    const [d1, d2] = await Promise.all([sink.write(first), sink.write(second)]);
    await sink.close();
    const read = await readStream('it-ordered');
    expect(read).toHaveLength(96);
    assertExactlyOnceInOrder(read, [...first, ...second], [...d1, ...d2]);
    expect(new Set(read.map((r) => r.shardId)).size).toBe(2);
  });

  it('blocks writers while Kinesis stalls, stays within the buffer cap, then delivers everything once', async () => {
    const client = createKinesisClient({
      endpoint: kinesis.endpoint,
      region: 'us-east-1',
      requestTimeoutMs: 60_000,
    });
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
    const bufferMaxRecords = 6;
    const sink = createKinesisSink(
      {
        type: 'kinesis',
        name: 'it-stall',
        streamName: 'it-stall',
        lingerMs: 5,
        bufferMaxRecords,
        bufferMaxBytes: 4096,
      },
      { deadLetters: noDeadLetters, logger: silentLogger, client },
    );
    await sink.start();
    kinesis.pause();
    const keys = ['s-a', 's-b', 's-c'];
    const writes = Array.from({ length: 5 }, (_, i) => records(keys, 2, i * 2));
    const settled = writes.map(() => false);
    const pending = writes.map((w, i) =>
      sink.write(w).then((d) => {
        settled[i] = true;
        return d;
      }),
    );
    const gauge = async (m: typeof producerBufferRecords) =>
      (await m.get()).values.find((v) => v.labels.sink === 'it-stall')?.value ?? 0;
    for (let i = 0; i < 15; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const s = sink.stats();
      expect(s.bufferedRecords).toBeLessThanOrEqual(bufferMaxRecords);
      expect(s.bufferedBytes).toBeLessThanOrEqual(4096);
      expect(await gauge(producerBufferRecords)).toBeLessThanOrEqual(bufferMaxRecords);
      expect(await gauge(producerBufferBytes)).toBeLessThanOrEqual(4096);
    }
    expect(settled.every((s) => !s)).toBe(true);
    expect(sink.stats().bufferedRecords).toBe(bufferMaxRecords);
    expect(sink.stats().waitingRecords).toBeGreaterThan(0);
    kinesis.resume();
    const deliveries = await Promise.all(pending);
    await sink.close();
    const read = await readStream('it-stall');
    expect(read).toHaveLength(30);
    assertExactlyOnceInOrder(read, writes.flat(), deliveries.flat());
  });

  it('an outage many request timeouts long dead-letters nothing: held, not ready, then delivered once', async () => {
    const client = createKinesisClient({
      endpoint: kinesis.endpoint,
      region: 'us-east-1',
      requestTimeoutMs: 400,
    });
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
    const sink = createKinesisSink(
      {
        type: 'kinesis',
        name: 'it-outage',
        streamName: 'it-outage',
        lingerMs: 5,
        requestTimeoutMs: 400,
        retry: { baseDelayMs: 50, maxDelayMs: 500, throttledBaseDelayMs: 50 },
      },
      { deadLetters: noDeadLetters, logger: silentLogger, client },
    );
    await sink.start();
    kinesis.pause();
    const written = records(['o-a', 'o-b', 'o-c', 'o-d'], 3);
    const pending = sink.write(written);
    // 8 s of timeouts: the old retry.maxAttempts (10) would have dead-lettered every record by now.
    await new Promise((r) => setTimeout(r, 8_000));
    const condition = readiness.list().find((c) => c.key === 'sink:it-outage');
    expect(condition?.reason).toMatch(/failing for \d+ s; records are held and retried/);
    expect(sink.stats().bufferedRecords).toBe(written.length);
    kinesis.resume();
    const deliveries = await pending;
    await sink.close();
    expect(readiness.list().find((c) => c.key === 'sink:it-outage')).toBeUndefined();
    const dead = (await producerRecordsTotal.get()).values.find(
      (v) => v.labels.sink === 'it-outage' && v.labels.outcome === 'dead_lettered',
    );
    expect(dead?.value ?? 0).toBe(0);
    const read = await readStream('it-outage');
    // At least once: a timed-out call may have been applied before the pause took hold.
    expect(new Set(read.map((r) => `${r.key}/${r.n}`)).size).toBe(written.length);
    expect(deliveries.every((d) => d.status === 'delivered')).toBe(true);
  }, 60_000);
});
