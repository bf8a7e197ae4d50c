/**
 * The bronze writer for Kafka (Apache Kafka, Amazon MSK): a consumer group reads every partition of
 * a topic and lands the same gzip NDJSON objects as the Kinesis bronze writer, under
 * `bronze/source=<source>/dt=YYYY-MM-DD/hour=HH/<topic>-<partition>-<firstOffset>.json.gz` (offsets
 * zero-padded to 20 digits), through the same landing code (`land.ts`).
 *
 * Delivery: at-least-once from Kafka, idempotent in the lake. Each partition buffers records like
 * Firehose's BufferingHints (`bufferMaxBytes`, `bufferIntervalSecs`); a full or due buffer becomes
 * one object per (source, dt, hour) group, and only once every object and dead letter is durably
 * written is the partition's offset committed (autoCommit is off). A buffer always starts right
 * after the committed offset, so a replay after a crash names its objects the same and overwrites
 * them instead of duplicating (docs/adr/0009-kafka-sink.md).
 *
 * Failures are handled as in the Kinesis writer (`persist.ts`): a lake or dead-letter write that
 * fails is retried in place, nothing is committed past it, and a partition whose writes fail for
 * good past `failedShardRetryBudgetSecs` is marked failed (`/readyz`, `ingest_bronze_shard_failed`).
 * A commit refused because the group rebalanced (the partition moved to another member) drops the
 * partition's buffer: its new owner reads it again from the committed offset. Records read again
 * after a rejoin (kafkajs seeks back to the committed offset) are skipped when already buffered.
 */
import type { EachBatchPayload, Kafka, Consumer as KafkaConsumer } from 'kafkajs';
import type { DeadLetterQueue } from '../../deadletter/index.js';
import { ConfigError, describeError, failureClassOf, isRetriable } from '../../errors.js';
import { createKafkaClient } from '../../kafka/client.js';
import { classifyKafkaError } from '../../kafka/errors.js';
import { type Lake, openLake } from '../../lake/index.js';
import type { Logger } from '../../log.js';
import { waitUntilReady } from '../../retry/ready.js';
import type { Consumer, ConsumerStats, ShardStats } from '../types.js';
import { ShardBuffer } from './buffer.js';
import { ConsumerError, ShardOwnershipError, ShutdownTimeoutError, StreamNotFoundError } from './errors.js';
import { ShardHealth } from './health.js';
import { type KafkaBronzeWriterConfig, KafkaBronzeWriterSchema } from './kafka-config.js';
import { BronzeCounters, landBuffer } from './land.js';
import { persistStep, type Signals } from './persist.js';

/** Commit errors that mean the partition now belongs to another member of the group. */
const LOST_OWNERSHIP = new Set([
  'REBALANCE_IN_PROGRESS',
  'ILLEGAL_GENERATION',
  'UNKNOWN_MEMBER_ID',
  'FENCED_INSTANCE_ID',
]);

/** How often idle partitions are checked for a due buffer. */
const TICK_MS = 500;

/** Offsets in object names: zero-padded so names sort by offset. */
export const offsetName = (offset: string | number): string => String(offset).padStart(20, '0');

export interface KafkaBronzeWriterDeps {
  deadLetters: DeadLetterQueue;
  logger: Logger;
  /** A kafkajs client. @default one built from the config's connection fields */
  kafka?: Kafka;
  /** @default openLake(config.lakeUri) */
  lake?: Lake;
}

/** One partition's buffer, read position and health. All its work runs one step at a time. */
class PartitionState {
  buffer = new ShardBuffer();
  /** Last offset read (buffered or committed); later re-deliveries up to it are skipped. */
  lastOffset: number | undefined;
  /** The last committed offset (the next offset to read). */
  committed: string | undefined;
  status: ShardStats['state'] = 'reading';
  error: string | undefined;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    readonly partition: number,
    readonly health: ShardHealth,
  ) {}

  /** Runs `fn` after every earlier step of this partition. */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }
}

/** The Kafka bronze writer; see the module comment. Create it with {@link createKafkaBronzeWriter}. */
export class KafkaBronzeWriter implements Consumer {
  readonly name: string;
  readonly config: KafkaBronzeWriterConfig;
  private readonly log: Logger;
  private readonly kafka: Kafka;
  private readonly lake: Lake;
  private readonly deadLetters: DeadLetterQueue;
  private readonly counters: BronzeCounters;
  private readonly partitions = new Map<number, PartitionState>();
  private readonly stopController = new AbortController();
  private readonly abandonController = new AbortController();
  private consumer: KafkaConsumer | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private started = false;
  private stopping: Promise<void> | undefined;

  constructor(config: KafkaBronzeWriterConfig, deps: KafkaBronzeWriterDeps) {
    const parsed = KafkaBronzeWriterSchema.safeParse(config);
    if (!parsed.success) {
      throw new ConfigError(`kafka bronze writer config: ${parsed.error.message}`, { cause: parsed.error });
    }
    this.config = parsed.data;
    this.name = this.config.name;
    this.log = deps.logger.child({ component: 'bronze', consumer: this.name, topic: this.config.topic });
    this.kafka = deps.kafka ?? createKafkaClient(this.config, this.log);
    this.lake = deps.lake ?? openLake(this.config.lakeUri);
    this.deadLetters = deps.deadLetters;
    this.counters = new BronzeCounters(this.name);
  }

  private get signals(): Signals {
    return { stop: this.stopController.signal, abandon: this.abandonController.signal };
  }

  private get groupId(): string {
    return this.config.groupId ?? `ingest-bronze-${this.name}`;
  }

  /**
   * Joins the consumer group and starts reading in the background. While the brokers cannot be
   * reached it waits (not ready, with the reason); `stop()` ends the wait.
   * @throws StreamNotFoundError when the topic does not exist; a ConsumerError when the brokers
   *   refuse, or when called twice.
   */
  async start(): Promise<void> {
    if (this.started) throw new ConsumerError(`consumer ${this.name} was already started`, 'internal');
    this.started = true;
    await waitUntilReady(() => this.join(), {
      readinessKey: `bronze:${this.name}/start`,
      log: this.log,
      event: 'waiting_for_brokers',
      waitingFor: 'the brokers',
      reason: (err) => (err as Error).message,
      // A refusal (http_4xx: authorization, ...) fails at once, like a missing topic.
      retryIf: (err) => isRetriable(err) && failureClassOf(err) !== 'http_4xx',
      retry: { baseDelayMs: this.config.retryBaseDelayMs, maxDelayMs: this.config.retryMaxDelayMs },
      signal: this.stopController.signal,
    });
    this.ticker = setInterval(() => this.tick(), TICK_MS);
    this.ticker.unref();
    this.log.info({ event: 'bronze_started', groupId: this.groupId }, 'kafka bronze writer started');
  }

  /** One attempt to join the group. @throws StreamNotFoundError; a ConsumerError classified by {@link classifyKafkaError} */
  private async join(): Promise<void> {
    try {
      await this.joinOnce();
    } catch (err) {
      if (err instanceof StreamNotFoundError) throw err;
      const f = classifyKafkaError(err);
      throw new ConsumerError(`cannot join Kafka group ${this.groupId}: ${f.message}`, f.failureClass, {
        retriable: f.retriable,
        cause: err,
      });
    }
  }

  private async joinOnce(): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      if (!(await admin.listTopics()).includes(this.config.topic)) {
        throw new StreamNotFoundError(
          `Kafka topic "${this.config.topic}" does not exist on ${this.config.brokers.join(',')}`,
        );
      }
    } finally {
      await admin.disconnect();
    }
    const consumer = this.kafka.consumer({
      groupId: this.groupId,
      allowAutoTopicCreation: false,
      sessionTimeout: this.config.sessionTimeoutMs,
      maxWaitTimeInMs: 500,
      retry: { retries: 5 },
    });
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => this.onAssignment(payload.memberAssignment));
    try {
      await consumer.connect();
      await consumer.subscribe({
        topic: this.config.topic,
        fromBeginning: this.config.initialPosition === 'earliest',
      });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: (payload) => this.onBatch(payload),
      });
    } catch (err) {
      await consumer.disconnect().catch(() => undefined);
      throw err;
    }
    this.consumer = consumer;
  }

  /** A (re)join: partitions no longer ours are forgotten (their new owner reads them from the committed offset). */
  private onAssignment(assignment: Record<string, number[]>): void {
    const mine = new Set(assignment[this.config.topic] ?? []);
    for (const [p, state] of this.partitions) {
      if (mine.has(p)) continue;
      void state.serial(async () => {
        this.forget(state, 'partition assigned to another member');
      });
    }
  }

  /**
   * Drops what the partition read since its last commit (the partition moved to another member, or
   * a commit was refused because it is moving): its owner reads it again from the committed offset.
   * The state object stays, so a batch already queued behind this step cannot buffer into a lost one.
   */
  private forget(state: PartitionState, why: string): void {
    if (state.buffer.size > 0) {
      this.log.info(
        { event: 'partition_released', partition: state.partition, records: state.buffer.size, reason: why },
        'dropping an unwritten partition buffer: its records are read again from the committed offset',
      );
    }
    state.buffer = new ShardBuffer();
    state.lastOffset = undefined;
    state.health.release();
  }

  private partition(p: number): PartitionState {
    let state = this.partitions.get(p);
    if (!state) {
      state = new PartitionState(
        p,
        new ShardHealth({
          consumer: this.name,
          shard: `${this.config.topic}-${p}`,
          budgetMs: this.config.failedShardRetryBudgetSecs * 1000,
          probeIntervalMs: this.config.failedShardProbeIntervalSecs * 1000,
          log: this.log,
        }),
      );
      this.partitions.set(p, state);
    }
    return state;
  }

  private async onBatch({
    batch,
    resolveOffset,
    heartbeat,
    isRunning,
    isStale,
  }: EachBatchPayload): Promise<void> {
    if (this.stopController.signal.aborted) return;
    const state = this.partition(batch.partition);
    await state
      .serial(async () => {
        for (const m of batch.messages) {
          if (!isRunning() || isStale() || this.stopController.signal.aborted) break;
          const offset = Number(m.offset);
          if (state.lastOffset !== undefined && offset <= state.lastOffset) continue;
          const n = state.buffer.add(
            offsetName(offset),
            m.value ?? new Uint8Array(),
            m.key?.toString('utf8'),
            new Date(Number(m.timestamp)),
          );
          this.counters.counts.kinesisRecordsRead += 1;
          this.counters.counts.recordsRead += n;
          state.lastOffset = offset;
          resolveOffset(m.offset);
          if (state.buffer.bytes >= this.config.bufferMaxBytes) {
            await this.flush(state, 'size');
            await heartbeat();
          }
        }
        if (state.buffer.dueInMs(this.config.bufferIntervalSecs) <= 0) await this.flush(state, 'interval');
      })
      .catch((err) => {
        // The batch's records stay unresolved for kafkajs only up to the failure; a lost partition is
        // read again from its committed offset by its owner.
        if (err instanceof ShardOwnershipError) this.forget(state, err.message);
        else throw err;
      });
  }

  /** Flushes due buffers of partitions that received nothing lately. */
  private tick(): void {
    if (this.stopController.signal.aborted) return;
    for (const state of this.partitions.values()) {
      if (state.buffer.dueInMs(this.config.bufferIntervalSecs) > 0) continue;
      void state.serial(() => this.flush(state, 'interval')).catch((err) => this.flushFailed(state, err));
    }
  }

  private flushFailed(state: PartitionState, err: unknown): void {
    if (err instanceof ShardOwnershipError) {
      this.forget(state, err.message);
      return;
    }
    if (this.abandonController.signal.aborted) return;
    this.log.error({ partition: state.partition, err: describeError(err) }, 'kafka bronze flush failed');
  }

  /**
   * Writes the partition's buffer (objects, then dead letters), then commits the offset after its
   * last record. Runs inside the partition's serial queue.
   * @throws ShardOwnershipError when the group rebalanced away from this member; the shutdown
   *   deadline's error.
   */
  private async flush(state: PartitionState, reason: 'size' | 'interval' | 'stop'): Promise<void> {
    const b = state.buffer;
    if (b.size === 0 || state.lastOffset === undefined) return;
    const started = Date.now();
    const { topic } = this.config;
    const persist = <T>(what: string, fn: () => Promise<T>) =>
      persistStep(
        {
          config: this.config,
          log: this.log,
          shardId: `${topic}-${state.partition}`,
          health: state.health,
          countError: (err) => this.counters.countError(err),
          setStatus: (failed) => {
            state.status = failed ? 'failed' : 'reading';
            state.error = failed ? state.health.reason : undefined;
          },
        },
        what,
        fn,
        this.signals,
      );
    const { objects, bytes } = await landBuffer(
      {
        consumer: this.name,
        lake: this.lake,
        deadLetters: this.deadLetters,
        counters: this.counters,
        log: this.log,
        streamName: topic,
        shardId: String(state.partition),
        locate: (seq) => `topic ${topic}, partition ${state.partition}, offset ${Number(seq)}`,
        persist,
      },
      b,
    );
    const next = String(state.lastOffset + 1);
    await persist(`committing offset ${next} of partition ${state.partition}`, () =>
      this.commit(state.partition, next),
    );
    state.committed = next;
    state.buffer = new ShardBuffer();
    this.counters.counts.checkpointsWritten += 1;
    this.log.info(
      {
        partition: state.partition,
        reason,
        objects,
        records: b.envelopes.length,
        deadLettered: b.rejected.length,
        bytes,
        committed: next,
        durationMs: Date.now() - started,
      },
      'bronze buffer flushed',
    );
  }

  private async commit(partition: number, offset: string): Promise<void> {
    if (this.abandonController.signal.aborted) {
      throw new ShutdownTimeoutError(
        `shutdown deadline passed before offset ${offset} of partition ${partition} was committed`,
      );
    }
    const consumer = this.consumer;
    if (!consumer) throw new ConsumerError('kafka consumer not running', 'internal');
    try {
      await consumer.commitOffsets([{ topic: this.config.topic, partition, offset }]);
    } catch (err) {
      const f = classifyKafkaError(err);
      if (LOST_OWNERSHIP.has(f.code)) {
        throw new ShardOwnershipError(`partition ${partition} moved to another group member (${f.code})`, {
          cause: err,
        });
      }
      throw new ConsumerError(
        `cannot commit offset ${offset} of partition ${partition}: ${f.message}`,
        f.failureClass,
        {
          retriable: f.retriable,
          cause: err,
        },
      );
    }
  }

  /**
   * Stops fetching, flushes every partition buffer regardless of its thresholds (objects, then the
   * offset commit), and leaves the group. Resolves within `shutdownTimeoutMs`: what is not written
   * by then is not committed and is read again next time. Never rejects.
   */
  stop(): Promise<void> {
    this.stopping ??= this.stopNow();
    return this.stopping;
  }

  private async stopNow(): Promise<void> {
    this.stopController.abort(new ConsumerError('consumer stopping', 'internal'));
    if (this.ticker) clearInterval(this.ticker);
    const consumer = this.consumer;
    consumer?.pause([{ topic: this.config.topic }]);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.config.shutdownTimeoutMs);
    });
    const flushes = [...this.partitions.values()].map((s) =>
      s.serial(() => this.flush(s, 'stop')).catch((err) => this.flushFailed(s, err)),
    );
    const outcome = await Promise.race([Promise.all(flushes).then(() => 'done' as const), deadline]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.abandonController.abort(
        new ShutdownTimeoutError(
          `kafka bronze writer ${this.name}: shutdown took over ${this.config.shutdownTimeoutMs} ms`,
        ),
      );
      this.log.error(
        { timeoutMs: this.config.shutdownTimeoutMs },
        'bronze writer stop timed out: unwritten buffers were not committed and will be read again',
      );
    }
    for (const s of this.partitions.values()) s.health.release();
    await consumer
      ?.disconnect()
      .catch((err) => this.log.warn({ err: describeError(err) }, 'kafka consumer disconnect failed'));
    this.log.info({ ...this.stats(), shards: undefined }, 'bronze writer stopped');
  }

  /** True when no partition failed and the lake answers. */
  async ready(): Promise<boolean> {
    if ([...this.partitions.values()].some((s) => s.status === 'failed')) return false;
    if (this.started && this.consumer === undefined) return false;
    return this.lake.ping().catch(() => false);
  }

  stats(): ConsumerStats {
    const shards: Record<string, ShardStats> = {};
    let buffered = 0;
    for (const [p, s] of this.partitions) {
      buffered += s.buffer.size;
      shards[String(p)] = {
        state: s.status,
        ...(s.committed === undefined ? {} : { checkpoint: s.committed }),
        ...(s.error === undefined ? {} : { error: s.error }),
      };
    }
    return { ...this.counters.counts, recordsBuffered: buffered, shards };
  }
}

/**
 * Creates the Kafka bronze writer (see the module comment).
 * @throws ConfigError when the config is invalid, a SASL password variable is unset, or the lake
 *   URI is not `file://` or `s3://`.
 * @example
 * const writer = createKafkaBronzeWriter({ type: 'bronze_kafka', topic: 'envelopes', brokers: ['127.0.0.1:9092'] }, { deadLetters, logger });
 * await writer.start();
 * // ... on SIGTERM:
 * await writer.stop();
 */
export function createKafkaBronzeWriter(
  config: KafkaBronzeWriterConfig,
  deps: KafkaBronzeWriterDeps,
): KafkaBronzeWriter {
  return new KafkaBronzeWriter(config, deps);
}
