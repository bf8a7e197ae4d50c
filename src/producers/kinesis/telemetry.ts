/** Metrics of the Kinesis sink only; the engine's metrics (every sink's) are in `../telemetry.ts`. */
import { counter } from '../../telemetry/index.js';

export {
  producerBackpressureWaitsTotal,
  producerBatchBytes,
  producerBatchesTotal,
  producerBatchRecords,
  producerBufferBytes,
  producerBufferCapacityRatio,
  producerBufferRecords,
  producerFailedEntriesTotal,
  producerPutDurationSeconds,
  producerRecordsTotal,
  producerThrottledTotal,
} from '../telemetry.js';

/**
 * Kinesis records (PutRecords entries) sent, including re-sends, by kind: `single` (one user record)
 * or `aggregate` (a KPL aggregate). Without aggregation every entry is `single`. User records stay
 * in `ingest_producer_records_total`.
 */
export const producerKinesisRecordsTotal = counter(
  'ingest_producer_kinesis_records_total',
  'Kinesis records (PutRecords entries) sent, including re-sends, by kind: single or aggregate (KPL).',
  ['sink', 'kind'],
);

/** User records sent inside KPL aggregates, including re-sends (÷ aggregates = packing ratio). */
export const producerAggregatedRecordsTotal = counter(
  'ingest_producer_aggregated_records_total',
  'User records sent inside KPL aggregates, including re-sends.',
  ['sink'],
);
