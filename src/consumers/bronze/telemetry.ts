/**
 * Metrics of the bronze writer. Every series carries the `consumer` label (the consumer's config
 * name) so several writers in one process stay apart; shard gauges also carry `shard`.
 */
import { counter, gauge, histogram } from '../../telemetry/index.js';

/**
 * Records by outcome: `read` (every envelope line, and every unparseable Kinesis record, once),
 * `landed` (written to bronze), `dead_lettered` (written to the dead-letter location).
 */
export const bronzeRecordsTotal = counter(
  'ingest_bronze_records_total',
  'Records read from Kinesis, landed in bronze, or dead-lettered, by consumer and outcome.',
  ['consumer', 'outcome'],
);

/** Objects (gzip NDJSON) written to the lake. */
export const bronzeObjectsWrittenTotal = counter(
  'ingest_bronze_objects_written_total',
  'Bronze objects written to the lake.',
  ['consumer'],
);

/** Compressed bytes written to the lake. */
export const bronzeBytesWrittenTotal = counter(
  'ingest_bronze_bytes_written_total',
  'Compressed (gzip) bytes of the bronze objects written.',
  ['consumer'],
);

/** Uncompressed NDJSON bytes written to the lake. */
export const bronzeUncompressedBytesTotal = counter(
  'ingest_bronze_uncompressed_bytes_total',
  'Uncompressed NDJSON bytes of the bronze objects written.',
  ['consumer'],
);

/**
 * Seconds between now and the approximate arrival time (in Kinesis) of the last checkpointed
 * record of a shard; 0 when the shard is caught up and nothing is buffered.
 */
export const bronzeCheckpointLagSeconds = gauge(
  'ingest_bronze_checkpoint_lag_seconds',
  'Now minus the approximate arrival time of the last checkpointed record (0 when caught up).',
  ['consumer', 'shard'],
);

/** How far the shard's reader is behind the tip: `MillisBehindLatest` of the last GetRecords answer, in seconds. */
export const bronzeBehindLatestSeconds = gauge(
  'ingest_bronze_behind_latest_seconds',
  'How far the reader is behind the tip of the shard (GetRecords MillisBehindLatest), in seconds.',
  ['consumer', 'shard'],
);

/** Seconds to write one object, retries included. */
export const bronzeWriteDurationSeconds = histogram(
  'ingest_bronze_write_duration_seconds',
  'Seconds to write one bronze object to the lake, retries included.',
  ['consumer'],
);

/** Failed attempts by failure class (each retry counts once). */
export const bronzeErrorsTotal = counter(
  'ingest_bronze_errors_total',
  'Failed attempts of the bronze writer (Kinesis reads, lake writes, checkpoints), by failure class.',
  ['consumer', 'class'],
);

/**
 * Shard workers restarted from their checkpoint after a non-retriable Kinesis read (or checkpoint
 * read) failure; a shard another writer took over is left to it and never restarted. Failed lake
 * writes are retried in place, not by a restart.
 */
export const bronzeShardRestartsTotal = counter(
  'ingest_bronze_shard_restarts_total',
  'Shard workers restarted from their checkpoint after a non-retriable Kinesis or checkpoint read failure, by consumer and shard.',
  ['consumer', 'shard'],
);

/**
 * 1 while a shard is marked failed: a non-retriable failure (AccessDenied, NoSuchBucket, a KMS
 * failure) outlasted `failedShardRetryBudgetSecs`; nothing is checkpointed past the unwritten
 * records until it clears. 0 otherwise (set when the shard starts).
 */
export const bronzeShardFailed = gauge(
  'ingest_bronze_shard_failed',
  '1 while a shard is marked failed (a non-retriable lake, dead-letter, checkpoint or read failure outlasted failedShardRetryBudgetSecs), else 0.',
  ['consumer', 'shard'],
);

/** Times a shard was marked failed, by the failure class of the error that did it. */
export const bronzeShardFailuresTotal = counter(
  'ingest_bronze_shard_failures_total',
  'Times a shard was marked failed, by consumer, shard and failure class (access_denied, not_found, kms, ...).',
  ['consumer', 'shard', 'class'],
);
