/**
 * The Kafka sink (Apache Kafka, Amazon MSK) on the one sink engine (`../engine`): the engine holds
 * the buffer, backpressure, per-key ordering, retries and dead letters; this folder supplies the
 * limits, the produce call and its error classification (`./driver.ts`).
 *
 * The producer is idempotent with `acks: -1` (all in-sync replicas) and one request in flight
 * (`maxInFlightRequests: 1`, and one engine batch at a time): kafkajs's own retries within a call
 * then reuse the batch's producer id and sequence numbers, so the broker writes a batch once even
 * when a response is lost, and a partition's records are written in send order. Records are
 * partitioned by their partition key (kafkajs's default partitioner, murmur2 like the Java client),
 * so one entity's versions stay ordered in one partition. Batches are gzip-compressed by default.
 *
 * When a call fails after kafkajs's retries (`clientRetries`), the engine backs off and resends;
 * before that, the sink starts a new producer session (new producer id), because the failed call
 * may have advanced the old session's sequence numbers on some partitions. A record of such a call
 * may therefore be written twice (at-least-once, the design's guarantee; silver deduplicates by
 * id): counted in `ingest_producer_kafka_resets_total`. See docs/adr/0009-kafka-sink.md.
 */
import type { Admin, Kafka } from 'kafkajs';
import { ConfigError } from '../../errors.js';
import { createKafkaClient } from '../../kafka/client.js';
import { EngineSink, type EngineSinkDeps, engineDepsOf, LazyClient } from '../engine/sink-base.js';
import type { Sink } from '../types.js';
import { type KafkaSinkConfig, type KafkaSinkInput, KafkaSinkSchema } from './config.js';
import { KafkaDriver } from './driver.js';
import { classifyProduceError, KafkaTopicNotFoundError } from './errors.js';

export * from './config.js';
export { KafkaDriver } from './driver.js';
export * from './errors.js';

/** A kafkajs client as the engine base holds it (kafkajs has no `close`: the sink disconnects its producer and admin). */
type KafkaClient = Kafka & { close?(): void };

/** Dependencies of the Kafka sink. */
export interface KafkaSinkDeps extends EngineSinkDeps {
  /** A kafkajs client. @default one built from the config's connection fields, on first use */
  kafka?: Kafka;
}

class KafkaSinkImpl extends EngineSink<KafkaClient> {
  private admin: Admin | undefined;

  constructor(
    private readonly cfg: KafkaSinkConfig,
    deps: KafkaSinkDeps,
    client: LazyClient<KafkaClient>,
    private readonly driver: KafkaDriver,
  ) {
    super(cfg, driver, engineDepsOf(deps, driver.log), client);
  }

  private async topicExists(): Promise<boolean> {
    this.admin ??= this.client.get().admin({ retry: { retries: 1 } });
    await this.admin.connect();
    return (await this.admin.listTopics()).includes(this.cfg.topic);
  }

  /**
   * Waits for the brokers while they cannot be reached, then connects the producer.
   * @throws KafkaTopicNotFoundError when the topic does not exist; a ProducerError when the
   *   brokers refuse (authentication, authorization) or `signal` aborted.
   */
  async start(signal?: AbortSignal): Promise<void> {
    const brokers = this.cfg.brokers.join(',');
    await this.waitForDestination({
      describe: async () => {
        if (!(await this.topicExists())) throw new KafkaTopicNotFoundError(this.cfg.topic, this.cfg.brokers);
        await this.driver.connected();
      },
      classify: classifyProduceError,
      missing: (e) => (e instanceof KafkaTopicNotFoundError ? e : undefined),
      what: `Kafka topic "${this.cfg.topic}"`,
      endpoint: brokers,
      retry: this.cfg.retry,
      signal,
    });
    this.log.info(
      { event: 'sink_started', brokers, compression: this.cfg.compression },
      'kafka sink started',
    );
  }

  async ready(): Promise<boolean> {
    try {
      return await this.topicExists();
    } catch {
      return false;
    }
  }

  override async close(): Promise<void> {
    await super.close();
    await this.driver.disconnect();
    await this.admin?.disconnect().catch(() => undefined);
  }
}

/** A Kafka sink (a {@link Sink} plus `stats()`). */
export type KafkaSink = KafkaSinkImpl;

/**
 * Creates the Kafka sink (see the module comment for behaviour and guarantees).
 * @param config - the sink's config ({@link KafkaSinkSchema}; defaults applied here).
 * @throws ConfigError when the config does not match the schema, or a SASL password variable is unset.
 * @example
 * const sink = createKafkaSink({ type: 'kafka', topic: 'envelopes', brokers: ['127.0.0.1:9092'] }, { deadLetters, logger });
 * await sink.start();
 * await sink.write([{ source: 'fakestore.carts', partitionKey: 'fakestore.carts:1', data }]);
 * await sink.close();
 */
export function createKafkaSink(config: KafkaSinkInput, deps: KafkaSinkDeps): Sink & KafkaSink {
  const parsed = KafkaSinkSchema.safeParse(config);
  if (!parsed.success)
    throw new ConfigError(`kafka sink config: ${parsed.error.message}`, { cause: parsed.error });
  const cfg = parsed.data;
  const log = deps.logger.child({ component: 'kafka', sink: cfg.name, topic: cfg.topic });
  const client = new LazyClient<KafkaClient>(deps.kafka, () => createKafkaClient(cfg, log));
  return new KafkaSinkImpl(cfg, deps, client, new KafkaDriver(cfg, () => client.get(), log));
}
