import { z } from 'zod';
import { batchLimitFields, engineFields } from '../engine/schema.js';
import { AWS_SHARD_LIMITS } from './shard-limiter.js';

/** Limits from the Kinesis PutRecords API reference: 500 records and 5 MiB per call, 1 MiB per record. */
export const KINESIS_LIMITS = {
  maxBatchRecords: 500,
  maxBatchBytes: 5 * 1024 * 1024,
  maxRecordBytes: 1024 * 1024,
} as const;

/** The KPL's default `AggregationMaxSize`: 51200 bytes. */
export const KPL_DEFAULT_MAX_BYTES = 51_200;

export const KinesisSinkSchema = z
  .strictObject({
    name: z.string().default('kinesis').describe('Sink name that sources refer to.'),
    type: z.literal('kinesis').describe('Kinesis Data Streams through PutRecords.'),
    streamName: z.string().min(1).max(128).describe('Kinesis stream name.'),
    region: z.string().optional().describe('AWS region. @default AWS_REGION'),
    endpoint: z
      .url()
      .optional()
      .describe(
        'Kinesis endpoint URL (emulator, LocalStack, VPC endpoint); `http:` endpoints use HTTP/1.1. @default AWS_ENDPOINT_URL_KINESIS ?? AWS_ENDPOINT_URL ?? the AWS regional endpoint',
      ),
    ...batchLimitFields({
      call: 'PutRecords',
      limits: KINESIS_LIMITS,
      batchBytes: 'Bytes per PutRecords call, data plus partition keys (AWS limit 5 MiB).',
      recordBytes:
        'Bytes per record, data plus partition key (AWS limit 1 MiB); larger records are dead-lettered.',
    }),
    ...engineFields({
      call: 'PutRecords',
      throttledCodes: 'ProvisionedThroughputExceededException / KMSThrottlingException',
      throttledWhy: 'per-shard limits are per second, so throttling backs off longer',
      retriableFailures:
        'throttling, 5xx, network, timeouts, a missing stream, denied access, an unusable KMS key',
    }),
    ordering: z
      .enum(['strict', 'relaxed'])
      .default('strict')
      .describe(
        "Per-partition-key ordering. 'strict': at most one record per partition key is in flight, so Kinesis accepts each key's records in write order even under partial failures and retries (a hot key sends one record per PutRecords round trip). 'relaxed': a batch may hold several records of a key, in order, and a key has at most one batch in flight; a partial failure that rejects an earlier record of a key while accepting a later one in the same call reorders those two (PutRecords itself does not guarantee ordering).",
      ),
    shardLimits: z
      .strictObject({
        enabled: z
          .boolean()
          .default(true)
          .describe(
            'Learn the shard map (ListShards; refreshed when a result names an unknown shard or a call fails with ResourceNotFound/ResourceInUse) and keep each shard under the limits below with a token bucket per shard. Off: send as fast as the calls go and let Kinesis throttle.',
          ),
        bytesPerSecond: z
          .number()
          .int()
          .positive()
          .max(AWS_SHARD_LIMITS.bytesPerSecond)
          .default(AWS_SHARD_LIMITS.bytesPerSecond)
          .describe('Data plus partition key bytes per second per shard (AWS limit 1 MiB/s per shard).'),
        recordsPerSecond: z
          .number()
          .int()
          .positive()
          .max(AWS_SHARD_LIMITS.recordsPerSecond)
          .default(AWS_SHARD_LIMITS.recordsPerSecond)
          .describe(
            'Kinesis records (an aggregate is one) per second per shard (AWS limit 1,000/s per shard).',
          ),
      })
      .default({
        enabled: true,
        bytesPerSecond: AWS_SHARD_LIMITS.bytesPerSecond,
        recordsPerSecond: AWS_SHARD_LIMITS.recordsPerSecond,
      })
      .describe(
        'Per-shard write limits (Kinesis Data Streams quotas: 1 MiB and 1,000 records per second per shard). Throttled entries are retried and counted, never dropped.',
      ),
    aggregation: z
      .strictObject({
        enabled: z
          .boolean()
          .default(false)
          .describe(
            'Pack user records into KPL aggregated records (one Kinesis record, one sequence number, many user records). Firehose with a Kinesis stream source, the KCL and the bronze writer deaggregate them. Routing is by hash bucket (see hashBuckets), so turning this on or off moves keys between shards.',
          ),
        maxBytes: z
          .number()
          .int()
          .min(64)
          .max(KINESIS_LIMITS.maxRecordBytes)
          .default(KPL_DEFAULT_MAX_BYTES)
          .describe(
            "Largest aggregated Kinesis record, data (magic, protobuf, MD5) plus partition key; must be <= maxRecordBytes. A user record too large to share an aggregate is sent on its own. Default 51200, the KPL's AggregationMaxSize.",
          ),
        hashBuckets: z
          .number()
          .int()
          .min(1)
          .max(65_536)
          .optional()
          .describe(
            "Slices of the 128-bit hash key space: only records whose partition keys hash to one slice share an aggregate, and every record of a slice is sent with the slice's middle as ExplicitHashKey (a fixed hash per key, so per-key order survives resharding without a shard map). Fewer buckets pack more records per aggregate; keep it >= the stream's open shard count (a power of two matches evenly split shards exactly). @default the stream's open shard count at start (one slice per evenly split shard: aggregates pack by shard), 64 when unknown",
          ),
      })
      .default({ enabled: false, maxBytes: KPL_DEFAULT_MAX_BYTES })
      .describe('KPL record aggregation (off by default).'),
  })
  .superRefine((cfg, ctx) => {
    if (cfg.aggregation.enabled && cfg.aggregation.maxBytes > cfg.maxRecordBytes) {
      ctx.addIssue({
        code: 'custom',
        path: ['aggregation', 'maxBytes'],
        message: `aggregation.maxBytes (${cfg.aggregation.maxBytes}) must be <= maxRecordBytes (${cfg.maxRecordBytes})`,
      });
    }
  })
  .describe('Writes envelopes to a Kinesis Data Stream.');

export type KinesisSinkConfig = z.infer<typeof KinesisSinkSchema>;
