/** Creating the topics a config names (bootstrap, `ingest local`, tests). */
import type { Kafka } from 'kafkajs';

export interface TopicSpec {
  topic: string;
  /** @default the broker's num.partitions */
  partitions?: number;
  /** @default the broker's default.replication.factor */
  replicationFactor?: number;
}

/**
 * Creates every topic of `topics` that does not exist yet and waits for their leaders. Existing
 * topics are left as they are (their partition count is not changed).
 * @returns the topics it created.
 * @throws the kafkajs error when the brokers cannot be reached or refuse (authorization).
 */
export async function ensureTopics(kafka: Kafka, topics: TopicSpec[]): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.topic));
    if (missing.length === 0) return [];
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((t) => ({
        topic: t.topic,
        ...(t.partitions === undefined ? {} : { numPartitions: t.partitions }),
        ...(t.replicationFactor === undefined ? {} : { replicationFactor: t.replicationFactor }),
      })),
    });
    return missing.map((t) => t.topic);
  } finally {
    await admin.disconnect();
  }
}
