import { z } from 'zod';

/** Limits from the Kinesis PutRecords API reference: 500 records and 5 MiB per call, 1 MiB per record. */
export const KINESIS_LIMITS = {
  maxBatchRecords: 500,
  maxBatchBytes: 5 * 1024 * 1024,
  maxRecordBytes: 1024 * 1024,
} as const;

export const KinesisSinkSchema = z
  .object({
    name: z.string().default('kinesis').describe('Sink name that sources refer to.'),
    type: z.literal('kinesis').describe('Kinesis Data Streams through PutRecords.'),
    streamName: z.string().min(1).max(128).describe('Kinesis stream name.'),
    region: z.string().optional().describe('AWS region. @default AWS_REGION'),
    maxBatchRecords: z
      .number()
      .int()
      .min(1)
      .max(KINESIS_LIMITS.maxBatchRecords)
      .default(KINESIS_LIMITS.maxBatchRecords)
      .describe('Records per PutRecords call (AWS limit 500).'),
    maxBatchBytes: z
      .number()
      .int()
      .min(1)
      .max(KINESIS_LIMITS.maxBatchBytes)
      .default(KINESIS_LIMITS.maxBatchBytes)
      .describe('Bytes per PutRecords call, data plus partition keys (AWS limit 5 MiB).'),
    maxRecordBytes: z
      .number()
      .int()
      .min(1)
      .max(KINESIS_LIMITS.maxRecordBytes)
      .default(KINESIS_LIMITS.maxRecordBytes)
      .describe('Bytes per record, data plus partition key (AWS limit 1 MiB); larger records are dead-lettered.'),
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
    maxInFlightBatches: z.number().int().positive().default(4).describe('PutRecords calls in flight at once.'),
    retry: z
      .object({
        maxAttempts: z
          .number()
          .int()
          .min(1)
          .default(10)
          .describe('Attempts per record before it is dead-lettered.'),
        baseDelayMs: z.number().int().nonnegative().default(100),
        maxDelayMs: z.number().int().positive().default(10_000),
      })
      .default({ maxAttempts: 10, baseDelayMs: 100, maxDelayMs: 10_000 })
      .describe('Retries of failed entries (throttling, internal failures) with full-jitter backoff.'),
    requestTimeoutMs: z.number().int().positive().default(10_000).describe('Timeout of one PutRecords call.'),
  })
  .describe('Writes envelopes to a Kinesis Data Stream.');

export type KinesisSinkConfig = z.infer<typeof KinesisSinkSchema>;
