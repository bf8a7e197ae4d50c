/**
 * Config fields every engine-backed sink carries (the engine's {@link EngineOptions}): linger,
 * buffer caps, calls in flight, retry backoff and the request timeout. Each sink spreads
 * {@link engineFields} into its own `strictObject` with its call's name and throttling codes, so the
 * generated reference reads in the sink's own terms while the fields stay defined once.
 */
import { z } from 'zod';

/** How a sink names its call and its throttling, for the fields' descriptions. */
export interface EngineFieldTexts {
  /** The API call, e.g. `PutRecords`, `PutRecordBatch`, `Produce`. */
  call: string;
  /** The error codes that mean throttling, e.g. `ProvisionedThroughputExceededException / KMSThrottlingException`. */
  throttledCodes: string;
  /** Why throttling backs off longer, appended in parentheses. */
  throttledWhy: string;
  /** What the retriable failures are, for the `retry` description. */
  retriableFailures: string;
}

/** Default backoff of failed entries, in ms. */
export const DEFAULT_RETRY = { baseDelayMs: 100, maxDelayMs: 10_000, throttledBaseDelayMs: 500 } as const;

/**
 * The engine's config fields (see the module comment).
 * @example
 * ```ts
 * const Schema = z.strictObject({ type: z.literal('x'), name: z.string(), ...engineFields(texts) });
 * ```
 */
export function engineFields(t: EngineFieldTexts) {
  return {
    lingerMs: z
      .number()
      .int()
      .nonnegative()
      .default(100)
      .describe('How long a partial batch waits for more records before it is sent.'),
    bufferMaxRecords: z
      .number()
      .int()
      .positive()
      .default(10_000)
      .describe('Records held in memory before writers wait (backpressure).'),
    bufferMaxBytes: z
      .number()
      .int()
      .positive()
      .default(32 * 1024 * 1024)
      .describe('Bytes held in memory before writers wait (backpressure).'),
    maxInFlightBatches: z.number().int().positive().default(4).describe(`${t.call} calls in flight at once.`),
    retry: z
      .strictObject({
        baseDelayMs: z
          .number()
          .int()
          .nonnegative()
          .default(DEFAULT_RETRY.baseDelayMs)
          .describe(
            'Base of the full-jitter exponential backoff: attempt n waits random(0, base * 2^(n-1)).',
          ),
        maxDelayMs: z
          .number()
          .int()
          .positive()
          .default(DEFAULT_RETRY.maxDelayMs)
          .describe('Cap of one backoff delay.'),
        throttledBaseDelayMs: z
          .number()
          .int()
          .nonnegative()
          .default(DEFAULT_RETRY.throttledBaseDelayMs)
          .describe(`Backoff base after ${t.throttledCodes} (${t.throttledWhy}).`),
      })
      .default({ ...DEFAULT_RETRY })
      .describe(
        `Backoff of failed entries. Retriable failures (${t.retriableFailures}) are retried without limit: records stay buffered and the full buffer pauses the pollers (backpressure). Only records the service rejects as invalid are dead-lettered.`,
      ),
    requestTimeoutMs: z.number().int().positive().default(10_000).describe(`Timeout of one ${t.call} call.`),
  };
}

/** The per-call limits of a batching AWS API (AWS-documented maxima are the defaults and the caps). */
export interface BatchLimitTexts {
  /** The API call, e.g. `PutRecords`. */
  call: string;
  limits: { maxBatchRecords: number; maxBatchBytes: number; maxRecordBytes: number };
  /** Description of `maxBatchBytes` (what counts, the AWS limit). */
  batchBytes: string;
  /** Description of `maxRecordBytes` (what counts, the AWS limit, what happens to larger records). */
  recordBytes: string;
}

/** `maxBatchRecords`, `maxBatchBytes` and `maxRecordBytes`, capped at and defaulting to the AWS limits. */
export function batchLimitFields(t: BatchLimitTexts) {
  const limit = (max: number, text: string) => z.number().int().min(1).max(max).default(max).describe(text);
  return {
    maxBatchRecords: limit(
      t.limits.maxBatchRecords,
      `Records per ${t.call} call (AWS limit ${t.limits.maxBatchRecords}).`,
    ),
    maxBatchBytes: limit(t.limits.maxBatchBytes, t.batchBytes),
    maxRecordBytes: limit(t.limits.maxRecordBytes, t.recordBytes),
  };
}
