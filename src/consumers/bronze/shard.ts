/**
 * One shard's reader: reads from its checkpoint, buffers, writes the buffer's objects (and dead
 * letters) to the lake, and only then checkpoints.
 */
import { GetRecordsCommand, type GetRecordsCommandOutput, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { DeadLetterQueue } from '../../deadletter/index.js';
import { describeError } from '../../errors.js';
import type { Lake } from '../../lake/index.js';
import type { Logger } from '../../log.js';
import { equalJitterDelayMs, fullJitterDelayMs, sleepUntilAborted as sleep } from '../../retry/index.js';
import type { StateStore } from '../../state/index.js';
import type { ConsumerStats, ShardStats } from '../types.js';
import { ShardBuffer } from './buffer.js';
import { CheckpointStore, checkpointKey, type ShardCheckpoint } from './checkpoint.js';
import type { BronzeWriterConfig } from './config.js';
import { IteratorExpiredError, kinesisError, ShardOwnershipError, ShutdownTimeoutError } from './errors.js';
import { ShardHealth } from './health.js';
import { GET_RECORDS_MIN_INTERVAL_MS, getShardIterator, kinesisCall } from './kinesis.js';
import { landBuffer } from './land.js';
import { persistStep, type Signals } from './persist.js';
import {
  bronzeBehindLatestSeconds,
  bronzeCheckpointLagSeconds,
  bronzeRecordsTotal,
  bronzeShardRestartsTotal,
} from './telemetry.js';

export type { Signals } from './persist.js';

/** What a shard worker needs from its writer (the {@link BronzeWriter}). */
export interface ShardHost {
  readonly config: BronzeWriterConfig;
  readonly log: Logger;
  readonly kinesis: KinesisClient;
  readonly lake: Lake;
  readonly state: StateStore;
  readonly deadLetters: DeadLetterQueue;
  /** Counters behind the writer's stats. */
  readonly counts: Omit<ConsumerStats, 'shards' | 'recordsBuffered'>;
  /** True once `stop()` ran out of time: no more checkpoints are written. */
  readonly abandoned: boolean;
  retrying<T>(fn: () => Promise<T>, signal: AbortSignal): Promise<T>;
  countError(err: unknown): void;
  countObject(records: number, bytes: number, uncompressedBytes: number): void;
  countDeadLetters(n: number): void;
  onShardEnded(shardId: string): void;
}

/** Reads one shard. */
export class ShardWorker {
  status: ShardStats['state'] = 'waiting';
  error?: string;
  millisBehindLatest?: number;
  checkpoint?: ShardCheckpoint;
  private readonly checkpoints: CheckpointStore;
  private buffer = new ShardBuffer();
  private iterator?: string;
  private lastCallAtMs = 0;
  /** Failures since the shard last checkpointed (or started): the exponent of the restart backoff. */
  private failuresSinceCheckpoint = 0;
  private readonly endedDeferred: { promise: Promise<void>; resolve: () => void };
  private readonly parentsEnded?: (stop: AbortSignal) => Promise<void>;
  /** Whether the shard is failing for good (non-retriable failures past the retry budget). */
  readonly health: ShardHealth;
  done: Promise<void> = Promise.resolve();

  /** Whether the shard has listed parents (it then starts at TRIM_HORIZON once they ended). */
  private readonly hasParents: boolean;

  constructor(
    private readonly writer: ShardHost,
    readonly shardId: string,
    /** Parent shards (listed ones only) that must be read to their end first. */
    readonly parents: ShardWorker[],
    /**
     * Shard leases: the (fenced) store of this shard's checkpoint, and a wait for parents read by
     * any task to end. @default the writer's store, no extra wait
     */
    leased?: { state: StateStore; hasParents: boolean; parentsEnded: (stop: AbortSignal) => Promise<void> },
  ) {
    this.hasParents = parents.length > 0 || (leased?.hasParents ?? false);
    this.parentsEnded = leased?.parentsEnded;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => {
      resolve = r;
    });
    this.endedDeferred = { promise, resolve };
    this.checkpoints = new CheckpointStore(
      leased?.state ?? writer.state,
      checkpointKey(writer.config.name, writer.config.streamName, shardId),
    );
    this.health = new ShardHealth({
      consumer: writer.config.name,
      shard: shardId,
      budgetMs: writer.config.failedShardRetryBudgetSecs * 1000,
      probeIntervalMs: writer.config.failedShardProbeIntervalSecs * 1000,
      log: writer.log,
    });
  }

  /** Resolves once the shard was read to its end and checkpointed as such. */
  get ended(): Promise<void> {
    return this.endedDeferred.promise;
  }

  get buffered(): number {
    return this.buffer.size;
  }

  private get cfg(): BronzeWriterConfig {
    return this.writer.config;
  }

  private get log(): Logger {
    return this.writer.log;
  }

  /** Starts reading in the background; {@link done} resolves once the worker stopped (never rejects). */
  start(signals: Signals): void {
    this.done = this.supervise(signals);
  }

  /**
   * Runs the worker, and after a failure that is not the writer stopping restarts it from its
   * checkpoint after a backoff (the buffer was not checkpointed: it is dropped and read again). Such
   * failures (a Kinesis read or checkpoint read failing with a non-retriable error) count against
   * the shard's retry budget like failed writes do: past it the shard is marked failed and restarted
   * every `failedShardProbeIntervalSecs` until a read succeeds. A shard another writer took over
   * (ShardOwnershipError), or a failure while stopping, is left `failed`.
   */
  private async supervise(signals: Signals): Promise<void> {
    for (;;) {
      try {
        await this.run(signals);
        return;
      } catch (err) {
        if (signals.stop.aborted && err === signals.stop.reason) return;
        this.status = 'failed';
        this.error = describeError(err);
        if (err instanceof ShardOwnershipError) {
          this.log.error({ shard: this.shardId, err }, 'bronze writer gave up on a shard');
          return;
        }
        if (signals.stop.aborted) {
          this.log.error(
            { shard: this.shardId, err: describeError(err), recordsNotCheckpointed: this.buffered },
            'bronze writer stopped a shard with unwritten records: they are not checkpointed and are read again on the next start',
          );
          return;
        }
        const failed = this.health.permanentFailure(`reading shard ${this.shardId}`, err);
        if (failed) this.setFailed(true);
        const delay = failed
          ? this.cfg.failedShardProbeIntervalSecs * 1000
          : equalJitterDelayMs(
              this.failuresSinceCheckpoint++,
              this.cfg.retryBaseDelayMs,
              this.cfg.retryMaxDelayMs,
            );
        const log = failed ? this.log.debug.bind(this.log) : this.log.error.bind(this.log);
        log(
          { shard: this.shardId, err: describeError(err), restartInMs: Math.round(delay) },
          'bronze shard worker failed: restarting it from its checkpoint',
        );
        try {
          await sleep(delay, signals.stop);
        } catch {
          return;
        }
        this.resetForRestart();
        bronzeShardRestartsTotal.inc(this.labels());
      }
    }
  }

  /** Forgets what was read since the checkpoint: a restarted worker reads it again from there. */
  private resetForRestart(): void {
    this.buffer = new ShardBuffer();
    this.iterator = undefined;
    if (!this.health.failed) {
      this.status = 'waiting';
      this.error = undefined;
    }
  }

  private async run(signals: Signals): Promise<void> {
    if (this.parents.length > 0) {
      const stopped = new Promise<void>((resolve) => {
        if (signals.stop.aborted) resolve();
        signals.stop.addEventListener('abort', () => resolve(), { once: true });
      });
      await Promise.race([Promise.all(this.parents.map((p) => p.ended)), stopped]);
    }
    if (this.parentsEnded && !signals.stop.aborted) await this.parentsEnded(signals.stop);
    if (signals.stop.aborted) return;
    this.checkpoint = await this.writer.retrying(() => this.checkpoints.read(), signals.stop);
    if (this.checkpoint?.shardEnd) {
      this.markEnded();
      return;
    }
    if (!this.health.failed) this.status = 'reading';
    this.log.info(
      { shard: this.shardId, checkpoint: this.checkpoint?.sequenceNumber ?? null },
      'bronze writer reading shard',
    );
    await this.readLoop(signals);
    // Stopped: write what was read, regardless of the buffer's thresholds. (After a failure the
    // buffer is left alone: it was not checkpointed, so it is read again on the next start.)
    if (this.buffered > 0) await this.flush('stop', signals);
  }

  private async readLoop(signals: Signals): Promise<void> {
    let attempt = 0;
    while (!signals.stop.aborted) {
      let res: GetRecordsCommandOutput;
      try {
        if (!this.iterator) this.iterator = await this.getIterator(signals.stop);
        const wait = this.lastCallAtMs + GET_RECORDS_MIN_INTERVAL_MS - Date.now();
        if (wait > 0) await sleep(wait, signals.stop);
        this.lastCallAtMs = Date.now();
        const iterator = this.iterator;
        res = await kinesisCall(
          'GetRecords',
          this.cfg.streamName,
          this.cfg.requestTimeoutMs,
          signals.stop,
          (abortSignal) =>
            this.writer.kinesis.send(
              new GetRecordsCommand({ ShardIterator: iterator, Limit: this.cfg.maxRecordsPerGet }),
              { abortSignal },
            ),
        );
      } catch (err) {
        if (signals.stop.aborted) return;
        const e = kinesisError(err, 'GetRecords', this.cfg.streamName);
        this.writer.countError(e);
        if (e instanceof IteratorExpiredError) {
          this.log.warn({ shard: this.shardId }, 'shard iterator expired: getting a new one');
          this.iterator = undefined;
          continue;
        }
        if (!e.retriable) throw e;
        const delay = fullJitterDelayMs(++attempt, this.cfg.retryBaseDelayMs, this.cfg.retryMaxDelayMs);
        this.log.warn(
          { shard: this.shardId, err: describeError(e), delayMs: Math.round(delay) },
          'GetRecords failed: backing off',
        );
        try {
          await sleep(Math.max(delay, GET_RECORDS_MIN_INTERVAL_MS), signals.stop);
        } catch {
          return;
        }
        continue;
      }
      attempt = 0;
      this.health.recovered();
      this.setFailed(false);
      this.millisBehindLatest = res.MillisBehindLatest;
      if (res.MillisBehindLatest !== undefined) {
        bronzeBehindLatestSeconds.set(this.labels(), res.MillisBehindLatest / 1000);
      }
      const records = res.Records ?? [];
      for (const r of records) {
        this.add(
          r.SequenceNumber ?? '',
          r.Data ?? new Uint8Array(),
          r.PartitionKey,
          r.ApproximateArrivalTimestamp,
        );
        if (this.buffer.bytes >= this.cfg.bufferMaxBytes) await this.flush('size', signals);
      }
      this.iterator = res.NextShardIterator;
      if (!this.iterator) {
        // A closed shard read to its end: write the rest, checkpoint it as ended, let children go.
        await this.flush('shard_end', signals, true);
        this.markEnded();
        this.writer.onShardEnded(this.shardId);
        return;
      }
      if (this.buffer.dueInMs(this.cfg.bufferIntervalSecs) <= 0) await this.flush('interval', signals);
      this.updateLag();
      const caughtUp = records.length === 0 && (res.MillisBehindLatest ?? 0) === 0;
      if (caughtUp) {
        try {
          await sleep(
            Math.max(0, Math.min(this.cfg.pollIntervalMs, this.buffer.dueInMs(this.cfg.bufferIntervalSecs))),
            signals.stop,
          );
        } catch {
          return;
        }
      }
    }
  }

  private markEnded(): void {
    this.status = 'ended';
    bronzeCheckpointLagSeconds.set(this.labels(), 0);
    this.endedDeferred.resolve();
  }

  private labels(): { consumer: string; shard: string } {
    return { consumer: this.cfg.name, shard: this.shardId };
  }

  /** Where to resume: after the last record read (buffered) or checkpointed, else the start position. */
  private getIterator(signal: AbortSignal): Promise<string> {
    const after = this.buffer.lastSequenceNumber ?? this.checkpoint?.sequenceNumber;
    // A child shard starts at its beginning: its parents were read to their end first.
    const type = this.hasParents ? 'TRIM_HORIZON' : this.cfg.initialPosition;
    return getShardIterator(
      this.writer.kinesis,
      this.cfg.streamName,
      this.shardId,
      after ? { after } : { type },
      signal,
      this.cfg.requestTimeoutMs,
    );
  }

  private add(sequenceNumber: string, data: Uint8Array, partitionKey?: string, arrival?: Date): void {
    const read = this.buffer.add(sequenceNumber, data, partitionKey, arrival);
    this.writer.counts.kinesisRecordsRead += 1;
    this.writer.counts.recordsRead += read;
    bronzeRecordsTotal.inc({ consumer: this.cfg.name, outcome: 'read' }, read);
  }

  /**
   * Checkpoint lag: now − arrival of the last checkpointed record, but while records are buffered at
   * most the age of the oldest buffered one (an idle shard does not report its idle time), and 0
   * when the shard is caught up with nothing buffered.
   */
  private updateLag(): void {
    const now = Date.now();
    let lagMs = 0;
    if (this.buffered > 0 || (this.millisBehindLatest ?? 0) > 0) {
      const cp = this.checkpoint?.approximateArrivalMs;
      const first = this.buffer.firstArrivalMs;
      const from = cp !== undefined && first !== undefined ? Math.max(cp, first) : (cp ?? first);
      lagMs = from === undefined ? 0 : Math.max(0, now - from);
    }
    bronzeCheckpointLagSeconds.set(this.labels(), lagMs / 1000);
  }

  /**
   * Writes the buffer: one object per (source, dt, hour) group, then the dead letters, then the
   * checkpoint; only then is the buffer cleared. Each step is retried until it succeeds (see
   * {@link persist}): a failing lake never lets the checkpoint move past unwritten records, and the
   * shard reads nothing more meanwhile (its buffer stays bounded). When the writer stops, what is
   * not written by the shutdown deadline is not checkpointed and is read again on the next start.
   * @throws ShardOwnershipError, ShutdownTimeoutError at the deadline, or a non-retriable failure
   * while stopping.
   */
  async flush(
    reason: 'size' | 'interval' | 'stop' | 'shard_end',
    signals: Signals,
    shardEnd = false,
  ): Promise<void> {
    const b = this.buffer;
    if (b.lastSequenceNumber === undefined && !shardEnd) return;
    const started = Date.now();
    const cfg = this.cfg;
    const { objects, bytes } = await landBuffer(
      {
        consumer: cfg.name,
        lake: this.writer.lake,
        deadLetters: this.writer.deadLetters,
        counters: this.writer,
        log: this.log,
        streamName: cfg.streamName,
        shardId: this.shardId,
        locate: (seq) => `stream ${cfg.streamName}, shard ${this.shardId}, sequence ${seq}`,
        persist: (what, fn) => this.persist(what, fn, signals),
      },
      b,
    );
    const sequenceNumber = b.lastSequenceNumber ?? this.checkpoint?.sequenceNumber;
    const arrivalMs =
      b.lastSequenceNumber !== undefined ? b.lastArrivalMs : this.checkpoint?.approximateArrivalMs;
    this.checkpoint = await this.persist(
      `checkpointing at ${sequenceNumber ?? 'the shard end'}`,
      async () => {
        const checkpoint: ShardCheckpoint = {
          ...(sequenceNumber === undefined ? {} : { sequenceNumber }),
          ...(arrivalMs === undefined ? {} : { approximateArrivalMs: arrivalMs }),
          ...(shardEnd ? { shardEnd: true } : {}),
          updatedAt: new Date().toISOString(),
        };
        await this.saveCheckpoint(checkpoint);
        return checkpoint;
      },
      signals,
    );
    this.failuresSinceCheckpoint = 0;
    this.buffer = new ShardBuffer();
    this.updateLag();
    this.log.info(
      {
        shard: this.shardId,
        reason,
        objects,
        records: b.envelopes.length,
        deadLettered: b.rejected.length,
        bytes,
        checkpoint: sequenceNumber ?? null,
        durationMs: Date.now() - started,
      },
      'bronze buffer flushed',
    );
  }

  /** Runs one durable step of a flush until it succeeds (see {@link persistStep}). */
  private persist<T>(what: string, fn: () => Promise<T>, signals: Signals): Promise<T> {
    return persistStep(
      {
        config: this.cfg,
        log: this.log,
        shardId: this.shardId,
        health: this.health,
        countError: (err) => this.writer.countError(err),
        setStatus: (failed) => this.setFailed(failed),
      },
      what,
      fn,
      signals,
    );
  }

  /** Marks the shard failed (with the health's reason) or, after a success, healthy again. */
  private setFailed(failed: boolean): void {
    if (failed) {
      this.status = 'failed';
      this.error = this.health.reason;
    } else if (this.status === 'failed') {
      this.status = 'reading';
      this.error = undefined;
    }
  }

  private async saveCheckpoint(checkpoint: ShardCheckpoint): Promise<void> {
    if (this.writer.abandoned) {
      throw new ShutdownTimeoutError(
        `shutdown deadline passed before checkpoint ${this.checkpoints.key} was written`,
      );
    }
    await this.checkpoints.write(checkpoint);
    this.writer.counts.checkpointsWritten += 1;
  }
}
