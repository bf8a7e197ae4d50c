/**
 * The bronze writer: one {@link ShardWorker} per shard, a {@link ShardDiscovery} loop that finds new
 * shards, a bounded `stop()`, readiness and stats.
 */
import { DescribeStreamSummaryCommand, type KinesisClient, type Shard } from '@aws-sdk/client-kinesis';
import type { CoordinationConfig, OwnerIdentity } from '../../coordination/index.js';
import type { DeadLetterQueue } from '../../deadletter/index.js';
import { ConfigError, describeError, isRetriable } from '../../errors.js';
import type { Lake } from '../../lake/index.js';
import { openLake } from '../../lake/index.js';
import type { Logger } from '../../log.js';
import { fullJitterDelayMs, sleepUntilAborted as sleep } from '../../retry/index.js';
import { waitUntilReady } from '../../retry/ready.js';
import type { StateStore } from '../../state/index.js';
import type { Consumer, ConsumerStats, ShardStats } from '../types.js';
import { type BronzeWriterConfig, BronzeWriterSchema } from './config.js';
import { type DiscoveryHost, ShardDiscovery } from './discovery.js';
import { ConsumerError, ShutdownTimeoutError } from './errors.js';
import { kinesisClientFromEnv, listAllShards } from './kinesis.js';
import { BronzeCounters, type BronzeCounts } from './land.js';
import { type LeasedShardHost, ShardLeases } from './leases.js';
import { ShardWorker, type Signals } from './shard.js';

/** How long `ready()` waits for Kinesis before answering false. */
const READY_TIMEOUT_MS = 3_000;

/** What the writer needs from the process. */
export interface BronzeWriterDeps {
  /** Where checkpoints live, under `checkpoint/<consumer>/<stream>/<shardId>`. */
  state: StateStore;
  /** Where records that are not envelopes go, with their reason. */
  deadLetters: DeadLetterQueue;
  logger: Logger;
  /**
   * Kinesis client. By default one built from the SDK's conventions: `AWS_REGION` (or the config's
   * `region`), `AWS_ENDPOINT_URL_KINESIS` / `AWS_ENDPOINT_URL`, plain HTTP/1.1 (`NodeHttpHandler`)
   * for an `http:` endpoint, 2 attempts per call (the writer does its own backoff). A client built
   * here is destroyed by `stop()`; an injected one is left to its owner. Either way every call is
   * aborted after the config's `requestTimeoutMs`.
   */
  kinesis?: KinesisClient;
  /** Lake to write to. @default openLake(config.lakeUri) */
  lake?: Lake;
  /**
   * Shard leases shared with the other `consume` tasks (`coordination.enabled`); see leases.ts.
   * @default none: this writer reads every shard
   */
  coordination?: { config: CoordinationConfig; me: OwnerIdentity };
}

/**
 * The bronze writer. Create it with {@link createBronzeWriter}; it implements {@link Consumer}.
 */
export class BronzeWriter implements Consumer, LeasedShardHost, DiscoveryHost {
  readonly name: string;
  readonly config: BronzeWriterConfig;
  readonly kinesis: KinesisClient;
  readonly lake: Lake;
  readonly state: StateStore;
  readonly deadLetters: DeadLetterQueue;
  readonly log: Logger;
  private readonly counters: BronzeCounters;
  /** Counters behind {@link stats}. */
  readonly counts: BronzeCounts;
  /** True once `stop()` ran out of time: no more checkpoints are written. */
  abandoned = false;
  private readonly ownsKinesis: boolean;
  /** Workers of the shards read now (all listed shards, or the leased ones). */
  readonly workers = new Map<string, ShardWorker>();
  /** Shard leases, when shared with other tasks. */
  private readonly leases?: ShardLeases;
  private readonly stopController = new AbortController();
  private readonly abandonController = new AbortController();
  private started = false;
  private stopping?: Promise<void>;
  private readonly discovery = new ShardDiscovery(this, this.stopController.signal);
  /** The shard discovery loop; resolves once the writer stops. */
  private discovering: Promise<void> = Promise.resolve();

  constructor(config: BronzeWriterConfig, deps: BronzeWriterDeps) {
    const parsed = BronzeWriterSchema.safeParse(config);
    if (!parsed.success) {
      throw new ConfigError(`bronze writer config: ${parsed.error.message}`, { cause: parsed.error });
    }
    this.config = parsed.data;
    this.name = this.config.name;
    this.counters = new BronzeCounters(this.name);
    this.counts = this.counters.counts;
    this.ownsKinesis = deps.kinesis === undefined;
    this.kinesis = deps.kinesis ?? kinesisClientFromEnv(this.config.region);
    this.lake = deps.lake ?? openLake(this.config.lakeUri);
    this.state = deps.state;
    this.deadLetters = deps.deadLetters;
    this.log = deps.logger.child({
      component: 'bronze',
      consumer: this.name,
      stream: this.config.streamName,
    });
    if (deps.coordination?.config.enabled) {
      this.leases = new ShardLeases(this, deps.coordination.config, deps.coordination.me);
    }
  }

  get signals(): Signals {
    return { stop: this.stopController.signal, abandon: this.abandonController.signal };
  }

  /**
   * Lists the stream's shards and starts one reader per shard (children wait for their parents),
   * then lists them again every `shardDiscoveryIntervalSecs` (and whenever a shard ends) to read
   * the shards created since.
   * @throws StreamNotFoundError when the stream does not exist, another ConsumerError when it cannot
   * be listed, or a ConsumerError (`internal`) when called twice.
   */
  async start(): Promise<void> {
    if (this.started) throw new ConsumerError(`consumer ${this.name} was already started`, 'internal');
    this.started = true;
    const shards = await this.listShardsAtStart();
    if (this.leases) await this.leases.start(shards);
    else this.addShards(shards);
    this.log.info(
      { shards: shards.map((s) => s.ShardId), ...(this.leases ? { leased: this.leases.held() } : {}) },
      'bronze writer started',
    );
    this.discovering = this.discovery.run();
  }

  /**
   * Lists the shards at start-up, waiting (not ready, with the reason) while Kinesis does not answer:
   * otherwise an outage at start-up would make ECS restart the task in a loop. A missing stream or a
   * refused call still fails at once; `stop()` ends the wait.
   * @throws ConsumerError when the listing fails for good, or the writer stopped meanwhile.
   */
  private listShardsAtStart(): Promise<Shard[]> {
    const stream = this.config.streamName;
    return waitUntilReady(() => this.listShards(), {
      readinessKey: `bronze:${this.name}/start`,
      log: this.log,
      event: 'waiting_for_stream',
      waitingFor: 'it',
      reason: (err) => `cannot list the shards of stream ${stream}: ${describeError(err)}`,
      retry: { baseDelayMs: this.config.retryBaseDelayMs, maxDelayMs: this.config.retryMaxDelayMs },
      signal: this.stopController.signal,
    });
  }

  /** Lists every shard of the stream. @throws ConsumerError */
  listShards(): Promise<Shard[]> {
    return listAllShards(
      this.kinesis,
      this.config.streamName,
      this.stopController.signal,
      this.config.requestTimeoutMs,
    );
  }

  /** Creates a worker for a leased shard (its parents may be read by another task). */
  newWorker(shardId: string, leased: ConstructorParameters<typeof ShardWorker>[3]): ShardWorker {
    return new ShardWorker(this, shardId, [], leased);
  }

  /**
   * Starts a reader for every listed shard not read yet (parents before their children); with shard
   * leases, hands the listing to the leases instead (they start readers for the shards they take).
   */
  addShards(shards: Shard[]): void {
    if (this.leases) {
      this.leases.update(shards);
      return;
    }
    const listed = new Set(shards.map((s) => s.ShardId));
    const pending = shards.filter((s) => s.ShardId && !this.workers.has(s.ShardId));
    // Parents before children, so a child can refer to its parents' workers.
    while (pending.length > 0) {
      const i = pending.findIndex((s) =>
        [s.ParentShardId, s.AdjacentParentShardId].every((p) => !p || !listed.has(p) || this.workers.has(p)),
      );
      const [shard] = pending.splice(i === -1 ? 0 : i, 1);
      if (!shard?.ShardId) continue;
      const parents = [shard.ParentShardId, shard.AdjacentParentShardId]
        .map((p) => (p ? this.workers.get(p) : undefined))
        .filter((w): w is ShardWorker => w !== undefined);
      const worker = new ShardWorker(this, shard.ShardId, parents);
      this.workers.set(shard.ShardId, worker);
      if (!this.stopController.signal.aborted) worker.start(this.signals);
    }
  }

  /**
   * A shard was read to its end: list the shards again now (not at the next interval) to pick up
   * its children. The listing is retried until it succeeds or the writer stops.
   */
  onShardEnded(shardId: string): void {
    if (this.stopController.signal.aborted) return;
    this.log.debug({ shard: shardId }, 'shard ended: listing shards');
    this.discovery.request();
  }

  /**
   * Stops reading (in-flight GetRecords calls are aborted), then flushes every shard buffer
   * regardless of its thresholds, writes and checkpoints. Resolves within `shutdownTimeoutMs`: what
   * is not written by then is not checkpointed (and is read again next time). Never rejects.
   */
  stop(): Promise<void> {
    this.stopping ??= this.stopNow();
    return this.stopping;
  }

  private async stopNow(): Promise<void> {
    this.stopController.abort(new ConsumerError('consumer stopping', 'internal'));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.config.shutdownTimeoutMs);
    });
    // Leased: the workers flush and checkpoint (fenced, leases still renewed), then leases are released.
    const all = Promise.all([
      this.discovering,
      this.leases?.stop(),
      ...[...this.workers.values()].map((w) => w.done),
    ]).then(() => 'done' as const);
    const outcome = await Promise.race([all, deadline]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.abandoned = true;
      this.abandonController.abort(
        new ShutdownTimeoutError(
          `bronze writer ${this.name}: shutdown took over ${this.config.shutdownTimeoutMs} ms`,
        ),
      );
      this.log.error(
        { timeoutMs: this.config.shutdownTimeoutMs },
        'bronze writer stop timed out: unwritten buffers were not checkpointed and will be read again',
      );
    }
    // A stopped writer says nothing about readiness any more (its failed shards were logged).
    for (const w of this.workers.values()) w.health.release();
    if (this.ownsKinesis) this.kinesis.destroy();
    this.log.info({ ...this.stats(), shards: undefined }, 'bronze writer stopped');
  }

  /**
   * True when Kinesis answers DescribeStreamSummary, the lake answers `ping()` and no shard failed
   * (a shard marked failed also has its own `/readyz` condition, `bronze:<consumer>/<shard>`, with
   * the reason).
   */
  async ready(): Promise<boolean> {
    if ([...this.workers.values()].some((w) => w.status === 'failed')) return false;
    try {
      await this.kinesis.send(new DescribeStreamSummaryCommand({ StreamName: this.config.streamName }), {
        abortSignal: AbortSignal.timeout(READY_TIMEOUT_MS),
      });
    } catch {
      return false;
    }
    return this.lake.ping().catch(() => false);
  }

  stats(): ConsumerStats {
    const shards: Record<string, ShardStats> = {};
    let buffered = 0;
    for (const [id, w] of this.workers) {
      buffered += w.buffered;
      shards[id] = {
        state: w.status,
        ...(w.checkpoint?.sequenceNumber === undefined ? {} : { checkpoint: w.checkpoint.sequenceNumber }),
        ...(w.millisBehindLatest === undefined ? {} : { millisBehindLatest: w.millisBehindLatest }),
        ...(w.error === undefined ? {} : { error: w.error }),
      };
    }
    return { ...this.counts, recordsBuffered: buffered, shards };
  }

  /** Counts one failed attempt in `ingest_bronze_errors_total` and the stats. */
  countError(err: unknown): void {
    this.counters.countError(err);
  }

  countObject(records: number, bytes: number, uncompressedBytes: number): void {
    this.counters.countObject(records, bytes, uncompressedBytes);
  }

  countDeadLetters(n: number): void {
    this.counters.countDeadLetters(n);
  }

  /**
   * Runs `fn` until it succeeds, retrying with exponential backoff and full jitter
   * (`retryBaseDelayMs`..`retryMaxDelayMs`) while its error is retriable. Every failure is counted.
   * @throws the first non-retriable error, or ShutdownTimeoutError once `signal` aborts.
   */
  async retrying<T>(fn: () => Promise<T>, signal: AbortSignal): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      if (signal.aborted) throw signal.reason;
      try {
        return await fn();
      } catch (err) {
        this.countError(err);
        if (!isRetriable(err) || signal.aborted) throw err;
        const delay = fullJitterDelayMs(
          attempt + 1,
          this.config.retryBaseDelayMs,
          this.config.retryMaxDelayMs,
        );
        this.log.warn(
          { err: describeError(err), attempt: attempt + 1, delayMs: Math.round(delay) },
          'retrying',
        );
        await sleep(delay, signal);
      }
    }
  }
}
