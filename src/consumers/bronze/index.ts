/**
 * The bronze writer: reads every shard of a Kinesis stream and lands gzip NDJSON objects under
 * `bronze/source=<source>/dt=YYYY-MM-DD/hour=HH/<stream>-<shardId>-<firstSequenceNumber>.json.gz`
 * (UTC, from each envelope's `ingested_at`), the same layout Firehose writes in AWS.
 *
 * Delivery: at-least-once from Kinesis, idempotent in the lake. Each shard buffers records like
 * Firehose's BufferingHints (size `bufferMaxBytes`, 1-128 MiB; time `bufferIntervalSecs`, 0-900 s);
 * a full or due buffer becomes one object per (source, dt, hour) group, and only once every object
 * (and every dead letter) is durably written is the shard checkpointed at the buffer's last sequence
 * number. A buffer always starts right after the checkpoint, so a replay names its objects the same
 * and overwrites them instead of duplicating. Records that are not envelopes go to the dead-letter
 * location with their reason, counted: never dropped.
 *
 * Reading follows the Kinesis GetRecords limits (API reference, "GetRecords"): at most 5 calls per
 * second per shard, up to 10,000 records or 10 MiB per call, 2 MiB/s per shard; throttling
 * (`ProvisionedThroughputExceededException`) is retried after a backoff, an expired iterator is
 * replaced by one after the last record read. Every Kinesis call is aborted after
 * `requestTimeoutMs` (and retried like any network failure). Closed (parent) shards are read to their
 * end before their children; the shards are listed again whenever a parent ends and every
 * `shardDiscoveryIntervalSecs`, retrying a failed listing, so children of a reshard are always found.
 *
 * A shard worker that fails on an error that is not retriable is restarted from its checkpoint after
 * a backoff (`ingest_bronze_shard_restarts_total`), unless another writer took the shard over
 * (ShardOwnershipError): that shard is left to its new owner.
 */
import {
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  type Shard,
  type ShardIteratorType,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { DeadLetter, DeadLetterQueue } from '../../deadletter/index.js';
import { ConfigError, describeError, failureClassOf, isRetriable, StateConflictError } from '../../errors.js';
import type { Lake } from '../../lake/index.js';
import { openLake } from '../../lake/index.js';
import type { Logger } from '../../log.js';
import type { StateStore } from '../../state/index.js';
import type { Consumer, ConsumerStats, ShardStats } from '../types.js';
import { type BronzeWriterConfig, BronzeWriterSchema } from './config.js';
import {
  BronzeWriteError,
  CheckpointError,
  ConsumerError,
  IteratorExpiredError,
  kinesisError,
  ShardOwnershipError,
  ShutdownTimeoutError,
  StreamReadError,
} from './errors.js';
import { gzipNdjson, planObjects } from './objects.js';
import { type ParsedEnvelope, parseRecord, type RejectedRecord } from './records.js';
import {
  bronzeBehindLatestSeconds,
  bronzeBytesWrittenTotal,
  bronzeCheckpointLagSeconds,
  bronzeErrorsTotal,
  bronzeObjectsWrittenTotal,
  bronzeRecordsTotal,
  bronzeShardRestartsTotal,
  bronzeUncompressedBytesTotal,
  bronzeWriteDurationSeconds,
} from './telemetry.js';

export type { BronzeWriterConfig } from './config.js';
export { BronzeWriterSchema } from './config.js';
export * from './errors.js';
export {
  type BronzeObjectPlan,
  bronzeKey,
  encodeNdjson,
  gunzipNdjson,
  gzipNdjson,
  planObjects,
} from './objects.js';
export {
  type ParsedEnvelope,
  type ParsedRecord,
  parseRecord,
  partitionOf,
  type RejectedRecord,
  type ShardRecord,
  SOURCE_PATTERN,
  validateEnvelope,
} from './records.js';

/**
 * GetRecords may be called at most 5 times per second per shard (Kinesis API reference,
 * "GetRecords"), so calls on one shard are spaced by at least this many milliseconds.
 */
export const GET_RECORDS_MIN_INTERVAL_MS = 200;

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
}

/** A shard checkpoint as stored in the state store. */
export interface ShardCheckpoint {
  /** Last sequence number whose record is durably in the lake (or the dead-letter location). */
  sequenceNumber?: string;
  /** `ApproximateArrivalTimestamp` of that record, epoch milliseconds. */
  approximateArrivalMs?: number;
  /** True once a closed shard was read to its end: it is never read again. */
  shardEnd?: boolean;
  /** When the checkpoint was written, ISO-8601 UTC. */
  updatedAt: string;
}

/** The state-store key of a shard's checkpoint: `checkpoint/<consumer>/<stream>/<shardId>`. */
export function checkpointKey(consumer: string, streamName: string, shardId: string): string {
  return `checkpoint/${consumer}/${streamName}/${shardId}`;
}

/** Default time one Kinesis call may take (the config's `requestTimeoutMs`). */
const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/**
 * Builds a Kinesis client from the environment (see {@link BronzeWriterDeps.kinesis}). For an
 * `http:` endpoint the `NodeHttpHandler` throws once an attempt exceeds `requestTimeoutMs`
 * (`throwOnRequestTimeout`: without it the handler only logs a warning).
 * @param region - overrides `AWS_REGION`.
 * @param requestTimeoutMs - time one HTTP attempt may take. @default 30000
 */
export function kinesisClientFromEnv(region?: string, requestTimeoutMs = 30_000): KinesisClient {
  const endpoint = process.env.AWS_ENDPOINT_URL_KINESIS ?? process.env.AWS_ENDPOINT_URL;
  return new KinesisClient({
    ...(region ? { region } : {}),
    ...(endpoint ? { endpoint } : {}),
    maxAttempts: 2,
    ...(endpoint?.startsWith('http:')
      ? {
          requestHandler: new NodeHttpHandler({
            connectionTimeout: 5_000,
            requestTimeout: requestTimeoutMs,
            throwOnRequestTimeout: true,
          }),
        }
      : {}),
  });
}

/**
 * Runs one Kinesis call with an abort signal that fires when `stop` aborts or after `timeoutMs`,
 * whichever comes first.
 * @param call - sends the command with the given signal as its `abortSignal`.
 * @throws StreamReadError (`timeout`, retriable) when the call took longer than `timeoutMs`, else
 * the call's error mapped by {@link kinesisError} (an abort by `stop` included).
 */
export async function kinesisCall<T>(
  operation: string,
  streamName: string,
  timeoutMs: number,
  stop: AbortSignal | undefined,
  call: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    return await call(stop ? AbortSignal.any([stop, timeout]) : timeout);
  } catch (err) {
    if (timeout.aborted && !stop?.aborted && !(err instanceof ConsumerError)) {
      throw new StreamReadError(`${operation} on stream ${streamName} timed out after ${timeoutMs} ms`, {
        cause: err,
        failureClass: 'timeout',
      });
    }
    throw kinesisError(err, operation, streamName);
  }
}

/**
 * Lists every shard of a stream (ListShards, following `NextToken`; open and closed shards still
 * within the retention period).
 * @param signal - aborts the listing (the writer stopping).
 * @param requestTimeoutMs - time each ListShards call may take. @default 10000
 * @throws ConsumerError (see {@link kinesisError}); a StreamReadError (`timeout`) when a call timed out.
 */
export async function listAllShards(
  kinesis: KinesisClient,
  streamName: string,
  signal?: AbortSignal,
  requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
): Promise<Shard[]> {
  const shards: Shard[] = [];
  let nextToken: string | undefined;
  do {
    const token = nextToken;
    const res = await kinesisCall('ListShards', streamName, requestTimeoutMs, signal, (abortSignal) =>
      kinesis.send(new ListShardsCommand(token ? { NextToken: token } : { StreamName: streamName }), {
        abortSignal,
      }),
    );
    shards.push(...(res.Shards ?? []));
    nextToken = res.NextToken;
  } while (nextToken);
  return shards;
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Exponential backoff with full jitter: a random delay in [0, min(max, base * 2^attempt)]. */
function backoffMs(attempt: number, baseMs: number, maxMs: number): number {
  return Math.random() * Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
}

/**
 * Backoff with "equal jitter": a random delay in [cap/2, cap], cap = min(max, base * 2^attempt).
 * Used where a near-zero delay would turn a persistent failure into a busy loop (shard restarts).
 */
function equalJitterBackoffMs(attempt: number, baseMs: number, maxMs: number): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return cap / 2 + (Math.random() * cap) / 2;
}

function emptyStats(): Omit<ConsumerStats, 'shards' | 'recordsBuffered'> {
  return {
    kinesisRecordsRead: 0,
    recordsRead: 0,
    recordsLanded: 0,
    recordsDeadLettered: 0,
    objectsWritten: 0,
    bytesWritten: 0,
    uncompressedBytesWritten: 0,
    checkpointsWritten: 0,
    errors: 0,
  };
}

/** Records read from one shard since its last checkpoint. */
interface ShardBuffer {
  envelopes: ParsedEnvelope[];
  rejected: RejectedRecord[];
  /** Uncompressed bytes (NDJSON lines with newlines, plus rejected data). */
  bytes: number;
  /** When the first record entered the buffer (epoch ms). */
  startedAtMs?: number;
  /** Last sequence number in the buffer. */
  lastSequenceNumber?: string;
  lastArrivalMs?: number;
  firstArrivalMs?: number;
}

function newBuffer(): ShardBuffer {
  return { envelopes: [], rejected: [], bytes: 0 };
}

/** The stop signals of a writer: `stop` ends reading, `abandon` ends retries at the shutdown deadline. */
interface Signals {
  stop: AbortSignal;
  abandon: AbortSignal;
}

/** Reads one shard. */
class ShardWorker {
  status: ShardStats['state'] = 'waiting';
  error?: string;
  millisBehindLatest?: number;
  checkpoint?: ShardCheckpoint;
  private checkpointVersion = 0;
  private buffer = newBuffer();
  private iterator?: string;
  private lastCallAtMs = 0;
  /** Failures since the shard last checkpointed (or started): the exponent of the restart backoff. */
  private failuresSinceCheckpoint = 0;
  private readonly endedDeferred: { promise: Promise<void>; resolve: () => void };
  done: Promise<void> = Promise.resolve();

  constructor(
    private readonly writer: BronzeWriter,
    readonly shardId: string,
    /** Parent shards (listed ones only) that must be read to their end first. */
    readonly parents: ShardWorker[],
  ) {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => {
      resolve = r;
    });
    this.endedDeferred = { promise, resolve };
  }

  /** Resolves once the shard was read to its end and checkpointed as such. */
  get ended(): Promise<void> {
    return this.endedDeferred.promise;
  }

  get buffered(): number {
    return this.buffer.envelopes.length + this.buffer.rejected.length;
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
   * checkpoint after a backoff (the buffer was not checkpointed: it is dropped and read again).
   * A shard another writer took over (ShardOwnershipError), or a failure while stopping, is left
   * `failed`.
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
        if (err instanceof ShardOwnershipError || signals.stop.aborted) {
          this.log.error({ shard: this.shardId, err }, 'bronze writer gave up on a shard');
          return;
        }
        const delay = equalJitterBackoffMs(
          this.failuresSinceCheckpoint++,
          this.cfg.retryBaseDelayMs,
          this.cfg.retryMaxDelayMs,
        );
        this.log.error(
          { shard: this.shardId, err, restartInMs: Math.round(delay) },
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
    this.buffer = newBuffer();
    this.iterator = undefined;
    this.status = 'waiting';
    this.error = undefined;
  }

  private async run(signals: Signals): Promise<void> {
    if (this.parents.length > 0) {
      const stopped = new Promise<void>((resolve) => {
        if (signals.stop.aborted) resolve();
        signals.stop.addEventListener('abort', () => resolve(), { once: true });
      });
      await Promise.race([Promise.all(this.parents.map((p) => p.ended)), stopped]);
    }
    if (signals.stop.aborted) return;
    const key = this.checkpointKey();
    const stored = await this.writer.retrying(async () => {
      try {
        return await this.writer.state.get<ShardCheckpoint>(key);
      } catch (err) {
        throw new CheckpointError(`cannot read checkpoint ${key}`, {
          cause: err,
          retriable: isRetriable(err),
        });
      }
    }, signals.stop);
    this.checkpoint = stored?.value;
    this.checkpointVersion = stored?.version ?? 0;
    if (this.checkpoint?.shardEnd) {
      this.markEnded();
      return;
    }
    this.status = 'reading';
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
        const delay = backoffMs(attempt++, this.cfg.retryBaseDelayMs, this.cfg.retryMaxDelayMs);
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
      if (this.dueInMs() <= 0) await this.flush('interval', signals);
      this.updateLag();
      const caughtUp = records.length === 0 && (res.MillisBehindLatest ?? 0) === 0;
      if (caughtUp) {
        try {
          await sleep(Math.max(0, Math.min(this.cfg.pollIntervalMs, this.dueInMs())), signals.stop);
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

  private checkpointKey(): string {
    return checkpointKey(this.cfg.name, this.cfg.streamName, this.shardId);
  }

  /** Milliseconds until the buffer is due by time; Infinity when empty. */
  private dueInMs(): number {
    if (this.buffer.startedAtMs === undefined) return Number.POSITIVE_INFINITY;
    return this.buffer.startedAtMs + this.cfg.bufferIntervalSecs * 1000 - Date.now();
  }

  /** Where to resume: after the last record read (buffered) or checkpointed, else the start position. */
  private async getIterator(signal: AbortSignal): Promise<string> {
    const after = this.buffer.lastSequenceNumber ?? this.checkpoint?.sequenceNumber;
    // A child shard starts at its beginning: its parents were read to their end first.
    const type: ShardIteratorType = after
      ? 'AFTER_SEQUENCE_NUMBER'
      : this.parents.length > 0
        ? 'TRIM_HORIZON'
        : this.cfg.initialPosition;
    const res = await kinesisCall(
      'GetShardIterator',
      this.cfg.streamName,
      this.cfg.requestTimeoutMs,
      signal,
      (abortSignal) =>
        this.writer.kinesis.send(
          new GetShardIteratorCommand({
            StreamName: this.cfg.streamName,
            ShardId: this.shardId,
            ShardIteratorType: type,
            ...(after ? { StartingSequenceNumber: after } : {}),
          }),
          { abortSignal },
        ),
    );
    if (!res.ShardIterator) {
      throw new ConsumerError(
        `GetShardIterator on ${this.shardId} returned no iterator`,
        'malformed_response',
        {
          retriable: true,
        },
      );
    }
    return res.ShardIterator;
  }

  private add(sequenceNumber: string, data: Uint8Array, partitionKey?: string, arrival?: Date): void {
    const parsed = parseRecord({
      sequenceNumber,
      data,
      ...(partitionKey === undefined ? {} : { partitionKey }),
    });
    const b = this.buffer;
    const now = Date.now();
    b.startedAtMs ??= now;
    for (const e of parsed.envelopes) {
      b.envelopes.push(e);
      b.bytes += Buffer.byteLength(e.line, 'utf8') + 1;
    }
    for (const r of parsed.rejected) {
      b.rejected.push(r);
      b.bytes += r.data.length;
    }
    b.lastSequenceNumber = sequenceNumber;
    const arrivalMs = arrival?.getTime();
    if (arrivalMs !== undefined) {
      b.firstArrivalMs ??= arrivalMs;
      b.lastArrivalMs = arrivalMs;
    }
    const read = parsed.envelopes.length + parsed.rejected.length;
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
   * checkpoint; only then is the buffer cleared. Retriable failures are retried with backoff until
   * they succeed or the shutdown deadline passes (then nothing is checkpointed and the records are
   * read again on the next start).
   * @throws ConsumerError when a failure is not retriable, or ShutdownTimeoutError at the deadline.
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
    const plans = planObjects(b.envelopes, cfg.streamName, this.shardId);
    let bytes = 0;
    for (const plan of plans) {
      const body = await gzipNdjson(plan.lines);
      const stopTimer = bronzeWriteDurationSeconds.startTimer({ consumer: cfg.name });
      await this.writer.retrying(async () => {
        try {
          await this.writer.lake.put(plan.key, body, 'application/gzip');
        } catch (err) {
          throw new BronzeWriteError(`cannot write ${plan.key}`, { cause: err, retriable: isRetriable(err) });
        }
      }, signals.abandon);
      stopTimer();
      bytes += body.length;
      this.writer.countObject(plan.lines.length, body.length, plan.uncompressedBytes);
      this.log.debug(
        { shard: this.shardId, key: plan.key, records: plan.lines.length, bytes: body.length },
        'bronze object written',
      );
    }
    if (b.rejected.length > 0) {
      const letters: DeadLetter[] = b.rejected.map((r) => ({
        component: cfg.name,
        source: r.source,
        failureClass: 'malformed_response',
        reason: `${r.reason} (stream ${cfg.streamName}, shard ${this.shardId}, sequence ${r.sequenceNumber})`,
        data: r.data,
        ...(r.partitionKey === undefined ? {} : { partitionKey: r.partitionKey }),
      }));
      await this.writer.retrying(async () => {
        try {
          await this.writer.deadLetters.put(letters);
        } catch (err) {
          throw new BronzeWriteError('cannot write dead letters', {
            cause: err,
            retriable: isRetriable(err),
          });
        }
      }, signals.abandon);
      this.writer.countDeadLetters(letters.length);
    }
    const sequenceNumber = b.lastSequenceNumber ?? this.checkpoint?.sequenceNumber;
    const arrivalMs =
      b.lastSequenceNumber !== undefined ? b.lastArrivalMs : this.checkpoint?.approximateArrivalMs;
    const checkpoint: ShardCheckpoint = {
      ...(sequenceNumber === undefined ? {} : { sequenceNumber }),
      ...(arrivalMs === undefined ? {} : { approximateArrivalMs: arrivalMs }),
      ...(shardEnd ? { shardEnd: true } : {}),
      updatedAt: new Date().toISOString(),
    };
    await this.writer.retrying(() => this.saveCheckpoint(checkpoint), signals.abandon);
    this.checkpoint = checkpoint;
    this.failuresSinceCheckpoint = 0;
    this.buffer = newBuffer();
    this.updateLag();
    this.log.info(
      {
        shard: this.shardId,
        reason,
        objects: plans.length,
        records: b.envelopes.length,
        deadLettered: b.rejected.length,
        bytes,
        checkpoint: sequenceNumber ?? null,
        durationMs: Date.now() - started,
      },
      'bronze buffer flushed',
    );
  }

  private async saveCheckpoint(checkpoint: ShardCheckpoint): Promise<void> {
    const key = this.checkpointKey();
    if (this.writer.abandoned) {
      throw new ShutdownTimeoutError(`shutdown deadline passed before checkpoint ${key} was written`);
    }
    try {
      this.checkpointVersion = await this.writer.state.put(key, checkpoint, {
        expectedVersion: this.checkpointVersion,
      });
    } catch (err) {
      if (err instanceof StateConflictError) {
        throw new ShardOwnershipError(`checkpoint ${key} was written by another writer: ${err.message}`, {
          cause: err,
        });
      }
      throw new CheckpointError(`cannot write checkpoint ${key}`, {
        cause: err,
        retriable: isRetriable(err),
      });
    }
    this.writer.counts.checkpointsWritten += 1;
  }
}

/**
 * The bronze writer. Create it with {@link createBronzeWriter}; it implements {@link Consumer}.
 */
export class BronzeWriter implements Consumer {
  readonly name: string;
  readonly config: BronzeWriterConfig;
  readonly kinesis: KinesisClient;
  readonly lake: Lake;
  readonly state: StateStore;
  readonly deadLetters: DeadLetterQueue;
  readonly log: Logger;
  /** Counters behind {@link stats}. */
  readonly counts = emptyStats();
  /** True once `stop()` ran out of time: no more checkpoints are written. */
  abandoned = false;
  private readonly ownsKinesis: boolean;
  private readonly workers = new Map<string, ShardWorker>();
  private readonly stopController = new AbortController();
  private readonly abandonController = new AbortController();
  private started = false;
  private stopping?: Promise<void>;
  /** The shard discovery loop (see {@link discoverShards}); resolves once the writer stops. */
  private discovery: Promise<void> = Promise.resolve();
  /** True when a listing was asked for (a shard ended) and has not started yet. */
  private discoveryRequested = false;
  /** Ends the discovery loop's current wait early (set while it waits). */
  private wakeDiscovery?: () => void;

  constructor(config: BronzeWriterConfig, deps: BronzeWriterDeps) {
    const parsed = BronzeWriterSchema.safeParse(config);
    if (!parsed.success) {
      throw new ConfigError(`bronze writer config: ${parsed.error.message}`, { cause: parsed.error });
    }
    this.config = parsed.data;
    this.name = this.config.name;
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
  }

  private get signals(): Signals {
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
    const shards = await this.listShards();
    this.addShards(shards);
    this.log.info({ shards: shards.map((s) => s.ShardId) }, 'bronze writer started');
    this.discovery = this.discoverShards();
  }

  private listShards(): Promise<Shard[]> {
    return listAllShards(
      this.kinesis,
      this.config.streamName,
      this.stopController.signal,
      this.config.requestTimeoutMs,
    );
  }

  /**
   * Until the writer stops: waits `shardDiscoveryIntervalSecs` (or less when a shard ended), lists
   * the shards, retrying a failed listing with backoff until it succeeds, and starts readers for
   * the new ones. Never rejects.
   */
  private async discoverShards(): Promise<void> {
    const stop = this.stopController.signal;
    while (!stop.aborted) {
      if (!this.discoveryRequested) {
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            stop.removeEventListener('abort', done);
            this.wakeDiscovery = undefined;
            resolve();
          };
          const timer = setTimeout(done, this.config.shardDiscoveryIntervalSecs * 1000);
          stop.addEventListener('abort', done, { once: true });
          this.wakeDiscovery = done;
        });
      }
      this.discoveryRequested = false;
      for (let attempt = 0; !stop.aborted; attempt++) {
        try {
          this.addShards(await this.listShards());
          break;
        } catch (err) {
          if (stop.aborted) return;
          this.countError(err);
          const delay = backoffMs(attempt, this.config.retryBaseDelayMs, this.config.retryMaxDelayMs);
          this.log.warn(
            { err: describeError(err), attempt: attempt + 1, delayMs: Math.round(delay) },
            'cannot list shards: retrying',
          );
          try {
            await sleep(delay, stop);
          } catch {
            return;
          }
        }
      }
    }
  }

  private addShards(shards: Shard[]): void {
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
    this.discoveryRequested = true;
    this.wakeDiscovery?.();
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
    const all = Promise.all([this.discovery, ...[...this.workers.values()].map((w) => w.done)]).then(
      () => 'done' as const,
    );
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
    if (this.ownsKinesis) this.kinesis.destroy();
    this.log.info({ ...this.stats(), shards: undefined }, 'bronze writer stopped');
  }

  /** True when Kinesis answers DescribeStreamSummary, the lake answers `ping()` and no shard failed. */
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
    this.counts.errors += 1;
    bronzeErrorsTotal.inc({ consumer: this.name, class: failureClassOf(err) });
  }

  countObject(records: number, bytes: number, uncompressedBytes: number): void {
    this.counts.objectsWritten += 1;
    this.counts.recordsLanded += records;
    this.counts.bytesWritten += bytes;
    this.counts.uncompressedBytesWritten += uncompressedBytes;
    bronzeObjectsWrittenTotal.inc({ consumer: this.name });
    bronzeRecordsTotal.inc({ consumer: this.name, outcome: 'landed' }, records);
    bronzeBytesWrittenTotal.inc({ consumer: this.name }, bytes);
    bronzeUncompressedBytesTotal.inc({ consumer: this.name }, uncompressedBytes);
  }

  countDeadLetters(n: number): void {
    this.counts.recordsDeadLettered += n;
    bronzeRecordsTotal.inc({ consumer: this.name, outcome: 'dead_lettered' }, n);
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
        const delay = backoffMs(attempt, this.config.retryBaseDelayMs, this.config.retryMaxDelayMs);
        this.log.warn(
          { err: describeError(err), attempt: attempt + 1, delayMs: Math.round(delay) },
          'retrying',
        );
        await sleep(delay, signal);
      }
    }
  }
}

/**
 * Creates the bronze writer (see the module documentation for what it does).
 * @param config - a parsed {@link BronzeWriterSchema} value (validated again here).
 * @throws ConfigError when the config is invalid, or the lake URI is not `file://` or `s3://`.
 */
export function createBronzeWriter(config: BronzeWriterConfig, deps: BronzeWriterDeps): BronzeWriter {
  return new BronzeWriter(config, deps);
}
