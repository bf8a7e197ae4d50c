/**
 * Whether a shard is failing for good. A non-retriable failure (AccessDenied, NoSuchBucket, a KMS
 * failure: see src/aws/errors.ts) is still retried, but once such failures have lasted
 * `failedShardRetryBudgetSecs` without a success the shard is marked failed, visibly: one error log
 * line with the cause, `ingest_bronze_shard_failed` = 1, `ingest_bronze_shard_failures_total` + 1,
 * and a `/readyz` condition `bronze:<consumer>/<shard>`. The first success clears all three and logs
 * one line. Retriable failures neither start nor end the budget: a dependency being down is retried
 * for as long as it takes.
 */
import { describeError, failureClassOf } from '../../errors.js';
import type { Logger } from '../../log.js';
import { readiness } from '../../telemetry/index.js';
import { bronzeShardFailed, bronzeShardFailuresTotal } from './telemetry.js';

export interface ShardHealthOptions {
  consumer: string;
  shard: string;
  /** How long non-retriable failures may last before the shard is marked failed. */
  budgetMs: number;
  /** Time between two attempts while failed (for the log line and the reason). */
  probeIntervalMs: number;
  log: Logger;
}

/** The failed/healthy state of one shard (see the module comment). */
export class ShardHealth {
  /** When the current run of non-retriable failures began (epoch ms); undefined while healthy. */
  private failingSinceMs?: number;
  /** True while the shard is marked failed. */
  failed = false;
  /** The `/readyz` reason while failed. */
  reason?: string;

  constructor(private readonly o: ShardHealthOptions) {
    bronzeShardFailed.set(this.labels(), 0);
  }

  /** The key of the shard's `/readyz` condition: `bronze:<consumer>/<shard>`. */
  get readinessKey(): string {
    return `bronze:${this.o.consumer}/${this.o.shard}`;
  }

  /**
   * Records one non-retriable failure of `what` (e.g. `cannot write bronze/…`). Marks the shard
   * failed once such failures have lasted the budget; while failed, updates the reason.
   * @returns whether the shard is (now) marked failed.
   */
  permanentFailure(what: string, err: unknown, nowMs = Date.now()): boolean {
    this.failingSinceMs ??= nowMs;
    const failingSecs = Math.round((nowMs - this.failingSinceMs) / 1000);
    const cls = failureClassOf(err);
    const probeSecs = this.o.probeIntervalMs / 1000;
    if (!this.failed && nowMs - this.failingSinceMs < this.o.budgetMs) return false;
    this.reason = `${what} fails with a non-retriable error (${cls}): ${describeError(err)}; nothing is checkpointed past it; retrying every ${probeSecs} s`;
    readiness.set(this.readinessKey, this.reason, this.failingSinceMs);
    if (!this.failed) {
      this.failed = true;
      bronzeShardFailed.set(this.labels(), 1);
      bronzeShardFailuresTotal.inc({ ...this.labels(), class: cls });
      this.o.log.error(
        {
          shard: this.o.shard,
          failureClass: cls,
          err: describeError(err),
          failingSecs,
          probeIntervalSecs: probeSecs,
        },
        `bronze shard failed: ${what} fails with a non-retriable error; not checkpointing past it, retrying every ${probeSecs} s`,
      );
    }
    return true;
  }

  /** The operation succeeded: ends a run of failures, and clears the failed state if set. */
  recovered(nowMs = Date.now()): void {
    if (this.failingSinceMs === undefined) return;
    const failingSecs = Math.round((nowMs - this.failingSinceMs) / 1000);
    this.failingSinceMs = undefined;
    if (!this.failed) return;
    this.failed = false;
    this.reason = undefined;
    readiness.clear(this.readinessKey);
    bronzeShardFailed.set(this.labels(), 0);
    this.o.log.info(
      { shard: this.o.shard, failingSecs },
      'bronze shard recovered: writing and checkpointing again',
    );
  }

  /** The writer stopped: its condition leaves `/readyz` (the gauge keeps its last value). */
  release(): void {
    readiness.clear(this.readinessKey);
  }

  private labels(): { consumer: string; shard: string } {
    return { consumer: this.o.consumer, shard: this.o.shard };
  }
}
