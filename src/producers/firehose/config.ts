import { z } from 'zod';
import { batchLimitFields, engineFields } from '../engine/schema.js';

/**
 * Limits from the Amazon Data Firehose PutRecordBatch API reference and "Amazon Data Firehose
 * Quota": 500 records and 4 MiB per call, 1,000 KiB (1,024,000 bytes) per record before base64.
 * Note the per-record limit is 1,000 KiB, not 1 MiB.
 */
export const FIREHOSE_LIMITS = {
  maxBatchRecords: 500,
  maxBatchBytes: 4 * 1024 * 1024,
  maxRecordBytes: 1_024_000,
} as const;

export const FirehoseSinkSchema = z
  .strictObject({
    name: z.string().default('firehose').describe('Sink name that sources refer to.'),
    type: z
      .literal('firehose')
      .describe('Amazon Data Firehose through PutRecordBatch, to a DirectPut delivery stream.'),
    deliveryStreamName: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[a-zA-Z0-9_.-]+$/)
      .describe('Firehose delivery stream name (DirectPut source; 1-64 characters of [a-zA-Z0-9_.-]).'),
    region: z.string().optional().describe('AWS region. @default AWS_REGION'),
    endpoint: z
      .url()
      .optional()
      .describe(
        'Firehose endpoint URL (moto, LocalStack, VPC endpoint). @default AWS_ENDPOINT_URL_FIREHOSE ?? AWS_ENDPOINT_URL ?? the AWS regional endpoint',
      ),
    ...batchLimitFields({
      call: 'PutRecordBatch',
      limits: FIREHOSE_LIMITS,
      batchBytes: 'Bytes per PutRecordBatch call, data plus newlines (AWS limit 4 MiB).',
      recordBytes:
        'Bytes per record, data plus its newline (AWS limit 1,000 KiB = 1024000 bytes, not 1 MiB); larger records are dead-lettered.',
    }),
    ...engineFields({
      call: 'PutRecordBatch',
      throttledCodes: 'ServiceUnavailableException / ThrottlingException',
      throttledWhy: 'delivery stream throughput quotas are per second, so throttling backs off longer',
      retriableFailures:
        'throttling, 5xx, network, timeouts, a missing delivery stream, denied access, an unusable KMS key',
    }),
    newlineDelimited: z
      .boolean()
      .default(true)
      .describe(
        'Append a newline to each record, so the objects Firehose concatenates are NDJSON (the bronze layout). The newline counts towards maxRecordBytes and maxBatchBytes.',
      ),
  })
  .describe('Writes envelopes to an Amazon Data Firehose DirectPut delivery stream.');

export type FirehoseSinkConfig = z.infer<typeof FirehoseSinkSchema>;
