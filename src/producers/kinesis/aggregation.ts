/**
 * Batch forming with KPL aggregation (`aggregation.enabled`): user records are packed into
 * aggregated Kinesis records (format: `kpl.ts`), and those into PutRecords calls. Pure: no I/O.
 *
 * ## Routing: hash buckets, not a shard map
 * Kinesis routes a record by a 128-bit hash key: MD5 of its partition key, or its
 * `ExplicitHashKey`. An aggregate has one hash key, so every user record in it lands on that one
 * shard. We split the hash key space into `aggregation.hashBuckets` equal slices; a user record
 * belongs to the bucket holding MD5(its partition key), only records of one bucket share an
 * aggregate, and every Kinesis record of a bucket (aggregate or single record) is sent with the
 * same `ExplicitHashKey`: the middle of the bucket's slice ({@link bucketHashKey}). The Kinesis
 * `PartitionKey` of an aggregate is its first user record's key (informational: the hash key wins);
 * each user record's own key is in the aggregate's key table, where Firehose, the KCL and the bronze
 * writer read it back.
 *
 * We chose this over KPL's approach (predict each record's shard from a cached ListShards map and
 * send the aggregate with a hash key inside that shard) because it needs no ListShards, no map
 * refresh, and has no stale-map window: the hash key of a user record is a fixed function of its
 * partition key and `hashBuckets`, exactly as MD5(partition key) is without aggregation. With a
 * shard map, a key's hash key changes when the map is refreshed after a split, so a key's earlier
 * records can sit on one child shard and its later ones on the sibling, which consumers read in
 * parallel. The cost: placement is per bucket, not per key. When shard boundaries fall on bucket
 * boundaries (streams created with a power-of-two shard count, or split in halves, which is what
 * on-demand scaling and UpdateShardCount's uniform scaling do, as long as shards ≤ buckets) each
 * shard receives exactly the keys it would without aggregation. Otherwise a whole bucket goes to
 * the shard holding its middle, and with more open shards than buckets some shards get nothing,
 * so `hashBuckets` should be at least the open shard count (the sink warns at start when not).
 *
 * ## Ordering argument (per partition key)
 * 1. Routing is per key and fixed: all records of key K carry the hash key of bucket(K), so at any
 *    moment they go to the one shard whose range holds it, and after a reshard to the one child
 *    that holds it (consumers read a parent to its end before its children). This is the same
 *    guarantee Kinesis gives plain records, so per-shard order is all that remains to keep.
 * 2. An aggregate is accepted or rejected as a whole (one PutRecords entry, one sequence number),
 *    and its user records decode in the order they were packed: the walk below packs each key's
 *    records in queue (write) order.
 * 3. `ordering: 'strict'`: a key's records in one batch are all in ONE unit (aggregate or single
 *    record); once a key's unit is closed (full) or another unit would be needed, the key is passed
 *    over for this batch. With the sink's key blocking (a key with anything in flight or backing off
 *    is not selected), a key has at most one unit in flight, and a retried unit's records re-enter
 *    the queue ahead of the key's newer records. So Kinesis accepts each key's records in write
 *    order, across partial failures and retries (a dead-lettered record is missing, not reordered).
 *    Compared with no aggregation, strict now lets several records of a hot key share the one unit
 *    in flight (in order), instead of one record per round trip.
 * 4. `ordering: 'relaxed'`: a key's records may span several units of one batch (in write order);
 *    as without aggregation, a partial failure that rejects an earlier unit and accepts a later one
 *    reorders them.
 * Changing `hashBuckets`, or turning aggregation on or off, changes where keys land (like changing
 * the partition key scheme): records sent before and after the change may sit on different shards.
 */
import type { BatchLimits, Sized } from './batcher.js';
import { partitionKeyBytes } from './batcher.js';
import { AggregateSizer } from './kpl.js';

export { bucketHashKey, hashBucketOf } from './kpl.js';

/** A queued record as the aggregating batcher sees it. */
export interface AggregatableItem extends Sized {
  /** Data bytes (without the partition key). */
  readonly dataBytes: number;
  /** Its hash bucket ({@link hashBucketOf}). */
  readonly bucket: number;
}

export interface AggregateSelectOptions extends BatchLimits {
  /** Largest aggregated Kinesis record: data (magic + protobuf + MD5) plus its partition key. */
  maxAggregateBytes: number;
  /** `ordering: 'strict'`: all of a key's records in a batch share one unit. */
  strict: boolean;
  /** Keys that must not be sent now (something of theirs is in flight or backing off). */
  isBlocked?: (partitionKey: string) => boolean;
}

/** One Kinesis record of the batch: a single user record, or an aggregate of several. */
export interface SelectedUnit {
  /** Indexes into `pending`, ascending (the packing order). */
  indexes: number[];
  bucket: number;
  /** Kinesis record size: its data plus its partition key (the first user record's). */
  bytes: number;
}

export interface AggregateSelection {
  /** Units in creation order. */
  units: SelectedUnit[];
  /** Every index in `units`, ascending. */
  indexes: number[];
  /** Sum of the units' bytes (what counts towards `maxBatchBytes`). */
  bytes: number;
  /** Whether a batch limit stopped the walk (waiting for more records is pointless). */
  full: boolean;
}

interface OpenUnit extends SelectedUnit {
  sizer: AggregateSizer;
  firstKeyBytes: number;
}

/**
 * Chooses the next batch from `pending` (oldest first; a key's records in write order), packing
 * records of one hash bucket into aggregates of at most `maxAggregateBytes` and the aggregates into
 * a batch of at most `maxBatchRecords` Kinesis records and `maxBatchBytes`. Like `selectBatch`, once
 * a record of a key is passed over, every later record of that key is too, so a batch holds a
 * prefix of each key's queue. A record that does not fit an aggregate on its own (over
 * `maxAggregateBytes`) is sent as a single record.
 */
export function selectAggregatedBatch(
  pending: readonly AggregatableItem[],
  options: AggregateSelectOptions,
): AggregateSelection {
  const units: OpenUnit[] = [];
  const open = new Map<number, OpenUnit>();
  const keyUnit = new Map<string, OpenUnit>();
  const passed = new Set<string>();
  const indexes: number[] = [];
  let bytes = 0;
  let full = false;
  for (let i = 0; i < pending.length; i++) {
    const item = pending[i]!;
    const key = item.partitionKey;
    if (passed.has(key)) continue;
    if (options.isBlocked?.(key)) {
      passed.add(key);
      continue;
    }
    const unit = open.get(item.bucket);
    const mine = keyUnit.get(key);
    if (options.strict && mine !== undefined && mine !== unit) {
      passed.add(key);
      continue;
    }
    if (unit !== undefined) {
      const next = unit.sizer.sizeWith(key, item.dataBytes) + unit.firstKeyBytes;
      if (next <= options.maxAggregateBytes && bytes - unit.bytes + next <= options.maxBatchBytes) {
        unit.sizer.add(key, item.dataBytes);
        bytes += next - unit.bytes;
        unit.bytes = next;
        unit.indexes.push(i);
        indexes.push(i);
        keyUnit.set(key, unit);
        continue;
      }
      if (next <= options.maxAggregateBytes) full = true; // the batch's bytes, not the aggregate, are the limit
    }
    // A new unit: not for a strict key that already has one in this batch.
    if (options.strict && mine !== undefined) {
      passed.add(key);
      continue;
    }
    if (units.length >= options.maxBatchRecords || bytes + item.bytes > options.maxBatchBytes) {
      full = true;
      passed.add(key);
      continue;
    }
    const sizer = new AggregateSizer();
    sizer.add(key, item.dataBytes);
    const created: OpenUnit = {
      indexes: [i],
      bucket: item.bucket,
      bytes: item.bytes,
      sizer,
      firstKeyBytes: partitionKeyBytes(key),
    };
    units.push(created);
    open.set(item.bucket, created);
    keyUnit.set(key, created);
    indexes.push(i);
    bytes += item.bytes;
  }
  if (units.length >= options.maxBatchRecords) full = true;
  indexes.sort((a, b) => a - b);
  return {
    units: units.map(({ indexes: ix, bucket, bytes: b }) => ({ indexes: ix, bucket, bytes: b })),
    indexes,
    bytes,
    full,
  };
}

/** A PUT payload unit: Kinesis bills each record in 25 KB units, rounded up (Kinesis Data Streams pricing). */
export const PUT_PAYLOAD_UNIT_BYTES = 25 * 1024;

/** Rounding waste a tail aggregate may carry and still go whole, as a share of its billed bytes. */
const TAIL_WASTE_SHARE = 0.02;

/** A queued record with its send deadline, as {@link holdPartialUnits} sees it. */
export interface DueItem extends AggregatableItem {
  /** When it must be sent at the latest (ms; the engine's linger deadline). */
  readonly dueAt: number;
}

/**
 * Packs across flushes: the last aggregate of each bucket in `selection` (its tail, the only one
 * that may be partly filled) is cut at a PUT payload unit boundary, and what lies beyond the cut
 * stays queued to share an aggregate with the records that arrive next. The cut keeps every record
 * that is due (`dueAt <= nowMs`) and then fills whole units: the aggregate sent is as close to
 * k × 25 KB as the records allow (waste below one record), where k is the fewest units holding the
 * due records, or the whole units of the tail when none is due. A tail wasting at most 2 % of its
 * billed bytes goes whole; a tail below one unit with nothing due waits entirely.
 *
 * Per-key order holds: a tail holds its bucket's newest records, and what is held back is a suffix
 * of it, so each key still goes as a prefix of its queue. When everything would be held back the
 * selection is returned unchanged (the engine's linger, flush and close decide when it goes).
 * @param unitBytes - the billing unit. @default {@link PUT_PAYLOAD_UNIT_BYTES}
 */
export function holdPartialUnits(
  pending: readonly DueItem[],
  selection: AggregateSelection,
  nowMs: number,
  unitBytes = PUT_PAYLOAD_UNIT_BYTES,
): AggregateSelection {
  const tails = new Map<number, SelectedUnit>();
  for (const u of selection.units) tails.set(u.bucket, u);
  const cuts = new Map<SelectedUnit, SelectedUnit | undefined>();
  for (const tail of tails.values()) {
    const billed = Math.ceil(tail.bytes / unitBytes) * unitBytes;
    if (billed - tail.bytes <= TAIL_WASTE_SHARE * billed) continue;
    const sizes = prefixSizes(pending, tail.indexes);
    let lastDue = -1;
    tail.indexes.forEach((i, j) => {
      if (pending[i]!.dueAt <= nowMs) lastDue = j;
    });
    const required = lastDue < 0 ? 0 : Math.ceil(sizes[lastDue]! / unitBytes);
    const limit = Math.max(required, Math.floor(tail.bytes / unitBytes)) * unitBytes;
    let cut = -1;
    while (cut + 1 < sizes.length && sizes[cut + 1]! <= limit) cut++;
    cuts.set(
      tail,
      cut < 0
        ? undefined
        : { indexes: tail.indexes.slice(0, cut + 1), bucket: tail.bucket, bytes: sizes[cut]! },
    );
  }
  if (cuts.size === 0) return selection;
  const units: SelectedUnit[] = [];
  for (const u of selection.units) {
    const replaced = cuts.has(u) ? cuts.get(u) : u;
    if (replaced !== undefined) units.push(replaced);
  }
  if (units.length === 0) return selection;
  return {
    units,
    indexes: units.flatMap((u) => u.indexes).sort((a, b) => a - b),
    bytes: units.reduce((n, u) => n + u.bytes, 0),
    full: selection.full,
  };
}

/** Kinesis record size (aggregate data plus the first key) after each record of `indexes`, in order. */
function prefixSizes(pending: readonly AggregatableItem[], indexes: readonly number[]): number[] {
  const first = pending[indexes[0]!]!;
  if (indexes.length === 1) return [first.bytes];
  const sizer = new AggregateSizer();
  const keyBytes = partitionKeyBytes(first.partitionKey);
  return indexes.map((i, j) => {
    const item = pending[i]!;
    sizer.add(item.partitionKey, item.dataBytes);
    // A lone record goes as itself (data plus key); two or more make an aggregate.
    return j === 0 ? item.bytes : sizer.size() + keyBytes;
  });
}
