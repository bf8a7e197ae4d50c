/** Metrics of the Kafka sink only; the engine's metrics (every sink's) are in `../telemetry.ts`. */
import { counter } from '../../telemetry/index.js';

/**
 * New idempotent producer sessions started after a failed produce call (a new producer id: the
 * resent records may repeat ones the failed call had written; see the sink's `clientRetries`).
 */
export const producerKafkaResetsTotal = counter(
  'ingest_producer_kafka_resets_total',
  'Idempotent producer sessions restarted after a failed produce call (the resent records may repeat ones already written).',
  ['sink'],
);
