/**
 * Waiting at start-up for a dependency that does not answer yet (a Kinesis stream, Kafka brokers, a
 * sink's destination), shared by the bronze writers and the sink engine: an outage at start-up keeps
 * the role not ready with the reason instead of failing it, so ECS does not restart the task in a
 * loop. A refusal (a missing stream, access denied) still fails at once.
 *
 * @module
 */
import { failureClassOf } from '../errors.js';
import type { Logger } from '../log.js';
import { readiness } from '../telemetry/readiness.js';
import { type Sleep, withRetry } from './index.js';

/** Options of {@link waitUntilReady}. */
export interface WaitUntilReadyOptions {
  /** The `/readyz` condition set while waiting, e.g. `bronze:<name>/start`; cleared when the wait ends. */
  readinessKey: string;
  log: Logger;
  /** The `event` field of the warning logged on the first and every tenth failed attempt. */
  event: string;
  /** Extra fields of that warning. */
  fields?: Record<string, unknown>;
  /** What is waited for, in the warning: `waiting for <waitingFor> (not ready meanwhile)`. */
  waitingFor: string;
  /** One line saying why an attempt failed (the readiness reason and the warning). */
  reason: (err: unknown) => string;
  /** Backoff between attempts, ms (full jitter, `src/retry`); the base is at least 100 ms. */
  retry: { baseDelayMs: number; maxDelayMs: number };
  /** Whether to keep waiting after this failure. @default isRetriable (the error's `retriable` field) */
  retryIf?: (err: unknown) => boolean;
  /** Aborting ends the wait with the last failure. */
  signal?: AbortSignal | undefined;
  /** @default defaultSleep (tests pass their own) */
  sleep?: Sleep;
}

/**
 * Calls `fn` until it resolves. While it fails with an error `retryIf` accepts, `/readyz` is not
 * ready (`starting: <reason>; retrying`), a warning is logged on the first and every tenth attempt,
 * and the next attempt follows a full-jitter backoff.
 *
 * @example
 * const shards = await waitUntilReady(() => listShards(), {
 *   readinessKey: 'bronze:orders/start', log, event: 'waiting_for_stream', waitingFor: 'it',
 *   reason: (err) => `cannot list the shards of stream orders: ${describeError(err)}`,
 *   retry: { baseDelayMs: 100, maxDelayMs: 5_000 }, signal,
 * });
 * @throws the failure of `fn` that `retryIf` refused, or the last failure when `signal` aborted.
 */
export async function waitUntilReady<T>(fn: () => Promise<T>, o: WaitUntilReadyOptions): Promise<T> {
  try {
    return await withRetry(fn, {
      policy: {
        maxAttempts: Number.POSITIVE_INFINITY,
        baseDelayMs: Math.max(100, o.retry.baseDelayMs),
        maxDelayMs: o.retry.maxDelayMs,
      },
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.retryIf ? { retryIf: o.retryIf } : {}),
      ...(o.sleep ? { sleep: o.sleep } : {}),
      abortError: (_cause, last) => last as Error,
      onRetry: (err, attempt) => {
        const reason = o.reason(err);
        readiness.set(o.readinessKey, `starting: ${reason}; retrying`);
        if (attempt === 1 || attempt % 10 === 0) {
          o.log.warn(
            { event: o.event, attempt, class: failureClassOf(err), ...o.fields },
            `${reason}; waiting for ${o.waitingFor} (not ready meanwhile)`,
          );
        }
      },
    });
  } finally {
    readiness.clear(o.readinessKey);
  }
}
