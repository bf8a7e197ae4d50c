/**
 * What the Kafka sink (`src/producers/kafka`) and the Kafka bronze consumer share: the connection
 * schema, the kafkajs client built from it, error classification and topic creation.
 */
export * from './client.js';
export * from './config.js';
export * from './errors.js';
export * from './topics.js';
