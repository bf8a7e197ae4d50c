import { defineSink } from '../spec.js';
import { KafkaSinkSchema } from './config.js';

/** The Kafka sink (Apache Kafka, Amazon MSK), see `./index.ts`. */
export const kafkaSink = defineSink({
  schema: KafkaSinkSchema,
  resources: (cfg) => [
    {
      kind: 'kafka-topic',
      name: cfg.topic,
      sink: cfg.name,
      brokers: cfg.brokers,
      partitions: cfg.topicPartitions,
      ...(cfg.topicReplicationFactor === undefined ? {} : { replicationFactor: cfg.topicReplicationFactor }),
    },
  ],
  create: async (cfg, deps) => (await import('./index.js')).createKafkaSink(cfg, deps),
});
