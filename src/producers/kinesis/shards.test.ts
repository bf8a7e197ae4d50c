import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { partitionKeyHash } from './kpl.js';
import { AWS_SHARD_LIMITS, ShardLimiter } from './shard-limiter.js';
import { hashPrefix, partitionKeyPrefix, ShardMap, type ShardRange } from './shards.js';

const SPACE = 1n << 128n;

/** `n` shards splitting the hash key space evenly (as CreateStream does). */
function evenShards(n: number): ShardRange[] {
  return Array.from({ length: n }, (_, i) => ({
    shardId: `shardId-${String(i).padStart(12, '0')}`,
    startingHashKey: ((SPACE * BigInt(i)) / BigInt(n)).toString(),
    endingHashKey: ((SPACE * BigInt(i + 1)) / BigInt(n) - 1n).toString(),
  }));
}

describe('ShardMap', () => {
  it('maps a partition key to the shard whose range holds its MD5 hash (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.string({ minLength: 1, maxLength: 256 }), (n, key) => {
        const shards = evenShards(n);
        const map = new ShardMap([...shards].reverse());
        const hash = partitionKeyHash(key);
        expect(partitionKeyPrefix(key)).toBe(hashPrefix(hash));
        const exact = shards.find(
          (s) => BigInt(s.startingHashKey) <= hash && hash <= BigInt(s.endingHashKey),
        )!;
        // Exact unless the boundary falls inside the key's 2^80-wide prefix slice (never for even splits).
        expect(map.shardIdOf(partitionKeyPrefix(key))).toBe(exact.shardId);
      }),
    );
  });

  it('knows its open shards and refuses an empty map', () => {
    const map = new ShardMap(evenShards(4));
    expect(map.size).toBe(4);
    expect(map.has('shardId-000000000003')).toBe(true);
    expect(map.has('shardId-000000000004')).toBe(false);
    expect(() => new ShardMap([])).toThrow(/at least one/);
  });
});

describe('ShardLimiter', () => {
  it('never lets a shard take more than one second of burst plus the rate over any span (property)', () => {
    const limits = { bytesPerSecond: 10_000, recordsPerSecond: 100 };
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 1, max: 20 }), fc.nat(2_000)), {
          maxLength: 200,
        }),
        (steps) => {
          const limiter = new ShardLimiter(limits);
          // The caller sends at `now + wait`: the send time only moves forward.
          let now = 0;
          let sentRecords = 0;
          let sentBytes = 0;
          for (const [gap, records, bytes] of steps) {
            now += gap;
            const wait = limiter.take('s', records, bytes, now);
            now += wait;
            sentRecords += records;
            sentBytes += bytes;
            // Everything sent by `now` fits one second of burst plus `now` seconds of rate (+ one call).
            expect(sentRecords).toBeLessThanOrEqual(100 + (now / 1000) * 100 + records);
            expect(sentBytes).toBeLessThanOrEqual(10_000 + (now / 1000) * 10_000 + bytes);
          }
        },
      ),
    );
  });

  it('waits exactly the debt: 1,500 records at 1,000/s owe half a second', () => {
    const limiter = new ShardLimiter(AWS_SHARD_LIMITS);
    expect(limiter.take('a', 1_000, 1_000, 0)).toBe(0);
    expect(limiter.take('a', 500, 500, 0)).toBe(500);
    expect(limiter.available('b', 0).records).toBe(1_000); // other shards are independent
    expect(limiter.available('a', 1_000).records).toBe(500);
    limiter.retain(new Set(['b']));
    expect(limiter.available('a', 1_000).records).toBe(1_000); // forgotten: a fresh bucket
  });
});
