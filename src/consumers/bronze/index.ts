/**
 * The bronze writer: reads every shard of a Kinesis stream and lands gzip NDJSON objects under
 * `bronze/source=<source>/dt=YYYY-MM-DD/hour=HH/<stream>-<shardId>-<firstSequenceNumber>.json.gz`
 * (UTC, from each envelope's `ingested_at`), the same layout Firehose writes in AWS.
 *
 * Delivery: at-least-once from Kinesis, idempotent in the lake. Each shard buffers records like
 * Firehose's BufferingHints (size `bufferMaxBytes`, 1-128 MiB; time `bufferIntervalSecs`, 0-900 s);
 * a full or due buffer becomes one object per (source, dt, hour) group, and only once every object
 * (and every dead letter) is durably written is the shard checkpointed at the buffer's last sequence
 * number. A buffer always starts right after the checkpoint, so a replay names its objects the same
 * and overwrites them instead of duplicating. Records that are not envelopes go to the dead-letter
 * location with their reason, counted: never dropped.
 *
 * Reading follows the Kinesis GetRecords limits (API reference, "GetRecords"): at most 5 calls per
 * second per shard, up to 10,000 records or 10 MiB per call, 2 MiB/s per shard; throttling
 * (`ProvisionedThroughputExceededException`) is retried after a backoff, an expired iterator is
 * replaced by one after the last record read. Every Kinesis call is aborted after
 * `requestTimeoutMs` (and retried like any network failure). Closed (parent) shards are read to their
 * end before their children; the shards are listed again whenever a parent ends and every
 * `shardDiscoveryIntervalSecs`, retrying a failed listing, so children of a reshard are always found.
 *
 * Failures (issue 7, "lake writes that fail for good are visible"): a lake write, dead-letter write
 * or checkpoint that fails is retried in place, and nothing after it runs (no checkpoint past
 * unwritten records, no further reads on that shard). Retriable failures (throttling, 5xx, network,
 * timeouts) are retried with capped backoff for as long as it takes. Non-retriable ones
 * (AccessDenied, NoSuchBucket, a KMS failure, classified in src/aws/errors.ts) are retried with
 * backoff for `failedShardRetryBudgetSecs`; then the shard is marked failed: one error log line with
 * the cause, `ingest_bronze_shard_failed{consumer,shard}` = 1, a `/readyz` condition
 * `bronze:<consumer>/<shard>`. It keeps trying every `failedShardProbeIntervalSecs` and resumes by
 * itself once the cause is fixed: the records it holds are written, then checkpointed.
 *
 * A shard worker whose Kinesis read (or checkpoint read) fails with a non-retriable error is
 * restarted from its checkpoint after a backoff (`ingest_bronze_shard_restarts_total`), under the
 * same budget, unless another writer took the shard over (ShardOwnershipError): that shard is left
 * to its new owner.
 *
 * Module map: `kinesis.ts` (calls, timeouts, listing), `discovery.ts` (finding new shards),
 * `shard.ts` (one shard's read, flush and retries), `buffer.ts`, `checkpoint.ts`, `health.ts`
 * (failed shards), `writer.ts` (the Consumer), `records.ts` and `objects.ts` (envelopes in, gzip
 * NDJSON objects out).
 */
import type { BronzeWriterConfig } from './config.js';
import { BronzeWriter, type BronzeWriterDeps } from './writer.js';

export { checkpointKey, type ShardCheckpoint } from './checkpoint.js';
export type { BronzeWriterConfig } from './config.js';
export { BronzeWriterSchema } from './config.js';
export * from './errors.js';
export { ShardHealth } from './health.js';
export {
  DEFAULT_REQUEST_TIMEOUT_MS,
  GET_RECORDS_MIN_INTERVAL_MS,
  kinesisCall,
  kinesisClientFromEnv,
  listAllShards,
} from './kinesis.js';
export {
  type BronzeObjectPlan,
  bronzeKey,
  encodeNdjson,
  gunzipNdjson,
  gzipNdjson,
  planObjects,
} from './objects.js';
export {
  type ParsedEnvelope,
  type ParsedRecord,
  parseRecord,
  partitionOf,
  type RejectedRecord,
  type ShardRecord,
  SOURCE_PATTERN,
  validateEnvelope,
} from './records.js';
export { BronzeWriter, type BronzeWriterDeps } from './writer.js';

/**
 * Creates the bronze writer (see the module documentation for what it does).
 * @param config - a parsed {@link BronzeWriterSchema} value (validated again here).
 * @throws ConfigError when the config is invalid, or the lake URI is not `file://` or `s3://`.
 */
export function createBronzeWriter(config: BronzeWriterConfig, deps: BronzeWriterDeps): BronzeWriter {
  return new BronzeWriter(config, deps);
}
