/**
 * The Kafka sink (Apache Kafka, Amazon MSK) on the one sink engine (`../engine`): the engine holds
 * the buffer, backpressure, per-key ordering, retries and dead letters; this folder supplies the
 * limits, the produce call and its error classification.
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
import { type Admin, CompressionTypes, type Kafka, type Producer } from 'kafkajs';
import { ConfigError } from '../../errors.js';
import { createKafkaClient } from '../../kafka/client.js';
import { classifyKafkaError } from '../../kafka/errors.js';
import type { Logger } from '../../log.js';
import { fullJitterDelayMs, sleepUntilAborted } from '../../retry/index.js';
import { readiness } from '../../telemetry/index.js';
import { selectBatch } from '../engine/batching.js';
import {
  type BatchUnit,
  bufferedBytesOf,
  type EngineEntry,
  type SinkDriver,
  SinkEngine,
  type UnitResult,
} from '../engine/index.js';
import { ProducerError } from '../errors.js';
import type { SinkDeps } from '../spec.js';
import type { Delivery, OutgoingRecord, Sink } from '../types.js';
import { type KafkaSinkConfig, type KafkaSinkInput, KafkaSinkSchema } from './config.js';
import { classifyProduceError, KafkaRecordTooLargeError, KafkaTopicNotFoundError } from './errors.js';
import { producerKafkaResetsTotal } from './telemetry.js';

export * from './config.js';
export * from './errors.js';

/** Dependencies of the Kafka sink; tests may inject a kafkajs client and the engine's clock. */
export interface KafkaSinkDeps extends SinkDeps {
  /** A kafkajs client. @default one built from the config's connection fields */
  kafka?: Kafka;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/** Failures that mean "not reachable yet": `start()` waits them out instead of failing. */
const UNREACHABLE = new Set(['network', 'timeout', 'throttled']);

/** What the engine needs from Kafka: limits, batch forming, the produce call and its error classes. */
class KafkaDriver implements SinkDriver {
  readonly component = 'kafka';
  readonly callName: string;
  private producer: Producer | undefined;
  private connecting: Promise<Producer> | undefined;
  /** Set by a failed call: the next call starts a new producer session first. */
  private reset = false;

  constructor(
    private readonly cfg: KafkaSinkConfig,
    private readonly kafka: Kafka,
    private readonly log: Logger,
  ) {
    this.callName = `Produce to topic "${cfg.topic}"`;
  }

  validate(record: OutgoingRecord): ProducerError | undefined {
    const bytes = bufferedBytesOf(record);
    return bytes > this.cfg.maxRecordBytes
      ? new KafkaRecordTooLargeError(bytes, this.cfg.maxRecordBytes)
      : undefined;
  }

  select(pending: readonly EngineEntry[], isBlocked: (key: string) => boolean) {
    // Relaxed per-key selection is safe here: one call in flight, and a partition keeps its
    // records in send order, so a key's records in one call are written in order.
    const s = selectBatch(pending, {
      maxBatchRecords: this.cfg.maxBatchRecords,
      maxBatchBytes: this.cfg.maxBatchBytes,
      isBlocked,
    });
    return { ...s, units: s.indexes.map((i) => ({ indexes: [i] })) };
  }

  async send(units: readonly BatchUnit[]): Promise<UnitResult[]> {
    const producer = await this.connected();
    try {
      await producer.send({
        topic: this.cfg.topic,
        acks: -1,
        timeout: this.cfg.requestTimeoutMs,
        compression: this.cfg.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
        messages: units.map((u) => {
          const r = u.entries[0]!.record;
          return {
            key: r.partitionKey,
            value: Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength),
          };
        }),
      });
    } catch (err) {
      this.reset = true;
      throw err;
    }
    return units.map(() => ({ ok: true }));
  }

  classify(err: unknown): ProducerError {
    return classifyProduceError(err);
  }

  /** The producer, connected; a new session after a failed call. */
  async connected(): Promise<Producer> {
    if (this.reset && this.producer !== undefined) {
      const old = this.producer;
      this.producer = undefined;
      this.connecting = undefined;
      this.reset = false;
      await old.disconnect().catch(() => undefined);
      producerKafkaResetsTotal.inc({ sink: this.cfg.name });
      this.log.info(
        { event: 'kafka_producer_reset' },
        'starting a new idempotent producer session after a failed call',
      );
    }
    if (this.producer !== undefined) return this.producer;
    this.connecting ??= (async () => {
      const p = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        retry: { retries: this.cfg.clientRetries, maxRetryTime: Math.min(this.cfg.retry.maxDelayMs, 30_000) },
      });
      try {
        await p.connect();
      } catch (err) {
        this.connecting = undefined;
        throw err;
      }
      this.producer = p;
      return p;
    })();
    return this.connecting;
  }

  async disconnect(): Promise<void> {
    const p = this.producer;
    this.producer = undefined;
    this.connecting = undefined;
    await p?.disconnect().catch(() => undefined);
  }
}

class KafkaSinkImpl implements Sink {
  readonly name: string;
  private readonly cfg: KafkaSinkConfig;
  private readonly log: Logger;
  private readonly kafka: Kafka;
  private readonly engine: SinkEngine;
  private readonly driver: KafkaDriver;
  private admin: Admin | undefined;
  private closePromise: Promise<void> | undefined;

  constructor(config: KafkaSinkInput, deps: KafkaSinkDeps) {
    const parsed = KafkaSinkSchema.safeParse(config);
    if (!parsed.success)
      throw new ConfigError(`kafka sink config: ${parsed.error.message}`, { cause: parsed.error });
    this.cfg = parsed.data;
    this.name = this.cfg.name;
    this.log = deps.logger.child({ component: 'kafka', sink: this.name, topic: this.cfg.topic });
    this.kafka = deps.kafka ?? createKafkaClient(this.cfg, this.log);
    this.driver = new KafkaDriver(this.cfg, this.kafka, this.log);
    this.engine = new SinkEngine({ ...this.cfg, maxInFlightBatches: 1 }, this.driver, {
      deadLetters: deps.deadLetters,
      log: this.log,
      ...(deps.sleep ? { sleep: deps.sleep } : {}),
      ...(deps.random ? { random: deps.random } : {}),
    });
  }

  private async topicExists(): Promise<boolean> {
    this.admin ??= this.kafka.admin({ retry: { retries: 1 } });
    await this.admin.connect();
    const topics = await this.admin.listTopics();
    return topics.includes(this.cfg.topic);
  }

  async start(signal?: AbortSignal): Promise<void> {
    const key = `sink:${this.name}`;
    const where = this.cfg.brokers.join(',');
    for (let attempt = 1; ; attempt++) {
      try {
        if (!(await this.topicExists())) {
          readiness.clear(key);
          const missing = new KafkaTopicNotFoundError(this.cfg.topic, this.cfg.brokers);
          this.log.error({ event: 'topic_missing', brokers: where }, missing.message);
          throw missing;
        }
        await this.driver.connected();
        readiness.clear(key);
        break;
      } catch (err) {
        if (err instanceof KafkaTopicNotFoundError) throw err;
        const f = classifyKafkaError(err);
        const failure = new ProducerError(`cannot reach Kafka at ${where}: ${f.message}`, f.failureClass, {
          retriable: f.retriable,
          cause: err,
          code: f.code,
        });
        if (!UNREACHABLE.has(f.failureClass) || signal?.aborted) {
          readiness.clear(key);
          throw failure;
        }
        readiness.set(key, `starting: ${failure.message}; retrying`);
        if (attempt === 1 || attempt % 10 === 0) {
          this.log.warn(
            { event: 'sink_waiting_for_brokers', attempt, class: f.failureClass },
            `${failure.message}; waiting for it (not ready meanwhile)`,
          );
        }
        try {
          await sleepUntilAborted(
            fullJitterDelayMs(attempt, Math.max(100, this.cfg.retry.baseDelayMs), this.cfg.retry.maxDelayMs),
            signal,
          );
        } catch {
          readiness.clear(key);
          throw failure;
        }
      }
    }
    this.log.info(
      { event: 'sink_started', brokers: where, compression: this.cfg.compression },
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

  write(records: OutgoingRecord[]): Promise<Delivery[]> {
    return this.engine.write(records);
  }

  flush(): Promise<void> {
    return this.engine.flush();
  }

  abandon(reason: string): number {
    return this.engine.abandon(reason);
  }

  close(): Promise<void> {
    this.closePromise ??= (async () => {
      await this.engine.close();
      await this.driver.disconnect();
      await this.admin?.disconnect().catch(() => undefined);
      this.log.info({ event: 'sink_closed' }, 'kafka sink closed');
    })();
    return this.closePromise;
  }

  stats() {
    return this.engine.stats();
  }
}

/**
 * Creates the Kafka sink (see the module comment for behaviour and guarantees).
 * @param config - the sink's config ({@link KafkaSinkSchema}; defaults applied here).
 * @throws ConfigError when the config does not match the schema, or a SASL password variable is unset.
 * @example
 * const sink = createKafkaSink({ type: 'kafka', topic: 'envelopes', brokers: ['127.0.0.1:9092'] }, { deadLetters, logger });
 * await sink.start();
 * await sink.write([{ source: 'fakestore.carts', partitionKey: 'fakestore.carts:1', data }]);
 */
export function createKafkaSink(
  config: KafkaSinkInput,
  deps: KafkaSinkDeps,
): Sink & { stats(): ReturnType<SinkEngine['stats']> } {
  return new KafkaSinkImpl(config, deps);
}
