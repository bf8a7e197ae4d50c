/**
 * The one retry and backoff module every component uses: the pollers' request retries, the sink
 * engine's per-entry retries, the bronze writer's S3 and Kinesis retries, and the DynamoDB state
 * store's unprocessed items.
 *
 * Delays follow the AWS Architecture Blog's "Exponential Backoff and Jitter" (2015):
 * - full jitter, `random(0, min(maxDelayMs, baseDelayMs * 2^retryIndex))`, the default;
 * - equal jitter, `cap/2 + random(0, cap/2)`, where a near-zero delay would turn a lasting failure
 *   into a busy loop (shard worker restarts).
 * The exponent is capped at 30, since some callers (the sink engine) retry without limit.
 *
 * @module
 */
import { setTimeout as delay } from 'node:timers/promises';
import { isRetriable } from '../errors.js';

/** How a caller retries (a component's `retry` config block). */
export interface RetryPolicy {
  /** Attempts, including the first (>= 1). */
  maxAttempts: number;
  /** Base of the exponential backoff, in milliseconds. */
  baseDelayMs: number;
  /** Cap on one delay, in milliseconds. */
  maxDelayMs: number;
}

/** Waits `ms` milliseconds; rejects when `signal` aborts. Injectable so tests control time. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** The real {@link Sleep}: `timers/promises.setTimeout`, rejecting with an `AbortError` on abort. */
export const defaultSleep: Sleep = async (ms, signal) => {
  await delay(ms, undefined, signal ? { signal } : undefined);
};

/**
 * Resolves after `ms`, or rejects with the signal's own `reason` as soon as it aborts (so a caller
 * can tell a stop from an abandon by the reason it set).
 */
export function sleepUntilAborted(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function ceilingMs(retryIndex: number, baseDelayMs: number, maxDelayMs: number): number {
  return Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(30, Math.max(0, retryIndex)));
}

/**
 * Full-jitter exponential backoff.
 * @param retryIndex - 0 for the delay before the first retry, 1 before the second, ...
 * @param random - uniform source in [0, 1). @default Math.random
 * @returns whole milliseconds in `[0, min(maxDelayMs, baseDelayMs * 2^retryIndex)]`.
 */
export function backoffDelayMs(
  retryIndex: number,
  policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'> & Partial<RetryPolicy>,
  random: () => number = Math.random,
): number {
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.floor(r * ceilingMs(retryIndex, policy.baseDelayMs, policy.maxDelayMs));
}

/**
 * {@link backoffDelayMs} by the attempt that just failed (1-based), with positional arguments.
 * @returns whole milliseconds in `[0, min(maxDelayMs, baseDelayMs * 2^(attempt-1))]`.
 */
export function fullJitterDelayMs(
  attempt: number,
  baseDelayMs: number,
  maxDelayMs: number,
  random: () => number = Math.random,
): number {
  return backoffDelayMs(attempt - 1, { baseDelayMs, maxDelayMs }, random);
}

/**
 * Equal-jitter exponential backoff: `cap/2 + random(0, cap/2)`, `cap = min(maxMs, baseMs * 2^retryIndex)`.
 * Never near zero, for retries that must not spin.
 */
export function equalJitterDelayMs(
  retryIndex: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const cap = ceilingMs(retryIndex, baseMs, maxMs);
  return cap / 2 + (random() * cap) / 2;
}

/** Options of {@link withRetry}. */
export interface RetryOptions {
  policy: RetryPolicy;
  /** @default defaultSleep */
  sleep?: Sleep;
  /** @default Math.random */
  random?: () => number;
  /** Aborts a pending backoff: the call then rejects with `abortError(cause)`. */
  signal?: AbortSignal;
  /**
   * The error thrown when `signal` aborts a backoff, from the sleep's rejection and the last error of
   * `fn`. @default the sleep's own rejection
   */
  abortError?: (cause: unknown, lastError: unknown) => Error;
  /** Whether a failure of `fn` is retried. @default isRetriable (the error's own `retriable` field) */
  retryIf?: (err: unknown) => boolean;
  /**
   * The delay the failure itself asks for (an HTTP `Retry-After`), in ms, or `undefined` for the
   * backoff. It is capped at `policy.maxDelayMs`.
   */
  requestedDelayMs?: (err: unknown) => number | undefined;
  /** Called before each backoff: the error, the 1-based attempt that failed, and the chosen delay (ms). */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

/**
 * Calls `fn` until it resolves, it throws a non-retriable error (`retryIf`, by default `isRetriable`
 * from `src/errors.ts`: the error's own `retriable` field), or `policy.maxAttempts` attempts were
 * made; then rethrows the last error.
 *
 * @param fn - one attempt; receives the 1-based attempt number.
 * @throws the last error of `fn`, or `abortError(cause)` when `signal` aborted a backoff.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  const retryIf = options.retryIf ?? isRetriable;
  const maxAttempts = Math.max(1, options.policy.maxAttempts);
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= maxAttempts || !retryIf(err) || options.signal?.aborted) throw err;
      const requested = options.requestedDelayMs?.(err);
      const ms =
        requested === undefined
          ? backoffDelayMs(attempt - 1, options.policy, random)
          : Math.min(requested, options.policy.maxDelayMs);
      options.onRetry?.(err, attempt, ms);
      try {
        await sleep(ms, options.signal);
      } catch (sleepErr) {
        throw options.abortError ? options.abortError(sleepErr, err) : sleepErr;
      }
    }
  }
}
