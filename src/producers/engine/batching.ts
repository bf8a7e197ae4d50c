/**
 * Pure batch selection and backoff shared by every sink: no I/O, no clock. The sink engine and the
 * property tests drive these functions; each sink supplies its own limits.
 */

/** The limits one batch must respect. */
export interface BatchLimits {
  /** Records per PutRecords call (AWS: 500). */
  maxBatchRecords: number;
  /** Bytes per call, data plus partition keys, UTF-8 (AWS: 5 MiB). */
  maxBatchBytes: number;
}

/** Anything the batcher can place: it needs the partition key and the size in bytes. */
export interface Sized {
  readonly partitionKey: string;
  /** Data plus partition key, in bytes (see {@link recordBytes}). */
  readonly bytes: number;
}

export interface SelectOptions extends BatchLimits {
  /**
   * Most records of one partition key in one batch: 1 for strict ordering, `Infinity` for relaxed.
   * @default Infinity
   */
  maxPerKey?: number;
  /** Keys that must not be sent now (a record of theirs is in flight or waiting to be retried). */
  isBlocked?: (partitionKey: string) => boolean;
  /**
   * The bytes an item counts for in the call, when the service counts differently from
   * {@link Sized.bytes} (Firehose: data plus newline, no partition key). @default item.bytes
   */
  sizeOf?: (item: Sized) => number;
}

export interface Selection {
  /** Indexes into `pending`, ascending. */
  indexes: number[];
  bytes: number;
  /** Whether the batch stopped because a limit was reached (so waiting for more records is pointless). */
  full: boolean;
}

/**
 * Chooses the next batch from `pending` (the queue, oldest first; the records of one key must
 * appear in write order). Walks the queue in order and takes a record unless its key is blocked,
 * the key already has `maxPerKey` records in the batch, or it does not fit; once a record of a key
 * is passed over, every later record of that key is passed over too, so a batch always holds a
 * prefix of each key's queued records and never reorders a key. Never exceeds `maxBatchRecords`
 * or `maxBatchBytes`. Records over the per-record limit must have been rejected before (see
 * {@link validateRecord}); a record larger than `maxBatchBytes` is never selected.
 */
export function selectBatch<T extends Sized>(pending: readonly T[], options: SelectOptions): Selection {
  const sizeOf = options.sizeOf;
  const maxPerKey = options.maxPerKey ?? Number.POSITIVE_INFINITY;
  const indexes: number[] = [];
  const perKey = new Map<string, number>();
  const passed = new Set<string>();
  let bytes = 0;
  let full = false;
  for (let i = 0; i < pending.length; i++) {
    if (indexes.length >= options.maxBatchRecords) {
      full = true;
      break;
    }
    const item = pending[i]!;
    const key = item.partitionKey;
    if (passed.has(key)) continue;
    if (options.isBlocked?.(key) || (perKey.get(key) ?? 0) >= maxPerKey) {
      passed.add(key);
      continue;
    }
    const size = sizeOf ? sizeOf(item) : item.bytes;
    if (bytes + size > options.maxBatchBytes) {
      full = true;
      passed.add(key);
      continue;
    }
    indexes.push(i);
    perKey.set(key, (perKey.get(key) ?? 0) + 1);
    bytes += size;
  }
  if (indexes.length >= options.maxBatchRecords) full = true;
  return { indexes, bytes, full };
}

/**
 * Splits a whole sequence into consecutive batches within the limits (relaxed ordering, nothing in
 * flight): the concatenation of the batches is the input, in order. Items over `maxBatchBytes`
 * cannot be placed and are returned in `rejected` (validate records first to avoid this).
 */
export function splitIntoBatches<T extends Sized>(
  items: readonly T[],
  limits: BatchLimits,
): { batches: T[][]; rejected: T[] } {
  const batches: T[][] = [];
  const rejected: T[] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    if (item.bytes > limits.maxBatchBytes) {
      rejected.push(item);
      continue;
    }
    if (current.length >= limits.maxBatchRecords || bytes + item.bytes > limits.maxBatchBytes) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += item.bytes;
  }
  if (current.length > 0) batches.push(current);
  return { batches, rejected };
}
