import { z } from 'zod';

export const BronzeWriterSchema = z
  .strictObject({
    name: z.string().default('bronze').describe('Consumer name (also the checkpoint namespace).'),
    type: z.literal('bronze').describe('Reads every shard of a stream and lands gzip NDJSON in bronze.'),
    streamName: z.string().min(1).describe('Kinesis stream to read.'),
    region: z.string().optional().describe('AWS region. @default AWS_REGION'),
    lakeUri: z
      .string()
      .default('file://./data/lake')
      .describe('Lake root: `file://path` or `s3://bucket/prefix`. Objects go under `bronze/`.'),
    bufferMaxBytes: z
      .number()
      .int()
      .min(1024)
      .max(128 * 1024 * 1024)
      .default(5 * 1024 * 1024)
      .describe(
        "Uncompressed bytes buffered per shard before an object is written (Firehose's SizeInMBs, 1-128 MiB).",
      ),
    bufferIntervalSecs: z
      .number()
      .min(0)
      .max(900)
      .default(60)
      .describe(
        "Seconds a shard's buffer may wait before an object is written (Firehose's IntervalInSeconds, 0-900).",
      ),
    pollIntervalMs: z
      .number()
      .int()
      .positive()
      .default(1_000)
      .describe(
        'Pause between GetRecords calls on a shard that returned nothing (AWS: at most 5 calls/s/shard).',
      ),
    maxRecordsPerGet: z.number().int().min(1).max(10_000).default(10_000).describe('GetRecords Limit.'),
    initialPosition: z
      .enum(['TRIM_HORIZON', 'LATEST'])
      .default('TRIM_HORIZON')
      .describe('Where a shard with no checkpoint starts.'),
    shutdownTimeoutMs: z
      .number()
      .int()
      .positive()
      .max(60_000)
      .default(10_000)
      .describe(
        'Time `stop()` may take to flush, write and checkpoint every shard buffer; what is not written by then is not checkpointed and is read again on the next start (keep well below ECS stopTimeout, 30 s).',
      ),
    shardDiscoveryIntervalSecs: z
      .number()
      .positive()
      .max(3_600)
      .default(60)
      .describe(
        "Seconds between two listings of the stream's shards (ListShards), so that shards created by a reshard are read even when no parent shard ends here (a parent reaching its end lists them at once). A failed listing is retried with backoff.",
      ),
    requestTimeoutMs: z
      .number()
      .int()
      .positive()
      .max(300_000)
      .default(10_000)
      .describe(
        'Time one Kinesis call (ListShards page, GetShardIterator, GetRecords) may take before it is aborted and retried after a backoff.',
      ),
    retryBaseDelayMs: z
      .number()
      .int()
      .positive()
      .default(200)
      .describe(
        'First backoff delay of a retried Kinesis read, lake write or checkpoint (exponential, full jitter).',
      ),
    retryMaxDelayMs: z
      .number()
      .int()
      .positive()
      .default(10_000)
      .describe('Longest backoff delay; retriable writes are retried without limit (never dropped).'),
    failedShardRetryBudgetSecs: z
      .number()
      .min(0)
      .max(86_400)
      .default(60)
      .describe(
        'Seconds a shard keeps retrying (with backoff) a lake write, dead-letter write or checkpoint, or a restart after a Kinesis read error, that fails with a non-retriable error (AccessDenied, NoSuchBucket, a disabled or denied KMS key) before the shard is marked failed: one error log line with the cause, `ingest_bronze_shard_failed` set to 1, and a `/readyz` condition `bronze:<consumer>/<shard>`. Nothing is checkpointed past the unwritten records; the shard keeps trying every `failedShardProbeIntervalSecs` and resumes by itself once the cause is fixed. Retriable errors (throttling, 5xx, network, timeouts) never mark a shard failed: they are retried for as long as it takes.',
      ),
    failedShardProbeIntervalSecs: z
      .number()
      .positive()
      .max(3_600)
      .default(30)
      .describe(
        'Seconds between two attempts of the failing operation while a shard is marked failed (see `failedShardRetryBudgetSecs`).',
      ),
  })
  .describe('The bronze writer: Kinesis → gzip NDJSON under bronze/source=…/dt=…/hour=…/.');

export type BronzeWriterConfig = z.infer<typeof BronzeWriterSchema>;
