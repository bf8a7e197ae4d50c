/**
 * The KPL aggregated record format (amazon-kinesis-producer, `aggregation-format.md`), shared by the
 * Kinesis sink (which packs user records into aggregates) and the bronze writer (which unpacks them):
 *
 * ```
 * 0xF3 0x89 0x9A 0xC2 | protobuf AggregatedRecord | MD5(protobuf bytes), 16 bytes
 * ```
 *
 * Library choice: the protobuf is encoded and decoded with `protobufjs` (v7, actively maintained,
 * no native code, already in the tree through `@grpc/proto-loader`) from the format's own `.proto`
 * text below. We did not take AWS Labs' `aws-kinesis-agg` (4.2.8): it pins `protobufjs` to 7.2.4
 * exactly (a version with a published prototype-pollution advisory fixed in 7.2.5) and pulls in
 * `async`, `agentkeepalive` and `minimist` for what is two message types and an MD5; its callback
 * API and its own batching would also duplicate what the sink already does (limits, ordering).
 * MD5 comes from `node:crypto`.
 *
 * Only {@link aggregatedSize} computes the protobuf size by hand (so the batcher can pack records
 * without encoding on every step); the tests check it against the encoder byte for byte.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';

/** First bytes of a KPL-aggregated record. */
export const KPL_MAGIC: readonly number[] = [0xf3, 0x89, 0x9a, 0xc2];
/** Length of the MD5 trailer. */
export const KPL_CHECKSUM_BYTES = 16;
/** Magic plus checksum: the bytes an aggregate adds around its protobuf. */
export const KPL_OVERHEAD_BYTES = KPL_MAGIC.length + KPL_CHECKSUM_BYTES;

/** The schema from `aggregation-format.md` (`required` is checked by {@link decodeAggregated}). */
const KPL_PROTO = `
syntax = "proto2";
message AggregatedRecord {
  repeated string partition_key_table = 1;
  repeated string explicit_hash_key_table = 2;
  repeated Record records = 3;
}
message Tag {
  required string key = 1;
  optional string value = 2;
}
message Record {
  required uint64 partition_key_index = 1;
  optional uint64 explicit_hash_key_index = 2;
  required bytes data = 3;
  repeated Tag tags = 4;
}
`;

// protobufjs is required on first use: a sink without aggregation (the default) never loads it
// (start-up CPU, issue 8).
let aggregatedRecordType: import('protobufjs').Type | undefined;
function AggregatedRecordType(): import('protobufjs').Type {
  if (aggregatedRecordType === undefined) {
    const protobuf = createRequire(import.meta.url)('protobufjs') as typeof import('protobufjs');
    aggregatedRecordType = protobuf.parse(KPL_PROTO, { keepCase: true }).root.lookupType('AggregatedRecord');
  }
  return aggregatedRecordType;
}

/** One user record inside an aggregate. */
export interface UserRecord {
  partitionKey: string;
  /** Decimal 128-bit hash key, when the record had one. */
  explicitHashKey?: string;
  data: Uint8Array;
}

/** The data is not a valid KPL aggregate (bad checksum, bad protobuf, index out of range). */
export class KplFormatError extends Error {
  override readonly name = 'KplFormatError';
}

interface AggregatedRecordObject {
  partition_key_table?: string[];
  explicit_hash_key_table?: string[];
  records?: { partition_key_index: number; explicit_hash_key_index?: number; data: Uint8Array }[];
}

/** Whether `data` starts with the KPL magic bytes (it may still be corrupt: see {@link decodeAggregated}). */
export function isAggregated(data: Uint8Array): boolean {
  return data.length >= KPL_MAGIC.length && KPL_MAGIC.every((b, i) => data[i] === b);
}

/**
 * Packs user records into one KPL aggregate, in order. Partition keys (and explicit hash keys) are
 * written once each to their tables.
 */
export function encodeAggregated(records: readonly UserRecord[]): Uint8Array {
  const keys = new Map<string, number>();
  const hashKeys = new Map<string, number>();
  const indexOf = (table: Map<string, number>, value: string): number => {
    let i = table.get(value);
    if (i === undefined) {
      i = table.size;
      table.set(value, i);
    }
    return i;
  };
  const message = AggregatedRecordType().fromObject({
    records: records.map((r) => ({
      partition_key_index: indexOf(keys, r.partitionKey),
      ...(r.explicitHashKey === undefined
        ? {}
        : { explicit_hash_key_index: indexOf(hashKeys, r.explicitHashKey) }),
      data: r.data,
    })),
    partition_key_table: [...keys.keys()],
    explicit_hash_key_table: [...hashKeys.keys()],
  });
  const body = AggregatedRecordType().encode(message).finish();
  const out = new Uint8Array(KPL_OVERHEAD_BYTES + body.length);
  out.set(KPL_MAGIC, 0);
  out.set(body, KPL_MAGIC.length);
  out.set(createHash('md5').update(body).digest(), KPL_MAGIC.length + body.length);
  return out;
}

/**
 * Unpacks a KPL aggregate into its user records, in order.
 * @throws KplFormatError when the magic is missing, the record is too short, the MD5 does not
 * match, the protobuf does not decode (or lacks a required field), or an index is out of range.
 */
export function decodeAggregated(data: Uint8Array): UserRecord[] {
  if (!isAggregated(data)) throw new KplFormatError('no KPL magic bytes');
  if (data.length < KPL_OVERHEAD_BYTES) throw new KplFormatError(`too short (${data.length} bytes)`);
  const body = data.subarray(KPL_MAGIC.length, data.length - KPL_CHECKSUM_BYTES);
  const checksum = data.subarray(data.length - KPL_CHECKSUM_BYTES);
  if (!createHash('md5').update(body).digest().equals(checksum))
    throw new KplFormatError('MD5 checksum mismatch');
  let decoded: AggregatedRecordObject;
  try {
    const type = AggregatedRecordType();
    decoded = type.toObject(type.decode(body), {
      longs: Number,
      arrays: true,
    }) as AggregatedRecordObject;
  } catch (err) {
    throw new KplFormatError(`bad protobuf: ${err instanceof Error ? err.message : String(err)}`);
  }
  const keys = decoded.partition_key_table ?? [];
  const hashKeys = decoded.explicit_hash_key_table ?? [];
  return (decoded.records ?? []).map((r, i) => {
    // protobufjs' reflection decoder does not enforce proto2 `required`: check it here.
    if (typeof r.partition_key_index !== 'number' || !(r.data instanceof Uint8Array))
      throw new KplFormatError(
        `bad protobuf: record ${i} lacks required ${typeof r.partition_key_index !== 'number' ? 'partition_key_index' : 'data'}`,
      );
    const partitionKey = keys[r.partition_key_index];
    if (partitionKey === undefined)
      throw new KplFormatError(
        `record ${i}: partition_key_index ${r.partition_key_index} out of range (${keys.length} keys)`,
      );
    let explicitHashKey: string | undefined;
    if (r.explicit_hash_key_index !== undefined) {
      explicitHashKey = hashKeys[r.explicit_hash_key_index];
      if (explicitHashKey === undefined)
        throw new KplFormatError(
          `record ${i}: explicit_hash_key_index ${r.explicit_hash_key_index} out of range (${hashKeys.length} hash keys)`,
        );
    }
    const bytes = new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength);
    return { partitionKey, ...(explicitHashKey === undefined ? {} : { explicitHashKey }), data: bytes };
  });
}

/** Bytes of a protobuf varint. */
function varintBytes(n: number): number {
  let bytes = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    bytes++;
  }
  return bytes;
}

/** Bytes of a length-delimited field with a one-byte tag (every field here has a number below 16). */
function fieldBytes(length: number): number {
  return 1 + varintBytes(length) + length;
}

/**
 * Incremental size of an aggregate (without explicit hash keys or tags), so a batcher can ask
 * "does one more record fit?" in O(1).
 */
export class AggregateSizer {
  private readonly keys = new Map<string, number>();
  private protoBytes = 0;
  private count = 0;

  /** User records added. */
  get records(): number {
    return this.count;
  }

  /** The aggregate's data size (magic + protobuf + MD5) if `record` were added. */
  sizeWith(partitionKey: string, dataBytes: number): number {
    return KPL_OVERHEAD_BYTES + this.protoBytes + this.delta(partitionKey, dataBytes);
  }

  /** The aggregate's data size (magic + protobuf + MD5). */
  size(): number {
    return KPL_OVERHEAD_BYTES + this.protoBytes;
  }

  add(partitionKey: string, dataBytes: number): void {
    this.protoBytes += this.delta(partitionKey, dataBytes);
    if (!this.keys.has(partitionKey)) this.keys.set(partitionKey, this.keys.size);
    this.count++;
  }

  private delta(partitionKey: string, dataBytes: number): number {
    const known = this.keys.get(partitionKey);
    const index = known ?? this.keys.size;
    const keyEntry = known === undefined ? fieldBytes(Buffer.byteLength(partitionKey, 'utf8')) : 0;
    const inner = 1 + varintBytes(index) + fieldBytes(dataBytes);
    return keyEntry + fieldBytes(inner);
  }
}

/** The data size of an aggregate of `records` (what {@link encodeAggregated} returns, without explicit hash keys). */
export function aggregatedSize(records: readonly Pick<UserRecord, 'partitionKey' | 'data'>[]): number {
  const sizer = new AggregateSizer();
  for (const r of records) sizer.add(r.partitionKey, r.data.byteLength);
  return sizer.size();
}

// ---- routing: hash buckets ----

const HASH_SPACE = 1n << 128n;

/** The 128-bit hash Kinesis maps a partition key to: MD5 of its UTF-8 bytes, big-endian. */
export function partitionKeyHash(partitionKey: string): bigint {
  return BigInt(`0x${createHash('md5').update(partitionKey, 'utf8').digest('hex')}`);
}

/** The bucket (0 ≤ b < `buckets`) whose slice of the hash key space holds `partitionKey`'s hash. */
export function hashBucketOf(partitionKey: string, buckets: number): number {
  return Number((partitionKeyHash(partitionKey) * BigInt(buckets)) >> 128n);
}

/**
 * The explicit hash key (decimal) every record of bucket `bucket` is sent with: the middle of the
 * bucket's slice `[b·2¹²⁸/B, (b+1)·2¹²⁸/B)`, so it is inside the slice and below 2¹²⁸.
 */
export function bucketHashKey(bucket: number, buckets: number): string {
  return (((2n * BigInt(bucket) + 1n) * HASH_SPACE) / (2n * BigInt(buckets))).toString();
}
