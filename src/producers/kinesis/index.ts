/**
 * The Kinesis sink: writes records to a Kinesis Data Stream with PutRecords.
 *
 * ## Shape
 * `write(records)` admits records into a bounded in-memory buffer (`bufferMaxRecords`,
 * `bufferMaxBytes`; a record counts as its data plus partition key, UTF-8). When the buffer is full,
 * the caller's promise waits (backpressure, FIFO across callers) until deliveries free space. A
 * background pump forms batches (see `batcher.ts`) within the PutRecords API reference limits (500
 * records, 5 MiB per call, 1 MiB per record including the key) and sends a batch as soon as it is
 * full, its oldest record has waited `lingerMs`, a flush or close is under way, or writers are
 * waiting for space, with at most `maxInFlightBatches` calls in flight. Buffered records/bytes never
 * exceed the caps, except that one record larger than `bufferMaxBytes` is admitted into an empty
 * buffer (otherwise it could never be sent). Concurrent `write()` calls are admitted one at a time in
 * call order, so their records keep that order per key. Memory used by writes still waiting for
 * admission is the callers' own arrays, not the buffer.
 *
 * ## Failures
 * - Partial failure (HTTP 200, `FailedRecordCount > 0`): only the failed entries are resent, after a
 *   full-jitter exponential backoff (`retry.baseDelayMs`, or `retry.throttledBaseDelayMs` when an
 *   entry was throttled), capped at `retry.maxDelayMs`.
 * - A whole-call failure that is retriable (throttling, InternalFailure, 5xx, network, timeout, and
 *   an unusable stream: ResourceNotFound, AccessDenied, KMS key disabled or denied) retries the whole
 *   batch the same way. Retriable failures are retried for as long as it takes, never dead-lettered:
 *   the records stay buffered, the full buffer makes writers wait (backpressure: pollers pause and
 *   their seen-state does not advance), `ingest_producer_failing_seconds` counts the seconds without
 *   a success and `/readyz` answers not ready with the last error (`../health.ts`).
 * - Only a record that can never be accepted is dead-lettered, with its reason and failure class:
 *   over `maxRecordBytes` (or `maxBatchBytes`, if smaller) or with a partition key outside 1-256
 *   characters (at once, never sent), or rejected by the service as invalid (`ValidationException`,
 *   `InvalidArgumentException`). A whole call rejected as invalid is split into single-record
 *   calls so that only the bad record is dead-lettered. A programmer error (our bug) dead-letters
 *   the records it touched, with the error.
 * - `abandon()` (shutdown deadline) rejects every write not yet acknowledged with
 *   {@link SinkAbandonedError}: those records are neither delivered nor dead-lettered, and the
 *   pollers poll them again after the restart.
 * - A failing dead-letter write is retried forever with backoff (logged at error): nothing accepted
 *   is dropped; the buffer then fills and writers wait.
 *
 * ## Ordering guarantee (per partition key)
 * Each record keeps its admission sequence number; retried records re-enter the queue in sequence
 * order, i.e. ahead of every record written after them, and while any record of key K is in flight
 * or backing off, no newer record of K is sent.
 * - `ordering: 'strict'` (default): at most one record of a key is in flight at a time, so Kinesis
 *   accepts (assigns sequence numbers to) each key's records in write order, including across
 *   partial failures and retries. A dead-lettered record is missing from the stream, never out of
 *   order. Cost: a hot key sends one record per PutRecords round trip.
 * - `ordering: 'relaxed'`: a batch may carry several records of a key (in write order) and a key has
 *   at most one batch in flight. If a call rejects an earlier record of K but accepts a later one,
 *   those two are reordered (PutRecords does not guarantee order: see its API reference).
 * Delivery is at least once: a call that timed out may have been applied, and is retried.
 *
 * ## Aggregation (`aggregation.enabled`)
 * Records are packed into KPL aggregated records (`kpl.ts`) by hash bucket, each bucket sent with
 * a fixed `ExplicitHashKey`; see `aggregation.ts` for the routing choice and the ordering argument.
 * The buffer, backpressure, `maxAttempts` and metrics count user records (`records` = user records);
 * the batch limits (`maxBatchRecords`, `maxBatchBytes`) count Kinesis records. A Kinesis record
 * (aggregate) succeeds or fails as a unit: on success every user record in it resolves with the
 * aggregate's shard and sequence number; on failure each of its user records is retried (re-packed,
 * ahead of newer records of its key) or dead-lettered with the reason. The
 * `ingest_producer_kinesis_records_total` and `ingest_producer_aggregated_records_total` counters
 * show the packing ratio.
 */

import type { z } from 'zod';
import type { DeadLetterQueue } from '../../deadletter/index.js';
import { ConfigError, describeError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { SinkHealth } from '../health.js';
import type { Delivery, OutgoingRecord, Sink } from '../types.js';
import { bucketHashKey, hashBucketOf, selectAggregatedBatch } from './aggregation.js';
import { fullJitterDelayMs, recordBytes, type Sized, selectBatch, validateRecord } from './batcher.js';
import {
  createKinesisClient,
  type PutRecordsClient,
  type PutRecordsEntry,
  type PutRecordsOutputLike,
} from './client.js';
import { type KinesisSinkConfig, KinesisSinkSchema } from './config.js';
import {
  classifyEntryError,
  classifyKinesisError,
  ProducerClosedError,
  ProducerError,
  PutRecordsError,
  SinkAbandonedError,
  StreamNotFoundError,
  ThrottledError,
} from './errors.js';
import { encodeAggregated } from './kpl.js';
import {
  producerAggregatedRecordsTotal,
  producerBackpressureWaitsTotal,
  producerBatchBytes,
  producerBatchesTotal,
  producerBatchRecords,
  producerBufferBytes,
  producerBufferCapacityRatio,
  producerBufferRecords,
  producerFailedEntriesTotal,
  producerKinesisRecordsTotal,
  producerPutDurationSeconds,
  producerRecordsTotal,
  producerThrottledTotal,
} from './telemetry.js';

export * from './batcher.js';
export * from './client.js';
export * from './config.js';
export * from './errors.js';
export { decodeAggregated, encodeAggregated, isAggregated, KplFormatError, type UserRecord } from './kpl.js';

/** The config as written (before defaults); a parsed {@link KinesisSinkConfig} is accepted too. */
export type KinesisSinkInput = z.input<typeof KinesisSinkSchema>;

export interface KinesisSinkDeps {
  /** Where undeliverable records go. Only `put` is used. */
  deadLetters: Pick<DeadLetterQueue, 'put'>;
  logger: Logger;
  /** The Kinesis client. @default createKinesisClient({ region, endpoint, requestTimeoutMs }) from config and env, created on first use */
  client?: PutRecordsClient;
  /** Waits `ms` milliseconds (retry backoff). @default setTimeout-based */
  sleep?: (ms: number) => Promise<void>;
  /** Uniform random in [0, 1) for backoff jitter. @default Math.random */
  random?: () => number;
  /** Clock in ms since the epoch (linger deadlines, durations). @default Date.now */
  now?: () => number;
}

/** A point-in-time view of the sink, for tests and debugging. */
export interface KinesisSinkStats {
  /** Records admitted and not yet delivered or dead-lettered (queued, in flight, backing off). */
  bufferedRecords: number;
  /** Their bytes (data plus partition key). */
  bufferedBytes: number;
  /** Records queued, waiting to be batched. */
  queuedRecords: number;
  /** PutRecords calls in flight. */
  inFlightBatches: number;
  /** Records waiting out a retry backoff. */
  backingOffRecords: number;
  /** Records of write() calls not yet admitted (waiting for buffer space or for an earlier write). */
  waitingRecords: number;
}

export interface KinesisSink extends Sink {
  stats(): KinesisSinkStats;
}

interface Entry extends Sized {
  readonly record: OutgoingRecord;
  readonly seq: number;
  /** Data bytes (without the key). */
  readonly dataBytes: number;
  /** Hash bucket of the key (aggregation only; 0 otherwise). */
  readonly bucket: number;
  /** Whether the record holds buffer space (invalid records never do). */
  readonly buffered: boolean;
  attempts: number;
  /** When the record should be sent at the latest (admission + lingerMs; now for retries). */
  dueAt: number;
  resolve: (delivery: Delivery) => void;
  reject: (err: Error) => void;
  readonly done: Promise<Delivery>;
}

/** One Kinesis record of a call: one user record, or (aggregation) the user records of one aggregate. */
interface Unit {
  readonly entries: Entry[];
  /** `ExplicitHashKey` (aggregation: the bucket's, also for a single record). */
  readonly explicitHashKey?: string;
}

interface DeadLetterItem {
  entry: Entry;
  reason: string;
  error: ProducerError;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Summarises bursts (throttling, call failures) into at most one log line per window. */
class BurstLog {
  private counts = new Map<string, number>();
  private lastAt = Number.NEGATIVE_INFINITY;
  private since = 0;

  constructor(
    private readonly log: (fields: object, msg: string) => void,
    private readonly message: string,
    private readonly now: () => number,
    private readonly windowMs = 10_000,
  ) {}

  note(code: string, records: number, fields: object = {}): void {
    const now = this.now();
    if (this.counts.size === 0) this.since = now;
    this.counts.set(code, (this.counts.get(code) ?? 0) + records);
    if (now - this.lastAt >= this.windowMs) this.emit(now, fields);
  }

  /** Logs what accumulated since the last line (on close). */
  drain(): void {
    if (this.counts.size > 0) this.emit(this.now(), {});
  }

  private emit(now: number, fields: object): void {
    this.log(
      { ...fields, records: Object.fromEntries(this.counts), periodMs: now - this.since },
      this.message,
    );
    this.counts.clear();
    this.lastAt = now;
  }
}

function mergeBySeq(a: Entry[], b: Entry[]): Entry[] {
  const out: Entry[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) out.push(a[i]!.seq <= b[j]!.seq ? a[i++]! : b[j++]!);
  while (i < a.length) out.push(a[i++]!);
  while (j < b.length) out.push(b[j++]!);
  return out;
}

class KinesisSinkImpl implements KinesisSink {
  readonly name: string;
  private readonly labels: { sink: string };
  private readonly cfg: KinesisSinkConfig;
  private readonly log: Logger;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly maxPerKey: number;
  /** Per-record limit: `maxRecordBytes`, or `maxBatchBytes` if smaller (a record must fit a batch). */
  private readonly recordLimit: number;
  private client: PutRecordsClient | undefined;
  private readonly ownsClient: boolean;

  private pending: Entry[] = [];
  private readonly busy = new Map<string, number>();
  private readonly outstanding = new Map<Promise<Delivery>, Entry>();
  private abandoned: SinkAbandonedError | undefined;
  private readonly health: SinkHealth;
  private readonly blockedLog: BurstLog;
  /** The one write waiting for buffer space (later writes queue behind it on `admissionTail`). */
  private waiter: { bytes: number; resolve: () => void } | undefined;
  private admissionTail: Promise<void> = Promise.resolve();
  private admitting = 0;
  private waitingRecords = 0;
  private readonly writes = new Set<Promise<unknown>>();
  private inFlight = 0;
  private backingOff = 0;
  private bufferedRecords = 0;
  private bufferedBytes = 0;
  private seq = 0;
  private flushing = 0;
  private closing = false;
  private closePromise: Promise<void> | undefined;
  private pumpQueued = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private readonly throttleLog: BurstLog;
  private readonly failureLog: BurstLog;

  constructor(
    config: KinesisSinkInput,
    private readonly deps: KinesisSinkDeps,
  ) {
    const parsed = KinesisSinkSchema.safeParse(config);
    if (!parsed.success)
      throw new ConfigError(`kinesis sink config: ${parsed.error.message}`, { cause: parsed.error });
    this.cfg = parsed.data;
    this.name = this.cfg.name;
    this.labels = { sink: this.name };
    this.log = deps.logger.child({ component: 'kinesis', sink: this.name, stream: this.cfg.streamName });
    this.sleep = deps.sleep ?? defaultSleep;
    this.random = deps.random ?? Math.random;
    this.now = deps.now ?? Date.now;
    this.recordLimit = Math.min(this.cfg.maxRecordBytes, this.cfg.maxBatchBytes);
    this.maxPerKey = this.cfg.ordering === 'strict' ? 1 : Number.POSITIVE_INFINITY;
    this.client = deps.client;
    this.ownsClient = deps.client === undefined;
    this.throttleLog = new BurstLog(
      (f, m) => this.log.warn({ event: 'kinesis_throttled', ...f }, m),
      'Kinesis throttled PutRecords entries (ProvisionedThroughputExceeded); backing off',
      this.now,
    );
    this.failureLog = new BurstLog(
      (f, m) => this.log.warn({ event: 'kinesis_put_failed', ...f }, m),
      'PutRecords calls failed; retrying',
      this.now,
    );
    this.health = new SinkHealth(this.name, `PutRecords to stream "${this.cfg.streamName}"`, this.now);
    this.blockedLog = new BurstLog(
      (f, m) => this.log.error({ event: 'kinesis_put_blocked', ...f }, m),
      `PutRecords to stream "${this.cfg.streamName}" is refused (stream missing, access denied or KMS key unusable); records are held and retried until it is fixed`,
      this.now,
    );
    this.updateGauges();
  }

  private getClient(): PutRecordsClient {
    this.client ??= createKinesisClient({
      region: this.cfg.region,
      endpoint: this.cfg.endpoint,
      requestTimeoutMs: this.cfg.requestTimeoutMs,
    });
    return this.client;
  }

  stats(): KinesisSinkStats {
    return {
      bufferedRecords: this.bufferedRecords,
      bufferedBytes: this.bufferedBytes,
      queuedRecords: this.pending.length,
      inFlightBatches: this.inFlight,
      backingOffRecords: this.backingOff,
      waitingRecords: this.waitingRecords,
    };
  }

  async start(): Promise<void> {
    const client = this.getClient();
    const stream = this.cfg.streamName;
    let status: string;
    let shards: number | undefined;
    try {
      const summary = await client.describeStream(stream);
      status = summary.status;
      shards = summary.openShardCount;
    } catch (err) {
      const e = classifyKinesisError(err);
      if (e.code === 'ResourceNotFoundException') {
        const missing = new StreamNotFoundError(stream, client.endpoint, err);
        this.log.error({ event: 'stream_missing', endpoint: client.endpoint }, missing.message);
        throw missing;
      }
      throw new ProducerError(
        `cannot describe Kinesis stream "${stream}" at ${client.endpoint}: ${e.message}`,
        e.failureClass,
        { retriable: e.retriable, cause: err, code: e.code },
      );
    }
    if (status === 'DELETING') {
      throw new ProducerError(`Kinesis stream "${stream}" at ${client.endpoint} is being deleted`, 'config', {
        retriable: false,
      });
    }
    const agg = this.cfg.aggregation;
    if (agg.enabled && shards !== undefined && shards > agg.hashBuckets) {
      this.log.warn(
        { event: 'aggregation_buckets_below_shards', shards, hashBuckets: agg.hashBuckets },
        `aggregation.hashBuckets (${agg.hashBuckets}) is below the open shard count (${shards}): some shards receive no records; raise hashBuckets`,
      );
    }
    this.log.info(
      {
        event: 'sink_started',
        endpoint: client.endpoint,
        status,
        shards,
        ...(agg.enabled ? { aggregation: agg } : {}),
      },
      'kinesis sink started',
    );
  }

  async ready(): Promise<boolean> {
    try {
      const { status } = await this.getClient().describeStream(this.cfg.streamName);
      return status === 'ACTIVE' || status === 'UPDATING';
    } catch {
      return false;
    }
  }

  write(records: OutgoingRecord[]): Promise<Delivery[]> {
    if (this.closing) return Promise.reject(new ProducerClosedError(this.name));
    const p = this.admit(records);
    this.writes.add(p);
    const forget = () => this.writes.delete(p);
    p.then(forget, forget);
    return p;
  }

  async flush(): Promise<void> {
    this.flushing++;
    this.schedulePump();
    try {
      await Promise.all([...this.outstanding.keys()]);
    } finally {
      this.flushing--;
    }
  }

  close(): Promise<void> {
    this.closePromise ??= (async () => {
      this.closing = true;
      this.schedulePump();
      await Promise.allSettled([...this.writes]);
      try {
        await this.flush();
      } catch (err) {
        if (!(err instanceof SinkAbandonedError)) throw err;
      }
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      this.throttleLog.drain();
      this.failureLog.drain();
      this.blockedLog.drain();
      this.health.dispose();
      if (this.ownsClient) this.client?.close?.();
      this.log.info({ event: 'sink_closed' }, 'kinesis sink closed');
    })();
    return this.closePromise;
  }

  abandon(reason: string): number {
    if (this.abandoned !== undefined) return 0;
    const error = new SinkAbandonedError(this.name, reason);
    this.abandoned = error;
    this.closing = true;
    const entries = [...this.outstanding.values()];
    this.outstanding.clear();
    for (const e of entries) e.reject(error);
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.resolve();
    if (entries.length > 0 || waiter !== undefined) {
      this.log.warn(
        { event: 'sink_abandoned', records: entries.length, reason },
        `${entries.length} record(s) not yet acknowledged were abandoned (${reason}); they are not recorded as seen and will be polled again`,
      );
    }
    return entries.length;
  }

  // ---- admission and buffer accounting ----

  private async admit(records: OutgoingRecord[]): Promise<Delivery[]> {
    producerRecordsTotal.inc({ ...this.labels, outcome: 'accepted' }, records.length);
    const deliveries: Promise<Delivery>[] = new Array(records.length);
    const invalid: DeadLetterItem[] = [];
    const valid: number[] = [];
    records.forEach((record, i) => {
      const error = validateRecord(record, this.recordLimit);
      if (error === undefined) {
        valid.push(i);
        return;
      }
      const entry = this.newEntry(record, false);
      deliveries[i] = entry.done;
      invalid.push({ entry, reason: error.message, error });
    });
    if (invalid.length > 0) this.deadLetter(invalid);
    if (valid.length > 0) {
      // Writes are admitted one at a time, in call order: a later write never interleaves with an
      // earlier one that is waiting for space, so concurrent writes keep their relative order.
      let waited = false;
      const countWait = () => {
        if (waited) return;
        waited = true;
        producerBackpressureWaitsTotal.inc(this.labels);
      };
      if (this.waiter !== undefined) countWait();
      this.waitingRecords += valid.length;
      const run = async () => {
        for (const i of valid) {
          if (this.abandoned) throw this.abandoned;
          const record = records[i]!;
          const bytes = recordBytes(record);
          if (this.fits(bytes)) {
            this.reserve(bytes);
          } else {
            countWait();
            // settle() reserves the space before it wakes us.
            await new Promise<void>((resolve) => {
              this.waiter = { bytes, resolve };
              this.schedulePump();
            });
            if (this.abandoned) throw this.abandoned;
          }
          this.waitingRecords--;
          const entry = this.newEntry(record, true);
          deliveries[i] = entry.done;
          this.pending.push(entry);
          this.schedulePump();
        }
      };
      const turn = this.admitting === 0 ? run() : this.admissionTail.then(run);
      this.admitting++;
      const done = () => {
        this.admitting--;
      };
      this.admissionTail = turn.then(done, done);
      await turn;
    }
    return Promise.all(deliveries);
  }

  private newEntry(record: OutgoingRecord, buffered: boolean): Entry {
    let resolve!: (d: Delivery) => void;
    let reject!: (err: Error) => void;
    const done = new Promise<Delivery>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // A rejection (abandon) is observed by whoever awaits the write; never an unhandled rejection.
    done.catch(() => undefined);
    const entry: Entry = {
      record,
      partitionKey: record.partitionKey,
      bytes: recordBytes(record),
      seq: this.seq++,
      dataBytes: record.data.byteLength,
      bucket: this.cfg.aggregation.enabled
        ? hashBucketOf(record.partitionKey, this.cfg.aggregation.hashBuckets)
        : 0,
      buffered,
      attempts: 0,
      dueAt: this.now() + this.cfg.lingerMs,
      resolve,
      reject,
      done,
    };
    this.outstanding.set(done, entry);
    return entry;
  }

  /** Whether a record of `bytes` fits; a single record always fits an empty buffer. */
  private fits(bytes: number): boolean {
    if (this.bufferedRecords === 0) return true;
    return (
      this.bufferedRecords + 1 <= this.cfg.bufferMaxRecords &&
      this.bufferedBytes + bytes <= this.cfg.bufferMaxBytes
    );
  }

  private reserve(bytes: number): void {
    this.bufferedRecords++;
    this.bufferedBytes += bytes;
    this.updateGauges();
  }

  private settle(entry: Entry, delivery: Delivery): void {
    entry.resolve(delivery);
    this.outstanding.delete(entry.done);
    if (!entry.buffered) return;
    this.bufferedRecords--;
    this.bufferedBytes -= entry.bytes;
    const w = this.waiter;
    if (w !== undefined && this.fits(w.bytes)) {
      this.waiter = undefined;
      this.reserve(w.bytes);
      w.resolve();
    }
    this.updateGauges();
  }

  private updateGauges(): void {
    producerBufferRecords.set(this.labels, this.bufferedRecords);
    producerBufferBytes.set(this.labels, this.bufferedBytes);
    producerBufferCapacityRatio.set(
      this.labels,
      Math.min(
        1,
        Math.max(
          this.bufferedRecords / this.cfg.bufferMaxRecords,
          this.bufferedBytes / this.cfg.bufferMaxBytes,
        ),
      ),
    );
  }

  // ---- batching ----

  private schedulePump(): void {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    queueMicrotask(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  private armTimer(at: number): void {
    if (this.timer !== undefined && this.timerAt <= at) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Number.POSITIVE_INFINITY;
        this.pump();
      },
      Math.max(0, at - this.now()),
    );
  }

  private busyAdd(key: string, n: number): void {
    const left = (this.busy.get(key) ?? 0) + n;
    if (left <= 0) this.busy.delete(key);
    else this.busy.set(key, left);
  }

  /** The next batch from `pending`: Kinesis records (units) and the pending indexes they use. */
  private select(): { units: Unit[]; indexes: number[]; bytes: number; full: boolean } {
    const isBlocked = (key: string) => this.busy.has(key);
    const agg = this.cfg.aggregation;
    if (!agg.enabled) {
      const s = selectBatch(this.pending, {
        maxBatchRecords: this.cfg.maxBatchRecords,
        maxBatchBytes: this.cfg.maxBatchBytes,
        maxPerKey: this.maxPerKey,
        isBlocked,
      });
      return { ...s, units: s.indexes.map((i) => ({ entries: [this.pending[i]!] })) };
    }
    const s = selectAggregatedBatch(this.pending, {
      maxBatchRecords: this.cfg.maxBatchRecords,
      maxBatchBytes: this.cfg.maxBatchBytes,
      maxAggregateBytes: Math.min(agg.maxBytes, this.recordLimit),
      strict: this.cfg.ordering === 'strict',
      isBlocked,
    });
    return {
      ...s,
      units: s.units.map((u) => ({
        entries: u.indexes.map((i) => this.pending[i]!),
        explicitHashKey: bucketHashKey(u.bucket, agg.hashBuckets),
      })),
    };
  }

  private pump(): void {
    const now = this.now();
    while (this.inFlight < this.cfg.maxInFlightBatches && this.pending.length > 0) {
      const selection = this.select();
      if (selection.indexes.length === 0) return;
      const due = Math.min(...selection.indexes.map((i) => this.pending[i]!.dueAt));
      const urgent =
        selection.full || due <= now || this.flushing > 0 || this.closing || this.waiter !== undefined;
      if (!urgent) {
        this.armTimer(due);
        return;
      }
      const chosen = new Set(selection.indexes);
      this.pending = this.pending.filter((_, i) => !chosen.has(i));
      for (const u of selection.units) for (const e of u.entries) this.busyAdd(e.partitionKey, 1);
      this.inFlight++;
      void this.send(selection.units, selection.bytes);
    }
  }

  /** The PutRecords entry of a unit: the record itself, or a KPL aggregate keyed by its first record. */
  private toPutEntry(unit: Unit): PutRecordsEntry {
    const first = unit.entries[0]!.record;
    const ehk = unit.explicitHashKey === undefined ? {} : { ExplicitHashKey: unit.explicitHashKey };
    if (unit.entries.length === 1) return { Data: first.data, PartitionKey: first.partitionKey, ...ehk };
    return {
      Data: encodeAggregated(
        unit.entries.map((e) => ({ partitionKey: e.record.partitionKey, data: e.record.data })),
      ),
      PartitionKey: first.partitionKey,
      ...ehk,
    };
  }

  private async send(units: Unit[], bytes: number): Promise<void> {
    const batch = units.flatMap((u) => u.entries);
    producerBatchesTotal.inc(this.labels);
    producerBatchRecords.observe(this.labels, batch.length);
    producerBatchBytes.observe(this.labels, bytes);
    const aggregates = units.filter((u) => u.entries.length > 1);
    producerKinesisRecordsTotal.inc({ ...this.labels, kind: 'single' }, units.length - aggregates.length);
    if (aggregates.length > 0) {
      producerKinesisRecordsTotal.inc({ ...this.labels, kind: 'aggregate' }, aggregates.length);
      producerAggregatedRecordsTotal.inc(
        this.labels,
        aggregates.reduce((n, u) => n + u.entries.length, 0),
      );
    }
    let resent = 0;
    for (const e of batch) {
      if (e.attempts > 0) resent++;
      e.attempts++;
    }
    if (resent > 0) producerRecordsTotal.inc({ ...this.labels, outcome: 'retried' }, resent);
    const started = performance.now();
    let output: PutRecordsOutputLike | undefined;
    let failure: ProducerError | undefined;
    try {
      output = await this.getClient().putRecords({
        StreamName: this.cfg.streamName,
        Records: units.map((u) => this.toPutEntry(u)),
      });
    } catch (err) {
      failure = classifyKinesisError(err);
    }
    producerPutDurationSeconds.observe(this.labels, (performance.now() - started) / 1000);
    this.inFlight--;
    try {
      if (failure === undefined) {
        const results = output?.Records ?? [];
        if (results.length === units.length) this.onResponse(units, output!);
        else
          this.onCallFailed(
            units,
            new PutRecordsError(
              `PutRecords returned ${results.length} results for ${units.length} records`,
              'malformed_response',
              { retriable: true, code: 'MalformedResponse' },
            ),
          );
      } else {
        this.onCallFailed(units, failure);
      }
    } catch (err) {
      // Our own bug: never strand the records; dead-letter them with the error.
      this.log.error({ event: 'sink_internal_error', err }, 'kinesis sink internal error');
      const error = new PutRecordsError(`internal error: ${describeError(err)}`, 'internal', { cause: err });
      const stranded = batch.filter((e) => this.outstanding.has(e.done));
      for (const e of stranded) this.busyAdd(e.partitionKey, -1);
      this.deadLetter(stranded.map((entry) => ({ entry, reason: error.message, error })));
    }
    this.schedulePump();
  }

  private onResponse(units: Unit[], output: PutRecordsOutputLike): void {
    const results = output.Records!;
    const retry: Entry[] = [];
    const dead: DeadLetterItem[] = [];
    let delivered = 0;
    let throttled = 0;
    units.forEach((unit, i) => {
      const r = results[i]!;
      if (!r.ErrorCode) {
        for (const entry of unit.entries) {
          delivered++;
          this.busyAdd(entry.partitionKey, -1);
          this.settle(entry, { status: 'delivered', shardId: r.ShardId, sequenceNumber: r.SequenceNumber });
        }
        return;
      }
      producerFailedEntriesTotal.inc({ ...this.labels, error_code: r.ErrorCode });
      const error = classifyEntryError(r.ErrorCode, r.ErrorMessage);
      if (error instanceof ThrottledError) throttled += unit.entries.length;
      for (const entry of unit.entries) this.retryOrDeadLetter(entry, error, retry, dead);
    });
    if (delivered > 0) {
      producerRecordsTotal.inc({ ...this.labels, outcome: 'delivered' }, delivered);
      this.health.succeeded();
    } else {
      this.health.failed(`every entry failed: ${[...new Set(results.map((r) => r.ErrorCode))].join(', ')}`);
    }
    if (throttled > 0) {
      producerThrottledTotal.inc(this.labels);
      this.throttleLog.note('ProvisionedThroughputExceededException', throttled);
    }
    const otherFailures = retry.length + dead.length - throttled;
    if (otherFailures > 0) this.failureLog.note('partial_failure', otherFailures);
    this.backoffAndRequeue(retry, throttled > 0);
    this.deadLetter(dead);
  }

  private onCallFailed(units: Unit[], error: ProducerError): void {
    const batch = units.flatMap((u) => u.entries);
    producerFailedEntriesTotal.inc({ ...this.labels, error_code: error.code ?? error.name }, units.length);
    if (!error.retriable && error.failureClass !== 'internal' && units.length > 1) {
      // The service rejected the request as invalid; one record is to blame. Send each on its own
      // so only the bad one is dead-lettered. Their keys stay busy until each call settles.
      this.log.warn(
        { event: 'kinesis_batch_split', code: error.code, units: units.length },
        `PutRecords rejected a batch as invalid (${error.message}); resending its ${units.length} records one per call to find the bad one`,
      );
      for (const unit of units) {
        this.inFlight++;
        void this.send(
          [unit],
          unit.entries.reduce((n, e) => n + e.bytes, 0),
        );
      }
      return;
    }
    if (error.retriable) this.health.failed(error.message);
    const throttled = error instanceof ThrottledError;
    if (throttled) {
      producerThrottledTotal.inc(this.labels);
      this.throttleLog.note(error.code ?? 'throttled', batch.length);
    } else if (error.retriable && error.failureClass === 'http_4xx') {
      this.blockedLog.note(error.code ?? error.name, batch.length, { lastError: error.message });
    } else if (error.retriable) {
      this.failureLog.note(error.code ?? error.name, batch.length, { lastError: error.message });
    } else {
      this.log.error(
        {
          event: 'kinesis_put_rejected',
          code: error.code,
          failureClass: error.failureClass,
          records: batch.length,
        },
        `PutRecords to stream "${this.cfg.streamName}" failed and cannot be retried: ${error.message}`,
      );
    }
    const retry: Entry[] = [];
    const dead: DeadLetterItem[] = [];
    for (const entry of batch) this.retryOrDeadLetter(entry, error, retry, dead);
    this.backoffAndRequeue(retry, throttled);
    this.deadLetter(dead);
  }

  private retryOrDeadLetter(
    entry: Entry,
    error: ProducerError,
    retry: Entry[],
    dead: DeadLetterItem[],
  ): void {
    if (error.retriable) {
      retry.push(entry);
      return;
    }
    this.busyAdd(entry.partitionKey, -1);
    const reason = `PutRecords to stream "${this.cfg.streamName}" rejected the record (not retriable): ${error.message}`;
    dead.push({ entry, reason, error });
  }

  /** Waits a full-jitter backoff, then puts `entries` back in sequence order (ahead of newer records). Their keys stay blocked meanwhile. */
  private backoffAndRequeue(entries: Entry[], throttled: boolean): void {
    if (entries.length === 0) return;
    const attempt = Math.max(...entries.map((e) => e.attempts));
    const base = throttled ? this.cfg.retry.throttledBaseDelayMs : this.cfg.retry.baseDelayMs;
    const delay = fullJitterDelayMs(attempt, base, this.cfg.retry.maxDelayMs, this.random);
    this.backingOff += entries.length;
    void this.sleep(delay).then(() => {
      this.backingOff -= entries.length;
      const now = this.now();
      for (const e of entries) {
        e.dueAt = now;
        this.busyAdd(e.partitionKey, -1);
      }
      this.pending = mergeBySeq(
        this.pending,
        [...entries].sort((a, b) => a.seq - b.seq),
      );
      this.schedulePump();
    });
  }

  // ---- dead letters ----

  /** Writes dead letters (retrying forever: never drops), then settles each record as dead_lettered. */
  private deadLetter(items: DeadLetterItem[]): void {
    if (items.length === 0) return;
    const letters = items.map(({ entry, reason, error }) => ({
      component: 'kinesis',
      source: entry.record.source,
      failureClass: error.failureClass,
      reason,
      data: entry.record.data,
      partitionKey: entry.record.partitionKey,
    }));
    void (async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          await this.deps.deadLetters.put(letters);
          break;
        } catch (err) {
          this.log.error(
            { event: 'dead_letter_write_failed', err, records: letters.length, attempt },
            'writing dead letters failed; retrying (records stay buffered)',
          );
          await this.sleep(
            fullJitterDelayMs(
              attempt,
              Math.max(1, this.cfg.retry.baseDelayMs),
              this.cfg.retry.maxDelayMs,
              this.random,
            ),
          );
        }
      }
      const reasons = [...new Set(items.map((i) => i.reason))];
      this.log.warn(
        {
          event: 'dead_lettered',
          records: items.length,
          failureClasses: [...new Set(items.map((i) => i.error.failureClass))],
          reasons: reasons.slice(0, 3),
        },
        `${items.length} record(s) dead-lettered: ${reasons[0]}`,
      );
      producerRecordsTotal.inc({ ...this.labels, outcome: 'dead_lettered' }, items.length);
      for (const { entry, reason } of items) this.settle(entry, { status: 'dead_lettered', reason });
      this.schedulePump();
    })();
  }
}

/**
 * Creates the Kinesis sink (see the module comment for behaviour and guarantees).
 * @param config - the sink's config (`KinesisSinkSchema`; defaults applied here).
 * @param deps.deadLetters - where undeliverable records go.
 * @param deps.client - a {@link PutRecordsClient}; by default an SDK client from config and env.
 * @throws ConfigError when the config does not match the schema.
 */
export function createKinesisSink(config: KinesisSinkInput, deps: KinesisSinkDeps): KinesisSink {
  return new KinesisSinkImpl(config, deps);
}

/** Registry entry: the sink's type, config schema and factory. */
export const kinesisSinkComponent = {
  type: 'kinesis',
  schema: KinesisSinkSchema,
  create: createKinesisSink,
} as const;
