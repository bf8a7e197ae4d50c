/**
 * A token bucket per shard, so the sink keeps each shard under its write limits instead of learning
 * them from ProvisionedThroughputExceededException. AWS limit (Kinesis Data Streams developer guide,
 * "Quotas and limits", and the PutRecords API reference): each shard accepts up to 1,000 records and
 * 1 MiB of data (data blob plus partition key) per second for writes. A KPL aggregate counts as one
 * record of its full size.
 *
 * Each bucket holds at most one second's allowance and refills continuously. `take` may drive a
 * bucket negative (a batch is sent whole): the caller then waits until it is back to zero, so the
 * long-run rate stays within the limit. Pure: the clock is passed in.
 */

/** Per-shard write limits (AWS: 1,000 records and 1 MiB per second per shard). */
export interface ShardRateLimits {
  /** Data plus partition key bytes per second per shard. */
  bytesPerSecond: number;
  /** Records (PutRecords entries; an aggregate is one) per second per shard. */
  recordsPerSecond: number;
}

/** The AWS per-shard write limits. */
export const AWS_SHARD_LIMITS: ShardRateLimits = { bytesPerSecond: 1024 * 1024, recordsPerSecond: 1_000 };

interface Bucket {
  bytes: number;
  records: number;
  at: number;
}

/** Token buckets keyed by shard id. */
export class ShardLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly limits: ShardRateLimits) {}

  private bucket(shardId: string, nowMs: number): Bucket {
    let b = this.buckets.get(shardId);
    if (b === undefined) {
      b = { bytes: this.limits.bytesPerSecond, records: this.limits.recordsPerSecond, at: nowMs };
      this.buckets.set(shardId, b);
      return b;
    }
    const seconds = Math.max(0, nowMs - b.at) / 1000;
    b.bytes = Math.min(this.limits.bytesPerSecond, b.bytes + seconds * this.limits.bytesPerSecond);
    b.records = Math.min(this.limits.recordsPerSecond, b.records + seconds * this.limits.recordsPerSecond);
    b.at = nowMs;
    return b;
  }

  /** What `shardId` may still take now without waiting. */
  available(shardId: string, nowMs: number): { bytes: number; records: number } {
    const b = this.bucket(shardId, nowMs);
    return { bytes: b.bytes, records: b.records };
  }

  /**
   * Takes `records` and `bytes` from `shardId`'s bucket (it may go negative).
   * @returns milliseconds until the bucket is back to zero: how long the caller should wait before
   * sending (0 when it had enough).
   */
  take(shardId: string, records: number, bytes: number, nowMs: number): number {
    const b = this.bucket(shardId, nowMs);
    b.bytes -= bytes;
    b.records -= records;
    const owed = Math.max(-b.bytes / this.limits.bytesPerSecond, -b.records / this.limits.recordsPerSecond);
    return owed > 0 ? Math.ceil(owed * 1000) : 0;
  }

  /** Forgets the buckets of shards not in `open` (closed by a reshard). */
  retain(open: ReadonlySet<string> | { has(id: string): boolean }): void {
    for (const id of this.buckets.keys()) if (!open.has(id)) this.buckets.delete(id);
  }
}
