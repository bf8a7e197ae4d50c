import { z } from 'zod';
import { checkKafkaConnection, kafkaConnectionFields } from '../../kafka/config.js';
import { engineFields } from '../engine/schema.js';

/**
 * Defaults that keep a produce request within the broker's limits: `message.max.bytes` (broker,
 * default 1,048,588 bytes) caps one record batch per partition after compression, so one record
 * (key plus value) stays at 1,000,000 bytes, and one request's records at 1 MiB uncompressed
 * (Apache Kafka broker configs, "message.max.bytes"; Amazon MSK default configuration).
 */
export const KAFKA_LIMITS = {
  maxBatchRecords: 1_000,
  maxBatchBytes: 1024 * 1024,
  maxRecordBytes: 1_000_000,
} as const;

export const KafkaSinkSchema = z
  .strictObject({
    name: z.string().default('kafka').describe('Sink name that sources refer to.'),
    type: z
      .literal('kafka')
      .describe(
        'Apache Kafka or Amazon MSK through kafkajs: an idempotent producer, acks=all, one request in flight.',
      ),
    topic: z.string().min(1).max(249).describe('Topic to produce to.'),
    ...kafkaConnectionFields,
    topicPartitions: z
      .number()
      .int()
      .positive()
      .default(4)
      .describe(
        'Partitions of the topic when `ingest local` creates it (an existing topic is left as is). Records are partitioned by their partition key (murmur2, as the Java client).',
      ),
    topicReplicationFactor: z
      .number()
      .int()
      .positive()
      .optional()
      .describe("Replication factor of a created topic. @default the broker's default.replication.factor"),
    compression: z
      .enum(['gzip', 'none'])
      .default('gzip')
      .describe(
        'Record batch compression (kafkajs ships gzip only). gzip shrinks JSON envelopes several-fold on the network and in the broker for some client CPU (figures: README, "Choosing a sink").',
      ),
    maxBatchRecords: z
      .number()
      .int()
      .positive()
      .default(KAFKA_LIMITS.maxBatchRecords)
      .describe('Records per produce request.'),
    maxBatchBytes: z
      .number()
      .int()
      .positive()
      .default(KAFKA_LIMITS.maxBatchBytes)
      .describe(
        "Uncompressed bytes (keys plus values) per produce request; keep it below the broker's message.max.bytes (1,048,588 by default) so a batch fits even uncompressed.",
      ),
    maxRecordBytes: z
      .number()
      .int()
      .positive()
      .default(KAFKA_LIMITS.maxRecordBytes)
      .describe(
        "Bytes per record, key plus value; larger records are dead-lettered before sending (the broker's message.max.bytes would refuse them).",
      ),
    clientRetries: z
      .number()
      .int()
      .min(1)
      .max(20)
      .default(5)
      .describe(
        'Retries kafkajs makes within one produce call (same producer id and sequence numbers: the broker drops duplicates). When they are spent the call fails, the sink backs off (`retry`), starts a new idempotent producer session and resends: records are never dropped, but a call that had partly succeeded may repeat those records (at-least-once; silver deduplicates by id). Counted in ingest_producer_kafka_resets_total.',
      ),
    ...engineFields({
      call: 'Produce',
      throttledCodes: 'THROTTLING_QUOTA_EXCEEDED',
      throttledWhy: 'broker quotas are per time window',
      retriableFailures: 'brokers down, leader elections, timeouts, refused authorization or a missing topic',
    }),
    maxInFlightBatches: z
      .literal(1)
      .default(1)
      .describe(
        'Produce calls in flight at once: always 1. With idempotence, one request in flight keeps every partition in send order across retries (docs/adr/0009-kafka-sink.md).',
      ),
  })
  .superRefine((cfg, ctx) => {
    checkKafkaConnection(cfg, ctx);
    if (cfg.maxRecordBytes > cfg.maxBatchBytes) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxRecordBytes'],
        message: `maxRecordBytes (${cfg.maxRecordBytes}) must be <= maxBatchBytes (${cfg.maxBatchBytes})`,
      });
    }
  })
  .describe('Writes envelopes to a Kafka topic (Apache Kafka, Amazon MSK).');

export type KafkaSinkConfig = z.infer<typeof KafkaSinkSchema>;
export type KafkaSinkInput = z.input<typeof KafkaSinkSchema>;
