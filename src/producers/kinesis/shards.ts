/**
 * The stream's shard map: the hash key ranges of its open shards (from ListShards), so the sink can
 * tell which shard a record or an aggregate will land on and keep each shard under its limits
 * (`shard-limiter.ts`). Kinesis maps a record to the open shard whose
 * `[StartingHashKey, EndingHashKey]` holds its hash key: the explicit hash key when given, else the
 * MD5 of the partition key as a 128-bit big-endian integer (Kinesis Data Streams developer guide,
 * "Resharding a stream" / PutRecords API reference, `ExplicitHashKey`).
 *
 * Lookups use the hash's top 48 bits (a JavaScript number, exact), computed once per record at
 * admission. A shard boundary that falls inside a 2⁸⁰-wide slice is rounded to the slice: the map
 * serves rate accounting only, never routing (Kinesis routes), so that error is immaterial.
 */
import { hash } from 'node:crypto';

/** One open shard's hash key range (inclusive, decimal strings as ListShards returns them). */
export interface ShardRange {
  shardId: string;
  startingHashKey: string;
  endingHashKey: string;
}

/** Bits dropped from a 128-bit hash key to make a {@link hashPrefix}. */
const PREFIX_SHIFT = 80n;

/** The top 48 bits of a 128-bit hash key, as a number in [0, 2⁴⁸). */
export function hashPrefix(hashKey: bigint): number {
  return Number(hashKey >> PREFIX_SHIFT);
}

/**
 * {@link hashPrefix} of a partition key's hash (MD5 of its UTF-8 bytes), without a bigint: the first
 * 12 hex digits of Node's one-shot `crypto.hash` (about a third of the cost of
 * `createHash().update().digest()`, which builds a Hash object and a Buffer per call).
 */
export function partitionKeyPrefix(partitionKey: string): number {
  return Number.parseInt(hash('md5', partitionKey, 'hex').slice(0, 12), 16);
}

/** An immutable map from hash key (prefix) to open shard. */
export class ShardMap {
  /** Open shards, ascending by starting hash key. */
  readonly shards: readonly ShardRange[];
  private readonly starts: number[];
  private readonly ids: Set<string>;

  /**
   * @param shards - the open shards (any order).
   * @throws Error when there is none.
   */
  constructor(shards: readonly ShardRange[]) {
    if (shards.length === 0) throw new Error('a shard map needs at least one open shard');
    this.shards = [...shards].sort((a, b) => {
      const x = BigInt(a.startingHashKey);
      const y = BigInt(b.startingHashKey);
      return x < y ? -1 : x > y ? 1 : 0;
    });
    this.starts = this.shards.map((s) => hashPrefix(BigInt(s.startingHashKey)));
    this.ids = new Set(this.shards.map((s) => s.shardId));
  }

  get size(): number {
    return this.shards.length;
  }

  /** Whether `shardId` is an open shard of this map (a result naming another one means a reshard). */
  has(shardId: string): boolean {
    return this.ids.has(shardId);
  }

  /** Index (into {@link shards}) of the shard holding hash prefix `prefix`. */
  indexOf(prefix: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= prefix) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** The shard id holding hash prefix `prefix`. */
  shardIdOf(prefix: number): string {
    return this.shards[this.indexOf(prefix)]!.shardId;
  }
}
