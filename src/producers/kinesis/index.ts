/**
 * The Kinesis sink: writes records to a Kinesis Data Stream with PutRecords, on the shared sink
 * engine (`../engine`: buffer, backpressure, per-key ordering, partial-failure retry, dead letters,
 * abandon at the shutdown deadline; see its module comment and ADR 5). This file supplies only what
 * is Kinesis's own: the PutRecords API reference limits (500 records and 5 MiB per call, 1 MiB per
 * record including the partition key, a partition key of 1-256 characters), batch forming (plain or
 * KPL-aggregated), the call, and error classification (`errors.ts`).
 *
 ## Ordering guarantee (per partition key)
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
import { ConfigError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { BatchUnit, EngineEntry, EngineStats, SinkDriver, UnitResult } from '../engine/index.js';
import { EngineSink, type EngineSinkDeps, engineDepsOf, LazyClient } from '../engine/sink-base.js';
import type { OutgoingRecord, Sink } from '../types.js';
import { bucketHashKey, hashBucketOf, holdPartialUnits, selectAggregatedBatch } from './aggregation.js';
import { selectBatch, validateRecord } from './batcher.js';
import { createKinesisClient, type PutRecordsClient, type PutRecordsEntry } from './client.js';
import { type KinesisSinkConfig, KinesisSinkSchema } from './config.js';
import {
  classifyEntryError,
  classifyKinesisError,
  ProducerError,
  PutRecordsError,
  StreamNotFoundError,
} from './errors.js';
import { encodeAggregated } from './kpl.js';
import { type PacedUnit, ShardAwareness } from './shard-aware.js';
import { hashPrefix, partitionKeyPrefix } from './shards.js';
import { producerAggregatedRecordsTotal, producerKinesisRecordsTotal } from './telemetry.js';

/** Aggregation hash buckets when neither `aggregation.hashBuckets` nor the shard count is known. */
const DEFAULT_HASH_BUCKETS = 64;

export * from './batcher.js';
export * from './client.js';
export * from './config.js';
export * from './errors.js';
export { decodeAggregated, encodeAggregated, isAggregated, KplFormatError, type UserRecord } from './kpl.js';

/** The config as written (before defaults); a parsed {@link KinesisSinkConfig} is accepted too. */
export type KinesisSinkInput = z.input<typeof KinesisSinkSchema>;

export interface KinesisSinkDeps extends EngineSinkDeps {
  /** The Kinesis client. @default createKinesisClient({ region, endpoint, requestTimeoutMs }) from config and env, created on first use */
  client?: PutRecordsClient;
}

/** A point-in-time view of the sink, for tests and debugging. */
export type KinesisSinkStats = EngineStats;

export interface KinesisSink extends Sink {
  stats(): KinesisSinkStats;
}

/** What the engine needs from Kinesis: limits, batch forming, PutRecords and its error classes. */
class KinesisDriver implements SinkDriver {
  readonly component = 'kinesis';
  readonly callName: string;
  /** Per-record limit: `maxRecordBytes`, or `maxBatchBytes` if smaller (a record must fit a batch). */
  private readonly recordLimit: number;
  private readonly maxPerKey: number;
  /** Hash buckets of aggregation: `aggregation.hashBuckets`, else the open shard count (see {@link useShardCount}). */
  private buckets: number;
  /** Whether records carry their hash prefix as `bucket` (no aggregation, shard map known). */
  private prefixed = false;
  /** Hash prefix of each aggregation tag (`ExplicitHashKey`). */
  private readonly tagPrefixes = new Map<string, number>();

  constructor(
    private readonly cfg: KinesisSinkConfig,
    private readonly client: () => PutRecordsClient,
    readonly shards: ShardAwareness,
    private readonly now: () => number,
  ) {
    this.callName = `PutRecords to stream "${cfg.streamName}"`;
    this.recordLimit = Math.min(cfg.maxRecordBytes, cfg.maxBatchBytes);
    this.maxPerKey = cfg.ordering === 'strict' ? 1 : Number.POSITIVE_INFINITY;
    this.buckets = cfg.aggregation.hashBuckets ?? DEFAULT_HASH_BUCKETS;
  }

  /**
   * Without a configured `aggregation.hashBuckets`, one bucket per open shard: aggregates then
   * pack every record bound for a shard, not a 64th of them. Called by `start()`, before any write.
   * @returns the bucket count in use.
   */
  useShardCount(shards: number | undefined): number {
    if (this.cfg.aggregation.hashBuckets === undefined && shards !== undefined && shards > 0) {
      this.buckets = shards;
    }
    return this.buckets;
  }

  validate(record: OutgoingRecord): ProducerError | undefined {
    return validateRecord(record, this.recordLimit);
  }

  /** Learns the shard map (start): from then on, plain records carry their hash prefix. */
  async learnShards(): Promise<void> {
    await this.shards.refresh('start');
    this.prefixed = this.shards.shardMap !== undefined && this.shards.enabled;
  }

  bucketOf(record: OutgoingRecord): number {
    if (this.cfg.aggregation.enabled) return hashBucketOf(record.partitionKey, this.buckets);
    return this.prefixed ? partitionKeyPrefix(record.partitionKey) : 0;
  }

  /** Where a unit lands: its tag (`ExplicitHashKey`) when it has one, else its record's hash prefix. */
  private prefixOf(tag: string | undefined, bucket: number): number {
    if (tag === undefined) return bucket;
    let p = this.tagPrefixes.get(tag);
    if (p === undefined) {
      p = hashPrefix(BigInt(tag));
      this.tagPrefixes.set(tag, p);
    }
    return p;
  }

  /** Leaves out units bound for shards whose token bucket is spent (see `ShardAwareness.trim`). */
  private trimmed<
    S extends { units: { indexes: number[]; tag?: string }[]; indexes: number[]; bytes: number },
  >(selection: S, pending: readonly EngineEntry[]): S {
    if (this.shards.shardMap === undefined || selection.units.length === 0) return selection;
    const paced = selection.units.map((u) => {
      const first = pending[u.indexes[0]!]!;
      return {
        prefix: this.prefixOf(u.tag, first.bucket),
        bytes: u.indexes.reduce((n, i) => n + pending[i]!.bytes, 0),
      };
    });
    const keep = this.shards.trim(paced);
    if (keep.every(Boolean)) return selection;
    const units = selection.units.filter((_, i) => keep[i]);
    const indexes = units.flatMap((u) => u.indexes).sort((a, b) => a - b);
    return {
      ...selection,
      units,
      indexes,
      bytes: paced.reduce((n, p, i) => n + (keep[i] ? p.bytes : 0), 0),
    };
  }

  select(pending: readonly EngineEntry[], isBlocked: (key: string) => boolean) {
    const agg = this.cfg.aggregation;
    if (!agg.enabled) {
      const s = selectBatch(pending, {
        maxBatchRecords: this.cfg.maxBatchRecords,
        maxBatchBytes: this.cfg.maxBatchBytes,
        maxPerKey: this.maxPerKey,
        isBlocked,
      });
      return this.trimmed({ ...s, units: s.indexes.map((i) => ({ indexes: [i] })) }, pending);
    }
    const s = holdPartialUnits(
      pending,
      selectAggregatedBatch(pending, {
        maxBatchRecords: this.cfg.maxBatchRecords,
        maxBatchBytes: this.cfg.maxBatchBytes,
        maxAggregateBytes: Math.min(agg.maxBytes, this.recordLimit),
        strict: this.cfg.ordering === 'strict',
        isBlocked,
      }),
      this.now(),
    );
    return this.trimmed(
      {
        ...s,
        units: s.units.map((u) => ({ indexes: u.indexes, tag: bucketHashKey(u.bucket, this.buckets) })),
      },
      pending,
    );
  }

  onSend(units: readonly BatchUnit[]): void {
    const labels = { sink: this.cfg.name };
    const aggregates = units.filter((u) => u.entries.length > 1);
    producerKinesisRecordsTotal.inc({ ...labels, kind: 'single' }, units.length - aggregates.length);
    if (aggregates.length > 0) {
      producerKinesisRecordsTotal.inc({ ...labels, kind: 'aggregate' }, aggregates.length);
      producerAggregatedRecordsTotal.inc(
        labels,
        aggregates.reduce((n, u) => n + u.entries.length, 0),
      );
    }
  }

  async send(units: readonly BatchUnit[]): Promise<UnitResult[]> {
    const records = units.map((u) => toPutEntry(u));
    const paced: PacedUnit[] = units.map((u, i) => ({
      prefix: this.prefixOf(u.tag, u.entries[0]!.bucket),
      bytes: records[i]!.Data.byteLength + Buffer.byteLength(records[i]!.PartitionKey, 'utf8'),
    }));
    await this.shards.pace(paced);
    const output = await this.client().putRecords({ StreamName: this.cfg.streamName, Records: records });
    const results = output.Records ?? [];
    if (results.length !== units.length) {
      throw new PutRecordsError(
        `PutRecords returned ${results.length} results for ${units.length} records`,
        'malformed_response',
        { retriable: true, code: 'MalformedResponse' },
      );
    }
    this.shards.observe(
      paced,
      units.map((u) => u.entries.length),
      results,
    );
    return results.map((r) =>
      r.ErrorCode
        ? { ok: false, error: classifyEntryError(r.ErrorCode, r.ErrorMessage) }
        : {
            ok: true,
            ...(r.ShardId === undefined ? {} : { shardId: r.ShardId }),
            ...(r.SequenceNumber === undefined ? {} : { sequenceNumber: r.SequenceNumber }),
          },
    );
  }

  classify(err: unknown): ProducerError {
    const e = classifyKinesisError(err);
    this.shards.observeError(e.code);
    return e;
  }
}

/** The PutRecords entry of a unit: the record itself, or a KPL aggregate keyed by its first record. */
function toPutEntry(unit: BatchUnit): PutRecordsEntry {
  const first = unit.entries[0]!.record;
  const ehk = unit.tag === undefined ? {} : { ExplicitHashKey: unit.tag };
  if (unit.entries.length === 1) return { Data: first.data, PartitionKey: first.partitionKey, ...ehk };
  return {
    Data: encodeAggregated(
      unit.entries.map((e) => ({ partitionKey: e.record.partitionKey, data: e.record.data })),
    ),
    PartitionKey: first.partitionKey,
    ...ehk,
  };
}

class KinesisSinkImpl extends EngineSink<PutRecordsClient> implements KinesisSink {
  constructor(
    private readonly cfg: KinesisSinkConfig,
    private readonly driver: KinesisDriver,
    deps: KinesisSinkDeps,
    client: LazyClient<PutRecordsClient>,
    log: Logger,
  ) {
    super(cfg, driver, engineDepsOf(deps, log), client);
  }

  async start(signal?: AbortSignal): Promise<void> {
    const client = this.client.get();
    const stream = this.cfg.streamName;
    const { status, openShardCount: shards } = await this.waitForDestination({
      describe: () => client.describeStream(stream),
      classify: classifyKinesisError,
      missing: (e, err) =>
        e.code === 'ResourceNotFoundException'
          ? new StreamNotFoundError(stream, client.endpoint, err)
          : undefined,
      what: `Kinesis stream "${stream}"`,
      endpoint: client.endpoint,
      retry: this.cfg.retry,
      signal,
    });
    if (status === 'DELETING') {
      throw new ProducerError(`Kinesis stream "${stream}" at ${client.endpoint} is being deleted`, 'config', {
        retriable: false,
      });
    }
    await this.driver.learnShards();
    const agg = this.cfg.aggregation;
    const hashBuckets = this.driver.useShardCount(this.driver.shards.shardMap?.size ?? shards);
    if (agg.enabled && shards !== undefined && shards > hashBuckets) {
      this.log.warn(
        { event: 'aggregation_buckets_below_shards', shards, hashBuckets },
        `aggregation.hashBuckets (${hashBuckets}) is below the open shard count (${shards}): some shards receive no records; raise hashBuckets`,
      );
    }
    this.log.info(
      {
        event: 'sink_started',
        endpoint: client.endpoint,
        status,
        shards: this.driver.shards.shardMap?.size ?? shards,
        ...(this.cfg.shardLimits.enabled ? { shardLimits: this.cfg.shardLimits } : {}),
        ...(agg.enabled ? { aggregation: { ...agg, hashBuckets } } : {}),
      },
      'kinesis sink started',
    );
  }

  async ready(): Promise<boolean> {
    try {
      const { status } = await this.client.get().describeStream(this.cfg.streamName);
      return status === 'ACTIVE' || status === 'UPDATING';
    } catch {
      return false;
    }
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
  const parsed = KinesisSinkSchema.safeParse(config);
  if (!parsed.success)
    throw new ConfigError(`kinesis sink config: ${parsed.error.message}`, { cause: parsed.error });
  const cfg = parsed.data;
  const client = new LazyClient(deps.client, () =>
    createKinesisClient({
      region: cfg.region,
      endpoint: cfg.endpoint,
      requestTimeoutMs: cfg.requestTimeoutMs,
    }),
  );
  const log = deps.logger.child({ component: 'kinesis', sink: cfg.name, stream: cfg.streamName });
  const shards = new ShardAwareness({
    sink: cfg.name,
    streamName: cfg.streamName,
    limits: cfg.shardLimits.enabled ? cfg.shardLimits : undefined,
    client: () => client.get(),
    log,
    now: deps.now ?? Date.now,
    sleep: deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
  });
  const driver = new KinesisDriver(cfg, () => client.get(), shards, deps.now ?? Date.now);
  return new KinesisSinkImpl(cfg, driver, deps, client, log);
}

/** Registry entry: the sink's type, config schema and factory. */
export const kinesisSinkComponent = {
  type: 'kinesis',
  schema: KinesisSinkSchema,
  create: createKinesisSink,
} as const;
