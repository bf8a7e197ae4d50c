import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { silentLogger } from '../log.js';
import { localBrokerPort, startLocalKafka } from './kafka-stack.js';

const topic = (brokers: string[]) => ({
  kind: 'kafka-topic' as const,
  name: 't',
  sink: 'k',
  brokers,
  partitions: 1,
});

describe('ingest local: the Kafka broker', () => {
  it('listens on the one loopback port the sinks name', () => {
    expect(localBrokerPort([topic(['127.0.0.1:19092']), topic(['localhost:19092'])])).toBe(19092);
    expect(() => localBrokerPort([topic(['kafka.example.com:9092'])])).toThrow(ConfigError);
    expect(() => localBrokerPort([topic(['127.0.0.1:1']), topic(['127.0.0.1:2'])])).toThrow(/2 broker ports/);
  });

  it('starts nothing when no sink uses Kafka', async () => {
    expect(
      await startLocalKafka([{ kind: 'kinesis-stream', name: 's', sink: 'k' }], '/nonexistent', silentLogger),
    ).toBeUndefined();
  });
});
