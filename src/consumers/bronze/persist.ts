/**
 * The retry loop of a shard's durable steps (an object write, the dead letters, the checkpoint):
 * nothing after a step runs before it succeeded, so a failing lake never lets a checkpoint move
 * past unwritten records.
 */
import { describeError, isRetriable } from '../../errors.js';
import type { Logger } from '../../log.js';
import { fullJitterDelayMs, sleepUntilAborted as sleep } from '../../retry/index.js';
import type { BronzeWriterConfig } from './config.js';
import { ShardOwnershipError } from './errors.js';
import type { ShardHealth } from './health.js';

/** The stop signals of a writer: `stop` ends reading, `abandon` ends retries at the shutdown deadline. */
export interface Signals {
  stop: AbortSignal;
  abandon: AbortSignal;
}

/** What {@link persistStep} needs from the shard worker. */
export interface PersistContext {
  config: Pick<BronzeWriterConfig, 'retryBaseDelayMs' | 'retryMaxDelayMs' | 'failedShardProbeIntervalSecs'>;
  log: Logger;
  shardId: string;
  health: ShardHealth;
  /** Counts one failed attempt. */
  countError(err: unknown): void;
  /** The shard is (now) marked failed (`true`), or a step succeeded (`false`). */
  setStatus(failed: boolean): void;
}

/**
 * Runs `fn` until it succeeds. Retriable failures (throttling, 5xx, network, timeouts) are retried
 * with capped backoff (`retryBaseDelayMs`..`retryMaxDelayMs`, full jitter) for as long as it takes.
 * A non-retriable one (AccessDenied, NoSuchBucket, a KMS failure) is retried with backoff too until
 * `failedShardRetryBudgetSecs` is spent; then the shard is marked failed ({@link ShardHealth}) and
 * `fn` is tried every `failedShardProbeIntervalSecs` until it succeeds, which clears the failure.
 * `stop` wakes a wait for one more attempt before the shutdown deadline.
 * @param what - the step, for the log line and the `/readyz` reason, e.g. `writing bronze/…`.
 * @throws ShardOwnershipError at once; the shutdown deadline's ShutdownTimeoutError (or the last
 * failure) once `abandon` aborted; a non-retriable failure at once while the writer is stopping (a
 * permanent failure will not heal before the deadline: the records are read again on the next start).
 */
export async function persistStep<T>(
  ctx: PersistContext,
  what: string,
  fn: () => Promise<T>,
  signals: Signals,
): Promise<T> {
  const cfg = ctx.config;
  for (let attempt = 0; ; attempt++) {
    if (signals.abandon.aborted) throw signals.abandon.reason;
    try {
      const result = await fn();
      ctx.health.recovered();
      ctx.setStatus(false);
      return result;
    } catch (err) {
      ctx.countError(err);
      if (err instanceof ShardOwnershipError || signals.abandon.aborted) throw err;
      const retriable = isRetriable(err);
      if (!retriable && signals.stop.aborted) throw err;
      const failed = retriable ? ctx.health.failed : ctx.health.permanentFailure(what, err);
      if (failed) ctx.setStatus(true);
      const delay = failed
        ? cfg.failedShardProbeIntervalSecs * 1000
        : fullJitterDelayMs(attempt + 1, cfg.retryBaseDelayMs, cfg.retryMaxDelayMs);
      // Once failed, the failure was logged once (ShardHealth); the probes are debug lines.
      (failed ? ctx.log.debug : ctx.log.warn).call(
        ctx.log,
        {
          shard: ctx.shardId,
          err: describeError(err),
          retriable,
          attempt: attempt + 1,
          delayMs: Math.round(delay),
        },
        `${what} failed: retrying`,
      );
      const wake = signals.stop.aborted ? signals.abandon : AbortSignal.any([signals.abandon, signals.stop]);
      await sleep(delay, wake).catch(() => undefined);
    }
  }
}
