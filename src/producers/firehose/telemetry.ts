/** Metrics of the Firehose sink only; the engine's metrics (every sink's) are in `../telemetry.ts`. */
import { counter } from '../../telemetry/index.js';

/**
 * PutRecordBatch calls answered with `FailedPutCount > 0` (HTTP 200, some entries failed; only
 * those entries are resent). The failed entries themselves are in
 * `ingest_producer_failed_entries_total`.
 */
export const producerFirehosePartialFailuresTotal = counter(
  'ingest_producer_firehose_partial_failures_total',
  'PutRecordBatch calls answered with FailedPutCount > 0 (only the failed entries are resent).',
  ['sink'],
);
