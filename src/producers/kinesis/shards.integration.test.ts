/**
 * Shard-aware sending against the real emulator (kinesis-mock via kinesis-local): the sink learns the
 * shard map, a reshard (UpdateShardCount 2 → 4) happens while it sends, and nothing is lost,
 * duplicated or reordered per key; the map is refreshed to the new open shards; a low per-shard
 * limit makes calls wait for their shard's token bucket.
 */
import {
  DescribeStreamSummaryCommand,
  type KinesisClient,
  UpdateShardCountCommand,
} from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { emulatorKinesisClient, type KinesisLocal, startKinesisLocal } from '../../local/kinesis-local.js';
import { silentLogger } from '../../log.js';
import type { OutgoingRecord } from '../types.js';
import { createKinesisSink, wrapKinesisClient } from './index.js';
import {
  producerOpenShards,
  producerShardMapRefreshesTotal,
  producerShardWaitSecondsTotal,
} from './telemetry.js';
import { metricValue, noDeadLetters, readStreamRecords } from './testing.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

let kinesis: KinesisLocal;
let reader: KinesisClient;

interface Read {
  key: string;
  n: number;
  shardId: string;
  parent?: string;
}

async function readAll(stream: string): Promise<Read[]> {
  return (await readStreamRecords(reader, stream)).map((r) => ({
    ...(JSON.parse(dec.decode(r.data)) as { key: string; n: number }),
    shardId: r.shardId,
    ...(r.parentShardId ? { parent: r.parentShardId } : {}),
  }));
}

function wave(keys: string[], from: number, count: number): OutgoingRecord[] {
  const out: OutgoingRecord[] = [];
  for (let n = from; n < from + count; n++)
    for (const key of keys)
      out.push({ source: 'it', partitionKey: key, data: enc.encode(JSON.stringify({ key, n })) });
  return out;
}

async function waitActive(stream: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const s = await reader.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
    if (s.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`stream ${stream} did not become ACTIVE`);
}

beforeAll(async () => {
  kinesis = await startKinesisLocal({
    streams: [
      { name: 'it-reshard', shards: 2 },
      { name: 'it-paced', shards: 1 },
    ],
  });
  reader = emulatorKinesisClient(kinesis.endpoint);
}, 120_000);

afterAll(async () => {
  reader?.destroy();
  if (kinesis) await kinesis.stop();
});

describe('shard-aware sending against kinesis-mock', () => {
  it('a reshard while sending loses, duplicates and reorders nothing, and the map follows it', async () => {
    const client = wrapKinesisClient(emulatorKinesisClient(kinesis.endpoint), {
      endpoint: kinesis.endpoint,
      ownsClient: true,
    });
    const sink = createKinesisSink(
      { type: 'kinesis', name: 'it-reshard', streamName: 'it-reshard', lingerMs: 5, maxBatchRecords: 20 },
      { deadLetters: noDeadLetters, logger: silentLogger, client },
    );
    await sink.start();
    expect(await metricValue(producerOpenShards, { sink: 'it-reshard' })).toBe(2);
    const keys = Array.from({ length: 10 }, (_, i) => `rk-${i}`);
    const written: OutgoingRecord[] = [];
    const writes: Promise<unknown>[] = [];
    const send = (w: OutgoingRecord[]) => {
      written.push(...w);
      writes.push(sink.write(w));
    };
    send(wave(keys, 0, 5));
    send(wave(keys, 5, 5));
    // Reshard while those are in flight, and keep writing through it.
    const reshard = reader.send(
      new UpdateShardCountCommand({
        StreamName: 'it-reshard',
        TargetShardCount: 4,
        ScalingType: 'UNIFORM_SCALING',
      }),
    );
    send(wave(keys, 10, 5));
    await reshard;
    send(wave(keys, 15, 5));
    await waitActive('it-reshard');
    for (let from = 20; from < 40; from += 5) {
      send(wave(keys, from, 5));
      await writes.at(-1);
    }
    const deliveries = (await Promise.all(writes)).flat() as { status: string; shardId?: string }[];
    await sink.close();
    expect(deliveries.every((d) => d.status === 'delivered')).toBe(true);

    const read = await readAll('it-reshard');
    const ids = read.map((r) => `${r.key}/${r.n}`);
    expect(ids).toHaveLength(written.length);
    expect(new Set(ids).size).toBe(written.length);
    // Per key: ascending within each shard, and everything in a parent before anything in its children.
    const shardsOf = new Map<string, Read>();
    for (const r of read) shardsOf.set(r.shardId, r);
    for (const key of keys) {
      const mine = read.filter((r) => r.key === key);
      const byShard = new Map<string, number[]>();
      for (const r of mine) byShard.set(r.shardId, [...(byShard.get(r.shardId) ?? []), r.n]);
      for (const ns of byShard.values()) expect(ns).toEqual([...ns].sort((a, b) => a - b));
      for (const r of mine) {
        if (r.parent === undefined) continue;
        const before = byShard.get(r.parent) ?? [];
        expect(before.every((n) => n < r.n)).toBe(true);
      }
    }
    // Records landed on the new shards, and the sink's map followed the reshard.
    expect(new Set(deliveries.map((d) => d.shardId)).size).toBeGreaterThan(2);
    // The refresh runs in the background after the result that named a new shard.
    await vi.waitFor(async () => {
      expect(
        await metricValue(producerShardMapRefreshesTotal, { sink: 'it-reshard', reason: 'reshard' }),
      ).toBeGreaterThan(0);
      expect(await metricValue(producerOpenShards, { sink: 'it-reshard' })).toBe(4);
    }, 30_000);
  }, 120_000);

  it('a low per-shard limit makes calls wait for the shard, and delivers everything once', async () => {
    const client = wrapKinesisClient(emulatorKinesisClient(kinesis.endpoint), {
      endpoint: kinesis.endpoint,
      ownsClient: true,
    });
    // Real time plus the time slept: the waits take no wall time, and the test's own duration
    // (seconds) cannot refill what 1 record/s for 60 records needs (about a minute).
    let slept = 0;
    const sink = createKinesisSink(
      {
        type: 'kinesis',
        name: 'it-paced',
        streamName: 'it-paced',
        lingerMs: 5,
        shardLimits: { enabled: true, recordsPerSecond: 1, bytesPerSecond: 1024 * 1024 },
      },
      {
        deadLetters: noDeadLetters,
        logger: silentLogger,
        client,
        now: () => Date.now() + slept,
        sleep: async (ms) => {
          slept += ms;
        },
      },
    );
    await sink.start();
    const written = wave(['p-a', 'p-b', 'p-c', 'p-d'], 0, 15);
    const deliveries = await sink.write(written);
    await sink.close();
    expect(deliveries.every((d) => d.status === 'delivered')).toBe(true);
    expect(await metricValue(producerShardWaitSecondsTotal, { sink: 'it-paced' })).toBeGreaterThan(0);
    const read = await readAll('it-paced');
    expect(new Set(read.map((r) => `${r.key}/${r.n}`)).size).toBe(written.length);
    expect(read).toHaveLength(written.length);
  }, 120_000);
});
