/**
 * `bootstrap()` creates a Kafka sink's topic on its own brokers (a real single-node KRaft broker
 * started by the test), with the sink's partitions, and reports it `exists` the second time.
 */
import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { bootstrap } from '../../src/bootstrap/index.js';
import { parseConfig } from '../../src/config/load.js';
import { useKafkaBroker } from '../support/kafka.js';

const k = useKafkaBroker('bootstrap-kafka');

describe('ingest bootstrap with a Kafka sink', () => {
  it('creates the topic with the configured partitions, then finds it', async () => {
    const config = parseConfig(
      [
        'sinks:',
        `  - { type: kafka, topic: boot-topic, brokers: ["${k.broker.bootstrap}"], topicPartitions: 3 }`,
        'consumers: []',
        `lake: { uri: "file://${k.root}/lake" }`,
      ].join('\n'),
      'inline',
    );
    const first = await bootstrap(config);
    expect(first.resources.filter((r) => r.kind === 'kafka topic')).toEqual([
      expect.objectContaining({ name: 'boot-topic', status: 'created' }),
    ]);
    const admin = new Kafka({ brokers: [k.broker.bootstrap], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const meta = await admin.fetchTopicMetadata({ topics: ['boot-topic'] });
      expect(meta.topics[0]!.partitions).toHaveLength(3);
    } finally {
      await admin.disconnect();
    }
    const second = await bootstrap(config);
    expect(second.resources.filter((r) => r.kind === 'kafka topic')).toEqual([
      expect.objectContaining({ name: 'boot-topic', status: 'exists' }),
    ]);
  }, 180_000);
});
