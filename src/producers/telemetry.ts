/**
 * Metrics of every sink (the engine's), labelled with `sink`, the sink's configured name. A sink's
 * own metrics live in its folder's `telemetry.ts`. A retry is never counted as a drop:
 * `outcome="retried"` counts re-sends, and a record ends in exactly one of `delivered` or
 * `dead_lettered`, so `accepted = delivered + dead_lettered + buffered`.
 */
import { counter, gauge, histogram } from '../telemetry/index.js';

/**
 * Seconds a sink's calls have been failing without a single success since; 0 while healthy.
 * Computed at scrape time.
 */
export const producerFailingSeconds = gauge(
  'ingest_producer_failing_seconds',
  'Seconds the sink has been failing (no call accepted a record since the first failure); 0 when healthy. Records are held and retried meanwhile.',
  ['sink'],
);

/** Records by outcome: `accepted` (passed to write), `delivered`, `retried` (each re-send), `dead_lettered`. */
export const producerRecordsTotal = counter(
  'ingest_producer_records_total',
  'Records handled by a sink, by outcome: accepted, delivered, retried (each re-send), dead_lettered.',
  ['sink', 'outcome'],
);

/** PutRecords calls made. */
export const producerBatchesTotal = counter(
  'ingest_producer_batches_total',
  'Batch calls (PutRecords) made.',
  ['sink'],
);

/** Records per call. */
export const producerBatchRecords = histogram(
  'ingest_producer_batch_records',
  'Records per batch call.',
  ['sink'],
  [1, 5, 10, 25, 50, 100, 250, 500],
);

/** Bytes per call (data plus partition keys). */
export const producerBatchBytes = histogram(
  'ingest_producer_batch_bytes',
  'Bytes per batch call, data plus partition keys.',
  ['sink'],
  [1024, 16 * 1024, 64 * 1024, 256 * 1024, 1024 * 1024, 2 * 1024 * 1024, 4 * 1024 * 1024, 5 * 1024 * 1024],
);

/** Duration of one call, successful or not, in seconds. */
export const producerPutDurationSeconds = histogram(
  'ingest_producer_put_duration_seconds',
  'Duration of one batch call (PutRecords), in seconds.',
  ['sink'],
);

/** Entries that failed, by AWS error code (per-entry `ErrorCode`, or the error name when the whole call failed). */
export const producerFailedEntriesTotal = counter(
  'ingest_producer_failed_entries_total',
  'Batch entries that failed, by error code (per-entry ErrorCode or the whole-call error name).',
  ['sink', 'error_code'],
);

/** Calls in which the service throttled the whole call or at least one entry. */
export const producerThrottledTotal = counter(
  'ingest_producer_throttled_total',
  'Batch calls throttled as a whole or in part (ProvisionedThroughputExceededException, KMSThrottlingException).',
  ['sink'],
);

/** Records held in memory (admitted, not yet delivered or dead-lettered, including in flight). */
export const producerBufferRecords = gauge(
  'ingest_producer_buffer_records',
  'Records held in the sink buffer.',
  ['sink'],
);

/** Bytes held in memory (data plus partition keys). */
export const producerBufferBytes = gauge('ingest_producer_buffer_bytes', 'Bytes held in the sink buffer.', [
  'sink',
]);

/** Buffer fill from 0 to 1: the larger of records/bufferMaxRecords and bytes/bufferMaxBytes. */
export const producerBufferCapacityRatio = gauge(
  'ingest_producer_buffer_capacity_ratio',
  'Buffer fill, 0-1: max(records/bufferMaxRecords, bytes/bufferMaxBytes).',
  ['sink'],
);

/** Serialisation episodes over 1 s: a key's records waited behind its own in-flight records (strict ordering). */
export const producerSerialisedKeysTotal = counter(
  'ingest_producer_serialised_keys_total',
  'Partition keys whose queued records waited more than 1 s behind their own records in flight or backing off (per-key ordering serialises a hot key), once per episode.',
  ['sink'],
);

/** write() calls that had to wait for buffer space (backpressure), counted once per call. */
export const producerBackpressureWaitsTotal = counter(
  'ingest_producer_backpressure_waits_total',
  'write() calls that waited for buffer space (backpressure).',
  ['sink'],
);
