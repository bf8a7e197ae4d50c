/**
 * What the engine needs from Kafka: the per-record limit, batch forming, the produce call and its
 * error classes; and the idempotent producer's sessions (a new one after a failed call).
 */
import { CompressionTypes, type Kafka, Partitioners, type Producer } from 'kafkajs';
import type { Logger } from '../../log.js';
import { selectBatch } from '../engine/batching.js';
import {
  type BatchUnit,
  bufferedBytesOf,
  type EngineEntry,
  type SinkDriver,
  type UnitResult,
} from '../engine/index.js';
import type { ProducerError } from '../errors.js';
import type { OutgoingRecord } from '../types.js';
import type { KafkaSinkConfig } from './config.js';
import { classifyProduceError, KafkaRecordTooLargeError } from './errors.js';
import { producerKafkaResetsTotal } from './telemetry.js';

export class KafkaDriver implements SinkDriver {
  readonly component = 'kafka';
  readonly callName: string;
  private producer: Producer | undefined;
  private connecting: Promise<Producer> | undefined;
  /** Set by a failed call: the next call starts a new producer session first. */
  private reset = false;

  constructor(
    private readonly cfg: KafkaSinkConfig,
    private readonly kafka: () => Kafka,
    readonly log: Logger,
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
    // Several records of a key per call are safe: one call in flight, and a partition keeps its
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

  /** The producer, connected; a new session (new producer id) after a failed call. */
  async connected(): Promise<Producer> {
    if (this.reset && this.producer !== undefined) {
      this.reset = false;
      await this.disconnect();
      producerKafkaResetsTotal.inc({ sink: this.cfg.name });
      this.log.info(
        { event: 'kafka_producer_reset' },
        'starting a new idempotent producer session after a failed call',
      );
    }
    if (this.producer !== undefined) return this.producer;
    this.connecting ??= (async () => {
      const p = this.kafka().producer({
        idempotent: true,
        maxInFlightRequests: 1,
        // murmur2 of the key, as the Java client: a key lands on the same partition from either.
        createPartitioner: Partitioners.DefaultPartitioner,
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

  /** Ends the producer session (pending calls fail). */
  async disconnect(): Promise<void> {
    const p = this.producer;
    this.producer = undefined;
    this.connecting = undefined;
    await p?.disconnect().catch(() => undefined);
  }
}
