/**
 * The one sink engine: what every sink (Kinesis, and Firehose and Kafka after it) does the same way.
 * A sink supplies a {@link SinkDriver}: its per-record limits, how it forms a batch, its send call and
 * its error classification. Nothing else.
 *
 * ## Buffer and backpressure
 * `write(records)` admits records into a bounded in-memory buffer (`bufferMaxRecords`,
 * `bufferMaxBytes`; a record counts as its data plus partition key, UTF-8). When the buffer is full,
 * the caller's promise waits (backpressure, FIFO across callers) until deliveries free space. A pump
 * asks the driver for the next batch and sends it as soon as it is full, its oldest record has
 * waited `lingerMs`, a flush or close is under way, or writers are waiting for space, with at most
 * `maxInFlightBatches` calls in flight. Buffered records/bytes never exceed the caps, except that one
 * record larger than `bufferMaxBytes` is admitted into an empty buffer (otherwise it could never be
 * sent). Concurrent `write()` calls are admitted one at a time in call order, so their records keep
 * that order per key.
 *
 * ## Failures (ADR 5)
 * - Only the failed units of a partial failure are resent, after a full-jitter exponential backoff
 *   (`retry.baseDelayMs`, or `retry.throttledBaseDelayMs` after throttling), capped at
 *   `retry.maxDelayMs`. A whole-call failure resends the whole batch the same way.
 * - Retriable failures are retried without limit, never dead-lettered: the records stay buffered,
 *   the full buffer makes writers wait, `ingest_producer_failing_seconds` counts the seconds without
 *   a success and `/readyz` answers not ready with the last error (`../health.ts`).
 * - Only a record that can never be accepted is dead-lettered with its reason: one the driver's
 *   `validate` rejects (never sent), or one the service rejects as invalid. A whole call rejected as
 *   invalid is split into one call per unit, so only the bad record is dead-lettered. A programmer
 *   error dead-letters the records it touched.
 * - A failing dead-letter write is retried forever with backoff: nothing accepted is dropped.
 * - `abandon()` (shutdown deadline) rejects every write not yet acknowledged with
 *   {@link SinkAbandonedError}: neither delivered nor dead-lettered, polled again after a restart.
 *
 * ## Ordering (per partition key)
 * Each record keeps its admission sequence number; retried records re-enter the queue in sequence
 * order, ahead of every record written after them, and while any record of key K is in flight or
 * backing off, no newer record of K is sent. How many records of a key one batch may carry is the
 * driver's `select` choice (strict: one; relaxed: several, in order).
 */
import type { DeadLetterQueue } from '../../deadletter/index.js';
import { describeError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { fullJitterDelayMs } from '../../retry/index.js';
import { ProducerClosedError, ProducerError, SinkAbandonedError, ThrottledError } from '../errors.js';
import { SinkHealth } from '../health.js';
import {
  producerBackpressureWaitsTotal,
  producerBatchBytes,
  producerBatchesTotal,
  producerBatchRecords,
  producerBufferBytes,
  producerBufferCapacityRatio,
  producerBufferRecords,
  producerFailedEntriesTotal,
  producerPutDurationSeconds,
  producerRecordsTotal,
  producerSerialisedKeysTotal,
  producerThrottledTotal,
} from '../telemetry.js';
import type { Delivery, OutgoingRecord } from '../types.js';
import type { Sized } from './batching.js';
import { BurstLog } from './burst-log.js';

export { BurstLog } from './burst-log.js';

/** How long a key's records may wait behind its own in-flight records before it is reported. */
export const SERIALISED_KEY_WARN_MS = 1_000;

/** The engine's own settings (every sink's config carries them). */
export interface EngineOptions {
  /** Sink name (metric label `sink`, readiness key `sink:<name>`). */
  name: string;
  /** How long a partial batch waits for more records, in ms. */
  lingerMs: number;
  /** Records held before writers wait. */
  bufferMaxRecords: number;
  /** Bytes held before writers wait. */
  bufferMaxBytes: number;
  /** Calls in flight at once. */
  maxInFlightBatches: number;
  retry: {
    /** Full-jitter backoff base, ms. */
    baseDelayMs: number;
    /** Cap of one backoff delay, ms. */
    maxDelayMs: number;
    /** Backoff base after throttling, ms. */
    throttledBaseDelayMs: number;
  };
}

/** One admitted record, as the driver sees it when it forms a batch. */
export interface EngineEntry extends Sized {
  readonly record: OutgoingRecord;
  /** Admission order. */
  readonly seq: number;
  /** Data bytes (without the key). */
  readonly dataBytes: number;
  /** The driver's routing bucket of the key ({@link SinkDriver.bucketOf}; 0 when it has none). */
  readonly bucket: number;
  /** When the record should be sent at the latest, ms since the epoch (admission + `lingerMs`; now for retries). */
  readonly dueAt: number;
}

/** One entry of a call: one record, or (aggregation) several packed into one. */
export interface BatchUnit {
  readonly entries: readonly EngineEntry[];
  /** The driver's per-unit data from `select` (Kinesis: the `ExplicitHashKey`). */
  readonly tag?: string;
}

/** The next batch, as indexes into the pending queue. */
export interface UnitSelection {
  units: { indexes: number[]; tag?: string }[];
  /** Every index used, ascending. */
  indexes: number[];
  bytes: number;
  /** Whether a limit stopped the batch (waiting for more records is pointless). */
  full: boolean;
}

/** What the service said about one unit of a call that went through. */
export type UnitResult =
  | { ok: true; shardId?: string; sequenceNumber?: string }
  | { ok: false; error: ProducerError };

/** What a sink supplies to the engine. */
export interface SinkDriver {
  /** Component name in dead letters and log events, e.g. `kinesis`. */
  readonly component: string;
  /** The call, for log lines and reasons, e.g. `PutRecords to stream "orders"`. */
  readonly callName: string;
  /** The error to dead-letter a record with at once, or `undefined` when it may be sent. */
  validate(record: OutgoingRecord): ProducerError | undefined;
  /** Routing bucket of a record (aggregation); 0 when omitted. */
  bucketOf?(record: OutgoingRecord): number;
  /** The next batch from `pending` (oldest first), skipping keys for which `isBlocked` is true. */
  select(pending: readonly EngineEntry[], isBlocked: (partitionKey: string) => boolean): UnitSelection;
  /**
   * Sends one call; resolves with one result per unit, in order.
   * @throws anything when the whole call failed; {@link classify} turns it into a ProducerError.
   */
  send(units: readonly BatchUnit[]): Promise<UnitResult[]>;
  /** Classifies an error thrown by `send`. */
  classify(err: unknown): ProducerError;
  /** Called before each call (sink-specific metrics). */
  onSend?(units: readonly BatchUnit[]): void;
}

/** Dependencies of the engine. */
export interface EngineDeps {
  /** Where undeliverable records go. Only `put` is used. */
  deadLetters: Pick<DeadLetterQueue, 'put'>;
  /** The sink's logger (already a child with its component fields). */
  log: Logger;
  /** Waits `ms` milliseconds (retry backoff). @default setTimeout-based */
  sleep?: (ms: number) => Promise<void>;
  /** Uniform random in [0, 1) for backoff jitter. @default Math.random */
  random?: () => number;
  /** Clock in ms since the epoch. @default Date.now */
  now?: () => number;
}

/** A point-in-time view of the buffer, for tests and debugging. */
export interface EngineStats {
  /** Records admitted and not yet delivered or dead-lettered (queued, in flight, backing off). */
  bufferedRecords: number;
  /** Their bytes (data plus partition key). */
  bufferedBytes: number;
  /** Records queued, waiting to be batched. */
  queuedRecords: number;
  /** Calls in flight. */
  inFlightBatches: number;
  /** Records waiting out a retry backoff. */
  backingOffRecords: number;
  /** Records of write() calls not yet admitted (waiting for buffer space or for an earlier write). */
  waitingRecords: number;
}

interface Entry extends EngineEntry {
  /** Whether the record holds buffer space (invalid records never do). */
  readonly buffered: boolean;
  attempts: number;
  /** When the record should be sent at the latest (admission + lingerMs; now for retries). */
  dueAt: number;
  resolve: (delivery: Delivery) => void;
  reject: (err: Error) => void;
  readonly done: Promise<Delivery>;
}

interface Unit extends BatchUnit {
  readonly entries: Entry[];
}

interface DeadLetterItem {
  entry: Entry;
  reason: string;
  error: ProducerError;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** UTF-8 bytes a record holds in the buffer: data plus partition key. */
export function bufferedBytesOf(record: Pick<OutgoingRecord, 'partitionKey' | 'data'>): number {
  return record.data.byteLength + Buffer.byteLength(record.partitionKey, 'utf8');
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

/** The engine; see the module comment. A sink owns one and forwards `write`, `flush`, `close`, `abandon`. */
export class SinkEngine {
  private readonly labels: { sink: string };
  private readonly log: Logger;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly now: () => number;

  private pending: Entry[] = [];
  private readonly busy = new Map<string, number>();
  private readonly outstanding = new Map<Promise<Delivery>, Entry>();
  private abandoned: SinkAbandonedError | undefined;
  private readonly health: SinkHealth;
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
  private pumpQueued = false;
  private gaugesQueued = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private readonly throttleLog: BurstLog;
  private readonly failureLog: BurstLog;
  private readonly blockedLog: BurstLog;
  private readonly serialisedLog: BurstLog;
  /**
   * Keys whose queued records wait behind a record of their own in flight or backing off: since
   * when, and whether the episode was reported. An episode ends when the key is idle again.
   */
  private readonly serialised = new Map<string, { since: number; reported: boolean }>();
  /** Keys that became idle (nothing in flight): their episode ends unless the next pump sends them again. */
  private readonly idled = new Set<string>();

  constructor(
    private readonly opts: EngineOptions,
    private readonly driver: SinkDriver,
    private readonly deps: EngineDeps,
  ) {
    this.labels = { sink: opts.name };
    this.log = deps.log;
    this.sleep = deps.sleep ?? defaultSleep;
    this.random = deps.random ?? Math.random;
    this.now = deps.now ?? Date.now;
    const c = driver.component;
    this.throttleLog = new BurstLog(
      (f, m) => this.log.warn({ event: `${c}_throttled`, ...f }, m),
      `${driver.callName}: entries throttled; backing off`,
      this.now,
    );
    this.failureLog = new BurstLog(
      (f, m) => this.log.warn({ event: `${c}_put_failed`, ...f }, m),
      `${driver.callName}: calls failed; retrying`,
      this.now,
    );
    this.blockedLog = new BurstLog(
      (f, m) => this.log.error({ event: `${c}_put_blocked`, ...f }, m),
      `${driver.callName} is refused (destination missing, access denied or key unusable); records are held and retried until it is fixed`,
      this.now,
    );
    this.serialisedLog = new BurstLog(
      (f, m) => this.log.warn({ event: 'partition_key_serialised', ...f }, m),
      `partition keys waited more than ${SERIALISED_KEY_WARN_MS} ms behind their own records in flight: per-key ordering (strict: one record per key per call) serialises them, one round trip per record. A hot key (many records of one entity, or a partitionKeyField shared by many records) caps its throughput; the default key is <source>:<entity key>`,
      this.now,
    );
    this.health = new SinkHealth(opts.name, driver.callName, this.now);
    this.updateGauges();
  }

  stats(): EngineStats {
    return {
      bufferedRecords: this.bufferedRecords,
      bufferedBytes: this.bufferedBytes,
      queuedRecords: this.pending.length,
      inFlightBatches: this.inFlight,
      backingOffRecords: this.backingOff,
      waitingRecords: this.waitingRecords,
    };
  }

  /** See `Sink.write`. @throws ProducerClosedError after close. */
  write(records: OutgoingRecord[]): Promise<Delivery[]> {
    if (this.closing) return Promise.reject(new ProducerClosedError(this.opts.name));
    const p = this.admit(records);
    this.writes.add(p);
    const forget = () => this.writes.delete(p);
    p.then(forget, forget);
    return p;
  }

  /** Sends everything buffered now and waits for it. @throws SinkAbandonedError when abandoned meanwhile. */
  async flush(): Promise<void> {
    this.flushing++;
    this.schedulePump();
    try {
      await Promise.all([...this.outstanding.keys()]);
    } finally {
      this.flushing--;
    }
  }

  /** Stops admitting, waits for admitted writes and delivers what is buffered (or until abandoned). */
  async close(): Promise<void> {
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
    this.serialisedLog.drain();
    this.health.dispose();
  }

  /** See `Sink.abandon`. */
  abandon(reason: string): number {
    if (this.abandoned !== undefined) return 0;
    const error = new SinkAbandonedError(this.opts.name, reason);
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
      const error = this.driver.validate(record);
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
          const bytes = bufferedBytesOf(record);
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
      bytes: bufferedBytesOf(record),
      seq: this.seq++,
      dataBytes: record.data.byteLength,
      bucket: this.driver.bucketOf?.(record) ?? 0,
      buffered,
      attempts: 0,
      dueAt: this.now() + this.opts.lingerMs,
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
      this.bufferedRecords + 1 <= this.opts.bufferMaxRecords &&
      this.bufferedBytes + bytes <= this.opts.bufferMaxBytes
    );
  }

  private reserve(bytes: number): void {
    this.bufferedRecords++;
    this.bufferedBytes += bytes;
    this.gaugesLater();
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
    this.gaugesLater();
  }

  /** Updates the buffer gauges once per turn of the event loop, not once per record. */
  private gaugesLater(): void {
    if (this.gaugesQueued) return;
    this.gaugesQueued = true;
    queueMicrotask(() => {
      this.gaugesQueued = false;
      this.updateGauges();
    });
  }

  private updateGauges(): void {
    producerBufferRecords.set(this.labels, this.bufferedRecords);
    producerBufferBytes.set(this.labels, this.bufferedBytes);
    producerBufferCapacityRatio.set(
      this.labels,
      Math.min(
        1,
        Math.max(
          this.bufferedRecords / this.opts.bufferMaxRecords,
          this.bufferedBytes / this.opts.bufferMaxBytes,
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
    if (left <= 0) {
      this.busy.delete(key);
      if (this.serialised.has(key)) this.idled.add(key);
    } else this.busy.set(key, left);
  }

  /**
   * The batch selector's `isBlocked`: a key is blocked while a record of it is in flight or backing
   * off. A key found blocked starts (or continues) a serialisation episode; one that lasts over
   * {@link SERIALISED_KEY_WARN_MS} is counted once and summarised in a warning.
   */
  private isBlocked(key: string, now: number): boolean {
    if (!this.busy.has(key)) return false;
    const episode = this.serialised.get(key);
    if (episode === undefined) this.serialised.set(key, { since: now, reported: false });
    else if (!episode.reported && now - episode.since > SERIALISED_KEY_WARN_MS) {
      episode.reported = true;
      producerSerialisedKeysTotal.inc(this.labels);
      this.serialisedLog.note('serialised', 1, { exampleKey: key, waitedMs: now - episode.since });
    }
    return true;
  }

  /** Ends the episodes of keys that went idle and were not sent again by this pump. */
  private endIdleEpisodes(): void {
    for (const key of this.idled) if (!this.busy.has(key)) this.serialised.delete(key);
    this.idled.clear();
  }

  private pump(): void {
    const now = this.now();
    try {
      this.pumpBatches(now);
    } finally {
      if (this.idled.size > 0) this.endIdleEpisodes();
    }
  }

  private pumpBatches(now: number): void {
    const isBlocked = (key: string) => this.isBlocked(key, now);
    while (this.inFlight < this.opts.maxInFlightBatches && this.pending.length > 0) {
      const selection = this.driver.select(this.pending, isBlocked);
      if (selection.indexes.length === 0) return;
      const due = Math.min(...selection.indexes.map((i) => this.pending[i]!.dueAt));
      const urgent =
        selection.full || due <= now || this.flushing > 0 || this.closing || this.waiter !== undefined;
      if (!urgent) {
        this.armTimer(due);
        return;
      }
      const units: Unit[] = selection.units.map((u) => ({
        entries: u.indexes.map((i) => this.pending[i]!),
        ...(u.tag === undefined ? {} : { tag: u.tag }),
      }));
      const chosen = new Set(selection.indexes);
      this.pending = this.pending.filter((_, i) => !chosen.has(i));
      for (const u of units) for (const e of u.entries) this.busyAdd(e.partitionKey, 1);
      this.inFlight++;
      void this.send(units, selection.bytes);
    }
  }

  private async send(units: Unit[], bytes: number): Promise<void> {
    const batch = units.flatMap((u) => u.entries);
    producerBatchesTotal.inc(this.labels);
    producerBatchRecords.observe(this.labels, batch.length);
    producerBatchBytes.observe(this.labels, bytes);
    this.driver.onSend?.(units);
    let resent = 0;
    for (const e of batch) {
      if (e.attempts > 0) resent++;
      e.attempts++;
    }
    if (resent > 0) producerRecordsTotal.inc({ ...this.labels, outcome: 'retried' }, resent);
    const started = performance.now();
    let results: UnitResult[] | undefined;
    let failure: ProducerError | undefined;
    try {
      results = await this.driver.send(units);
    } catch (err) {
      failure = this.driver.classify(err);
    }
    producerPutDurationSeconds.observe(this.labels, (performance.now() - started) / 1000);
    this.inFlight--;
    try {
      if (failure === undefined) this.onResponse(units, results!);
      else this.onCallFailed(units, failure);
    } catch (err) {
      // Our own bug: never strand the records; dead-letter them with the error.
      this.log.error({ event: 'sink_internal_error', err }, 'sink internal error');
      const error = new ProducerError(`internal error: ${describeError(err)}`, 'internal', { cause: err });
      const stranded = batch.filter((e) => this.outstanding.has(e.done));
      for (const e of stranded) this.busyAdd(e.partitionKey, -1);
      this.deadLetter(stranded.map((entry) => ({ entry, reason: error.message, error })));
    }
    this.schedulePump();
  }

  private onResponse(units: Unit[], results: UnitResult[]): void {
    if (results.length !== units.length) {
      throw new Error(`the driver answered ${results.length} results for ${units.length} units`);
    }
    const retry: Entry[] = [];
    const dead: DeadLetterItem[] = [];
    const codes = new Set<string>();
    let delivered = 0;
    let throttled = 0;
    units.forEach((unit, i) => {
      const r = results[i]!;
      if (r.ok) {
        for (const entry of unit.entries) {
          delivered++;
          this.busyAdd(entry.partitionKey, -1);
          this.settle(entry, {
            status: 'delivered',
            ...(r.shardId === undefined ? {} : { shardId: r.shardId }),
            ...(r.sequenceNumber === undefined ? {} : { sequenceNumber: r.sequenceNumber }),
          });
        }
        return;
      }
      const code = r.error.code ?? r.error.name;
      codes.add(code);
      producerFailedEntriesTotal.inc({ ...this.labels, error_code: code });
      if (r.error instanceof ThrottledError) throttled += unit.entries.length;
      for (const entry of unit.entries) this.retryOrDeadLetter(entry, r.error, retry, dead);
    });
    if (delivered > 0) {
      producerRecordsTotal.inc({ ...this.labels, outcome: 'delivered' }, delivered);
      this.health.succeeded();
    } else {
      this.health.failed(`every entry failed: ${[...codes].join(', ')}`);
    }
    if (throttled > 0) {
      producerThrottledTotal.inc(this.labels);
      this.throttleLog.note('throttled', throttled);
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
      // The service rejected the request as invalid; one record is to blame. Send each unit on its
      // own so only the bad one is dead-lettered. Their keys stay busy until each call settles.
      this.log.warn(
        { event: `${this.driver.component}_batch_split`, code: error.code, units: units.length },
        `${this.driver.callName} rejected a batch as invalid (${error.message}); resending its ${units.length} entries one per call to find the bad one`,
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
          event: `${this.driver.component}_put_rejected`,
          code: error.code,
          failureClass: error.failureClass,
          records: batch.length,
        },
        `${this.driver.callName} failed and cannot be retried: ${error.message}`,
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
    const reason = `${this.driver.callName} rejected the record (not retriable): ${error.message}`;
    dead.push({ entry, reason, error });
  }

  /** Waits a full-jitter backoff, then puts `entries` back in sequence order (ahead of newer records). Their keys stay blocked meanwhile. */
  private backoffAndRequeue(entries: Entry[], throttled: boolean): void {
    if (entries.length === 0) return;
    const attempt = Math.max(...entries.map((e) => e.attempts));
    const { retry } = this.opts;
    const base = throttled ? retry.throttledBaseDelayMs : retry.baseDelayMs;
    const delay = fullJitterDelayMs(attempt, base, retry.maxDelayMs, this.random);
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
      component: this.driver.component,
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
              Math.max(1, this.opts.retry.baseDelayMs),
              this.opts.retry.maxDelayMs,
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
