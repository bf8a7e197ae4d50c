import { describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../log.js';
import type { OutgoingRecord } from '../types.js';
import { createKinesisSink } from './index.js';
import type { ShardRange } from './shards.js';
import {
  producerOpenShards,
  producerShardMapRefreshesTotal,
  producerShardThrottledEntriesTotal,
  producerShardWaitSecondsTotal,
} from './telemetry.js';
import { FakePutRecordsClient, metricValue, noDeadLetters } from './testing.js';

const enc = new TextEncoder();
const WHOLE: ShardRange = {
  shardId: 'shardId-000000000000',
  startingHashKey: '0',
  endingHashKey: ((1n << 128n) - 1n).toString(),
};

/** The in-memory client with a shard map (one shard covering the whole hash key space). */
class ShardedFake extends FakePutRecordsClient {
  listings = 0;
  async listShards(): Promise<ShardRange[]> {
    this.listings++;
    return [WHOLE];
  }
}

const records = (n: number, prefix: string): OutgoingRecord[] =>
  Array.from({ length: n }, (_, i) => ({
    source: 't',
    partitionKey: `${prefix}-${i}`,
    data: enc.encode(`{"i":${i}}`),
  }));

describe('shard-aware sending (in memory)', () => {
  it('throttled entries are counted per shard and retried, never dead-lettered', async () => {
    const client = new ShardedFake((input, call) =>
      input.Records.map((_, i) =>
        call === 0 && i % 2 === 0 ? { errorCode: 'ProvisionedThroughputExceededException' } : 'ok',
      ),
    );
    const sink = createKinesisSink(
      { type: 'kinesis', name: 'sa-throttle', streamName: 's', lingerMs: 0 },
      { deadLetters: noDeadLetters, logger: silentLogger, client, sleep: async () => {} },
    );
    await sink.start();
    expect(client.listings).toBe(1);
    expect(await metricValue(producerOpenShards, { sink: 'sa-throttle' })).toBe(1);
    const deliveries = await sink.write(records(10, 'k'));
    await sink.close();
    expect(deliveries.every((d) => d.status === 'delivered')).toBe(true);
    expect(client.accepted).toHaveLength(10);
    expect(
      await metricValue(producerShardThrottledEntriesTotal, { sink: 'sa-throttle', shard: WHOLE.shardId }),
    ).toBe(5);
  });

  it('a result on a shard outside the map refreshes it; a full shard bucket makes the call wait', async () => {
    const client = new ShardedFake();
    const waits: number[] = [];
    let now = 1_000;
    const sink = createKinesisSink(
      {
        type: 'kinesis',
        name: 'sa-pace',
        streamName: 's',
        lingerMs: 0,
        shardLimits: { enabled: true, recordsPerSecond: 10, bytesPerSecond: 1024 * 1024 },
      },
      {
        deadLetters: noDeadLetters,
        logger: silentLogger,
        client,
        now: () => now,
        sleep: async (ms) => {
          waits.push(ms);
          now += ms;
        },
      },
    );
    await sink.start();
    const deliveries = await sink.write(records(25, 'p'));
    await sink.close();
    expect(deliveries.every((d) => d.status === 'delivered')).toBe(true);
    // 25 records at 10/s with a burst of 10: 1.5 s of waiting at least.
    expect(waits.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(1_500);
    expect(await metricValue(producerShardWaitSecondsTotal, { sink: 'sa-pace' })).toBeGreaterThanOrEqual(1.5);
    // The fake answers on the map's shard: no reshard seen.
    expect(await metricValue(producerShardMapRefreshesTotal, { sink: 'sa-pace', reason: 'reshard' })).toBe(0);

    const moved = new ShardedFake();
    moved.listShards = async () => {
      moved.listings++;
      return [{ ...WHOLE, shardId: moved.listings === 1 ? 'shardId-000000000007' : WHOLE.shardId }];
    };
    const resharded = createKinesisSink(
      { type: 'kinesis', name: 'sa-reshard', streamName: 's', lingerMs: 0 },
      { deadLetters: noDeadLetters, logger: silentLogger, client: moved },
    );
    await resharded.start();
    await resharded.write(records(3, 'r'));
    await resharded.close();
    await vi.waitFor(async () => {
      expect(
        await metricValue(producerShardMapRefreshesTotal, { sink: 'sa-reshard', reason: 'reshard' }),
      ).toBe(1);
      expect(moved.listings).toBe(2);
    });
  });
});
