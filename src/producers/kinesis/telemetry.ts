/** Metrics of the Kinesis sink only; the engine's metrics (every sink's) are in `../telemetry.ts`. */
import { counter, gauge } from '../../telemetry/index.js';

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

/**
 * User records in PutRecords entries refused with ProvisionedThroughputExceededException, by the
 * shard the sink expected them on. They are retried (never dropped): see
 * `ingest_producer_records_total{outcome="retried"}`.
 */
export const producerShardThrottledEntriesTotal = counter(
  'ingest_producer_kinesis_throttled_entries_total',
  'User records refused with ProvisionedThroughputExceededException and retried (never dropped), by expected shard.',
  ['sink', 'shard'],
);

/** Seconds batches waited for their shards' token buckets (per-shard 1 MiB/s and 1,000 records/s). */
export const producerShardWaitSecondsTotal = counter(
  'ingest_producer_kinesis_shard_wait_seconds_total',
  'Seconds PutRecords calls waited for per-shard token buckets (1 MiB/s, 1,000 records/s per shard).',
  ['sink'],
);

/** Shard map refreshes (ListShards), by reason: start, reshard (a result named an unknown shard), error. */
export const producerShardMapRefreshesTotal = counter(
  'ingest_producer_kinesis_shard_map_refreshes_total',
  'Shard map refreshes (ListShards) by reason: start, reshard, error.',
  ['sink', 'reason'],
);

/** Open shards in the sink's shard map. */
export const producerOpenShards = gauge(
  'ingest_producer_kinesis_open_shards',
  'Open shards in the Kinesis sink shard map (ListShards).',
  ['sink'],
);
