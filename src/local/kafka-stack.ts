/**
 * The Kafka part of `ingest local`: when a sink produces to a Kafka topic, start the local KRaft
 * broker (src/local/kafka-local.ts) where the config's brokers point (a loopback `host:port`), and
 * create the topics the sinks ask for ({@link sinkResources}), so the config reads the same as one
 * for a real cluster.
 */
import { ConfigError } from '../errors.js';
import { ensureTopics } from '../kafka/topics.js';
import type { Logger } from '../log.js';
import type { SinkResource } from '../producers/spec.js';
import { type KafkaLocal, startKafkaLocal } from './kafka-local.js';

const LOOPBACK = new Set(['127.0.0.1', 'localhost']);

type TopicResource = Extract<SinkResource, { kind: 'kafka-topic' }>;

/** The loopback port the topics' brokers name. @throws ConfigError when they name another host or disagree. */
export function localBrokerPort(topics: TopicResource[]): number {
  const ports = new Set<number>();
  for (const t of topics) {
    for (const b of t.brokers) {
      const [host, port] = [b.slice(0, b.lastIndexOf(':')), Number(b.slice(b.lastIndexOf(':') + 1))];
      if (!LOOPBACK.has(host)) {
        throw new ConfigError(
          `ingest local: sink ${t.sink} names broker ${b}; the local broker listens on the loopback only (use 127.0.0.1:PORT)`,
        );
      }
      ports.add(port);
    }
  }
  if (ports.size !== 1) {
    throw new ConfigError(
      `ingest local: the Kafka sinks name ${ports.size} broker ports; name one (127.0.0.1:PORT)`,
    );
  }
  return [...ports][0]!;
}

/**
 * Starts the local broker and creates the topics, when `resources` has any Kafka topic.
 * @returns the broker, or undefined when no sink uses Kafka.
 * @throws ConfigError (see {@link localBrokerPort}); what {@link startKafkaLocal} throws.
 */
export async function startLocalKafka(
  resources: SinkResource[],
  dataDir: string,
  logger: Logger,
): Promise<KafkaLocal | undefined> {
  const topics = resources.filter((r): r is TopicResource => r.kind === 'kafka-topic');
  if (topics.length === 0) return undefined;
  const port = localBrokerPort(topics);
  const broker = await startKafkaLocal({ dataDir, port });
  try {
    const { Kafka, logLevel } = await import('kafkajs');
    const kafka = new Kafka({
      clientId: 'ingest-local',
      brokers: [broker.bootstrap],
      logLevel: logLevel.NOTHING,
    });
    const created = await ensureTopics(
      kafka,
      topics.map((t) => ({ topic: t.name, partitions: t.partitions })),
    );
    logger.info(
      { event: 'kafka_local_started', bootstrap: broker.bootstrap, created },
      'local Kafka broker started',
    );
  } catch (err) {
    await broker.stop();
    throw err;
  }
  return broker;
}
