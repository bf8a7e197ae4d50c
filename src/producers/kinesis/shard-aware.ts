/**
 * Shard-aware sending (ADR 11): the Kinesis driver's view of the stream's shards. It learns the shard
 * map with ListShards at start, refreshes it when a PutRecords result names a shard the map does not
 * hold (a reshard: Kinesis routes to the new child shards) or a call fails with
 * `ResourceNotFoundException` / `ResourceInUseException`, and keeps each shard within its write
 * limits with a token bucket per shard (`shard-limiter.ts`):
 * - `trim` leaves out of a batch the units bound for a shard whose bucket is empty (and every later
 *   unit for that shard, so each key's records still go as a prefix), unless nothing else could be
 *   sent;
 * - `pace` takes the batch's records and bytes from each shard's bucket and waits until no bucket
 *   is in debt before the call goes out.
 * Refused entries (`ProvisionedThroughputExceededException`) are counted per shard and retried by
 * the engine, never dropped. Without `listShards` (test fakes) or with the limits off, every method
 * is a no-op and the sink sends as before.
 */
import type { Logger } from '../../log.js';
import type { PutRecordsClient } from './client.js';
import { AWS_SHARD_LIMITS, ShardLimiter, type ShardRateLimits } from './shard-limiter.js';
import { ShardMap } from './shards.js';
import {
  producerOpenShards,
  producerShardMapRefreshesTotal,
  producerShardThrottledEntriesTotal,
  producerShardWaitSecondsTotal,
} from './telemetry.js';

/** One PutRecords entry as the pacer sees it: where it lands and what it costs. */
export interface PacedUnit {
  /** {@link hashPrefix} of the hash key the entry is routed by. */
  prefix: number;
  /** Data plus partition key bytes. */
  bytes: number;
}

export interface ShardAwareOptions {
  sink: string;
  streamName: string;
  /** Per-shard limits; `undefined` turns rate limiting off (the map is still kept). */
  limits: ShardRateLimits | undefined;
  client: () => PutRecordsClient;
  log: Logger;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
}

const REFRESH_ERRORS = new Set(['ResourceNotFoundException', 'ResourceInUseException']);

export class ShardAwareness {
  private map: ShardMap | undefined;
  private refreshing: Promise<void> | undefined;
  private stale = false;
  private readonly limiter: ShardLimiter | undefined;
  private readonly labels: { sink: string };

  constructor(private readonly opts: ShardAwareOptions) {
    this.limiter = opts.limits ? new ShardLimiter(opts.limits) : undefined;
    this.labels = { sink: opts.sink };
  }

  /** The current map, once learnt. */
  get shardMap(): ShardMap | undefined {
    return this.map;
  }

  /** Whether units should carry a hash prefix (a map can be learnt and limits apply). */
  get enabled(): boolean {
    return this.limiter !== undefined && this.opts.client().listShards !== undefined;
  }

  /**
   * Lists the open shards (one listing at a time; a request during one runs once it ends). A failed
   * listing keeps the old map, logs one line and is retried on the next trigger.
   */
  refresh(reason: 'start' | 'reshard' | 'error'): Promise<void> {
    const list = this.opts.client().listShards?.bind(this.opts.client());
    if (list === undefined) return Promise.resolve();
    if (this.refreshing) {
      this.stale = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      do {
        this.stale = false;
        producerShardMapRefreshesTotal.inc({ ...this.labels, reason });
        try {
          const open = await list(this.opts.streamName);
          if (open.length === 0) continue;
          const before = this.map?.size;
          this.map = new ShardMap(open);
          this.limiter?.retain(this.map);
          producerOpenShards.set(this.labels, this.map.size);
          if (before !== undefined && before !== this.map.size)
            this.opts.log.info(
              { event: 'shard_map_changed', reason, shards: this.map.size, before },
              `stream "${this.opts.streamName}" now has ${this.map.size} open shards (was ${before}); per-shard limits follow`,
            );
        } catch (err) {
          this.opts.log.warn(
            { event: 'shard_map_refresh_failed', reason, err },
            `ListShards on stream "${this.opts.streamName}" failed; keeping the previous shard map until the next refresh`,
          );
        }
      } while (this.stale);
    })().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  /**
   * Which units of a selection to send now: `false` for a unit bound for a shard whose bucket is
   * spent, and for every later unit bound for that shard. All `true` when nothing would be left.
   */
  trim(units: readonly PacedUnit[]): boolean[] {
    const keep = units.map(() => true);
    const map = this.map;
    if (!map || !this.limiter) return keep;
    const now = this.opts.now();
    const left = new Map<string, { bytes: number; records: number }>();
    let kept = 0;
    units.forEach((u, i) => {
      const shard = map.shardIdOf(u.prefix);
      let budget = left.get(shard);
      if (budget === undefined) {
        budget = this.limiter!.available(shard, now);
        left.set(shard, budget);
      }
      // A spent shard stays spent for the rest of the walk: later units of its keys wait too.
      if (budget.bytes >= u.bytes && budget.records >= 1) {
        budget.bytes -= u.bytes;
        budget.records -= 1;
        kept++;
      } else {
        keep[i] = false;
        budget.bytes = Number.NEGATIVE_INFINITY;
      }
    });
    return kept === 0 ? units.map(() => true) : keep;
  }

  /** Takes the batch from its shards' buckets and waits while any is in debt. */
  async pace(units: readonly PacedUnit[]): Promise<void> {
    const map = this.map;
    if (!map || !this.limiter) return;
    const per = new Map<string, { bytes: number; records: number }>();
    for (const u of units) {
      const shard = map.shardIdOf(u.prefix);
      const t = per.get(shard) ?? { bytes: 0, records: 0 };
      t.bytes += u.bytes;
      t.records += 1;
      per.set(shard, t);
    }
    const now = this.opts.now();
    let waitMs = 0;
    for (const [shard, t] of per)
      waitMs = Math.max(waitMs, this.limiter.take(shard, t.records, t.bytes, now));
    if (waitMs > 0) {
      producerShardWaitSecondsTotal.inc(this.labels, waitMs / 1000);
      await this.opts.sleep(waitMs);
    }
  }

  /**
   * Reads a call's results: a success on a shard outside the map triggers a refresh (reshard); a
   * throttled entry is counted against the shard it was expected on.
   * @param users - user records per unit (1, or the aggregate's count).
   */
  observe(
    units: readonly PacedUnit[],
    users: readonly number[],
    results: readonly { ShardId?: string; ErrorCode?: string }[],
  ): void {
    const map = this.map;
    if (!map) return;
    let unknown = false;
    results.forEach((r, i) => {
      if (r.ErrorCode === 'ProvisionedThroughputExceededException') {
        producerShardThrottledEntriesTotal.inc(
          { ...this.labels, shard: map.shardIdOf(units[i]!.prefix) },
          users[i] ?? 1,
        );
      } else if (r.ShardId !== undefined && !map.has(r.ShardId)) unknown = true;
    });
    if (unknown) void this.refresh('reshard');
  }

  /** Reads a failed call: a missing or busy resource may be a closed shard, so the map is refreshed. */
  observeError(code: string | undefined): void {
    if (this.map && code !== undefined && REFRESH_ERRORS.has(code)) void this.refresh('error');
  }
}

export { AWS_SHARD_LIMITS };
