import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  aggregatedSize,
  bucketHashKey,
  decodeAggregated,
  encodeAggregated,
  hashBucketOf,
  isAggregated,
  KPL_MAGIC,
  KplFormatError,
  partitionKeyHash,
} from './kpl.js';

const userRecords = fc.array(
  fc.record({
    partitionKey: fc.oneof(fc.constantFrom('a', 'b', 'c'), fc.string({ minLength: 1, maxLength: 256 })),
    data: fc.uint8Array({ maxLength: 300 }),
  }),
  { maxLength: 40 },
);

describe('KPL aggregate encoding', () => {
  it('round-trips any list of records in order, and its size is what aggregatedSize predicts (property)', () => {
    fc.assert(
      fc.property(userRecords, (records) => {
        const bytes = encodeAggregated(records);
        expect(isAggregated(bytes)).toBe(true);
        expect(bytes.length).toBe(aggregatedSize(records));
        const decoded = decodeAggregated(bytes);
        expect(decoded.map((r) => r.partitionKey)).toEqual(records.map((r) => r.partitionKey));
        expect(decoded.map((r) => [...r.data])).toEqual(records.map((r) => [...r.data]));
      }),
      { numRuns: 300 },
    );
  });

  it('detects any corrupted byte after the magic (MD5 or protobuf check) (property)', () => {
    fc.assert(
      fc.property(
        userRecords.filter((r) => r.length > 0),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (records, at, flip) => {
          const bytes = encodeAggregated(records);
          const i = KPL_MAGIC.length + (at % (bytes.length - KPL_MAGIC.length));
          bytes[i] = (bytes[i]! ^ flip) & 0xff;
          expect(() => decodeAggregated(bytes)).toThrow(KplFormatError);
        },
      ),
    );
  });

  it('writes the KPL layout: magic, protobuf with a key table, MD5 of the protobuf', () => {
    const bytes = encodeAggregated([
      { partitionKey: 'k', data: new Uint8Array([7]) },
      { partitionKey: 'k', data: new Uint8Array([8]) },
    ]);
    expect([...bytes.subarray(0, 4)]).toEqual([0xf3, 0x89, 0x9a, 0xc2]);
    const body = bytes.subarray(4, bytes.length - 16);
    // partition_key_table ["k"], then two records {partition_key_index 0, data [7]} / {0, [8]}.
    expect([...body]).toEqual([0x0a, 1, 0x6b, 0x1a, 5, 0x08, 0, 0x1a, 1, 7, 0x1a, 5, 0x08, 0, 0x1a, 1, 8]);
    expect([...bytes.subarray(bytes.length - 16)]).toEqual([...createHash('md5').update(body).digest()]);
  });

  it('rejects a bad MD5, a protobuf without required fields, an index out of range, a short record', () => {
    const frame = (body: number[]) =>
      new Uint8Array([...KPL_MAGIC, ...body, ...createHash('md5').update(new Uint8Array(body)).digest()]);
    const good = encodeAggregated([{ partitionKey: 'k', data: new Uint8Array([1]) }]);
    good[good.length - 1] = good[good.length - 1]! ^ 1;
    expect(() => decodeAggregated(good)).toThrow(/MD5 checksum mismatch/);
    // A record without `data` (required).
    expect(() => decodeAggregated(frame([0x0a, 1, 0x6b, 0x1a, 2, 0x08, 0]))).toThrow(/bad protobuf/);
    // partition_key_index 3 with a one-key table.
    expect(() => decodeAggregated(frame([0x0a, 1, 0x6b, 0x1a, 4, 0x08, 3, 0x1a, 0]))).toThrow(/out of range/);
    // Not a protobuf at all.
    expect(() => decodeAggregated(frame([0xff, 0xff, 0xff]))).toThrow(/bad protobuf/);
    expect(() => decodeAggregated(new Uint8Array([...KPL_MAGIC, 1, 2]))).toThrow(/too short/);
  });
});

describe('hash buckets', () => {
  it('hashes a partition key like Kinesis (MD5, big-endian 128-bit)', () => {
    expect(partitionKeyHash('')).toBe(0xd41d8cd98f00b204e9800998ecf8427en);
  });

  it("puts a key in the bucket whose slice holds its hash, and the bucket's hash key inside that slice (property)", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.integer({ min: 1, max: 65_536 }), (key, buckets) => {
        const b = hashBucketOf(key, buckets);
        expect(b).toBeGreaterThanOrEqual(0);
        expect(b).toBeLessThan(buckets);
        const h = partitionKeyHash(key);
        const lo = (BigInt(b) << 128n) / BigInt(buckets);
        const hi = (BigInt(b + 1) << 128n) / BigInt(buckets);
        expect(h >= lo || b === 0).toBe(true);
        expect(h < hi + 1n).toBe(true);
        const ehk = BigInt(bucketHashKey(b, buckets));
        expect(ehk >= lo && ehk < hi && ehk < 1n << 128n).toBe(true);
      }),
    );
  });
});
