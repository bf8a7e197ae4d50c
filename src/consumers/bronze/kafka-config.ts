import { z } from 'zod';
import { checkKafkaConnection, kafkaConnectionFields } from '../../kafka/config.js';
import { BronzeWriterSchema } from './config.js';

/** The landing fields shared with the Kinesis bronze writer (same lake, buffering and failure handling). */
const landing = BronzeWriterSchema.pick({
  lakeUri: true,
  bufferMaxBytes: true,
  bufferIntervalSecs: true,
  shutdownTimeoutMs: true,
  retryBaseDelayMs: true,
  retryMaxDelayMs: true,
  failedShardRetryBudgetSecs: true,
  failedShardProbeIntervalSecs: true,
}).shape;

export const KafkaBronzeWriterSchema = z
  .strictObject({
    name: z.string().default('bronze').describe('Consumer name (metric label; the default consumer group).'),
    type: z
      .literal('bronze_kafka')
      .describe(
        'Reads every partition of a Kafka topic (a consumer group) and lands gzip NDJSON in bronze, committing offsets only after the objects are written.',
      ),
    topic: z.string().min(1).max(249).describe("Kafka topic to read (the Kafka sink's `topic`)."),
    groupId: z
      .string()
      .min(1)
      .optional()
      .describe('Consumer group; its committed offsets are the checkpoints. @default `ingest-bronze-<name>`'),
    initialPosition: z
      .enum(['earliest', 'latest'])
      .default('earliest')
      .describe('Where a partition without a committed offset starts.'),
    ...kafkaConnectionFields,
    sessionTimeoutMs: z
      .number()
      .int()
      .min(6_000)
      .max(300_000)
      .default(30_000)
      .describe(
        "Consumer group session timeout: a member silent this long loses its partitions (the broker's group.min/max.session.timeout.ms bound it).",
      ),
    ...landing,
  })
  .superRefine(checkKafkaConnection)
  .describe('The Kafka bronze writer: Kafka → gzip NDJSON under bronze/source=…/dt=…/hour=…/.');

export type KafkaBronzeWriterConfig = z.infer<typeof KafkaBronzeWriterSchema>;
