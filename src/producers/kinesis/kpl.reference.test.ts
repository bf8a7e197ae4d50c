/**
 * Our KPL codec (`kpl.ts`) against the reference implementation, AWS Labs' `aws-kinesis-agg`
 * (npm, 4.2.8, dev dependency only), both ways and byte for byte (ADR 10):
 * - our aggregates deaggregate with the reference's `deaggregateSync` (checksum verified);
 * - the reference's aggregates (`RecordAggregator`) deaggregate with `decodeAggregated`, the function
 *   the bronze writer (`consumers/bronze/records.ts`) unpacks aggregates with, and through
 *   `parseRecord` itself;
 * - for the same user records both encoders write the same bytes.
 * The last block pins the reference's defects that ADR 10 gives as the reasons we keep our codec.
 */
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseRecord } from '../../consumers/bronze/records.js';
import { aggregatedSize, decodeAggregated, encodeAggregated, type UserRecord } from './kpl.js';

interface RefUserRecord {
  partitionKey: string;
  explicitPartitionKey?: string;
  subSequenceNumber?: number;
  /** Base64. */
  data: string;
}
interface RefAggregator {
  addUserRecord(record: { partitionKey: string; explicitHashKey?: string; data: Buffer }): void;
  calculateUserRecordSize(record: { partitionKey: string; data: Buffer }): number;
  build(): { partitionKey: string; data: Buffer; ExplicitHashKey?: string } | undefined;
}
const require = createRequire(import.meta.url);
const reference = require('aws-kinesis-agg') as {
  deaggregateSync(
    record: { data: string; sequenceNumber: string; partitionKey?: string },
    computeChecksums: boolean,
    done: (err: Error | null, records?: RefUserRecord[]) => void,
  ): void;
};
const { RecordAggregator } = require('aws-kinesis-agg/lib/kpl-agg.js') as {
  RecordAggregator: new () => RefAggregator;
};

/** The reference's deaggregation of one Kinesis record (checksums verified). */
function referenceDeaggregate(data: Uint8Array): RefUserRecord[] {
  let out: RefUserRecord[] | undefined;
  let failure: Error | undefined;
  reference.deaggregateSync(
    { data: Buffer.from(data).toString('base64'), sequenceNumber: '1' },
    true,
    (err, records) => {
      if (err) failure = err;
      else out = records;
    },
  );
  if (failure) throw failure;
  return out!;
}

/** The reference's aggregate of `records` (its `RecordAggregator`, as its `aggregate()` uses it). */
function referenceAggregate(records: readonly UserRecord[]): Uint8Array {
  const agg = new RecordAggregator();
  for (const r of records)
    agg.addUserRecord({
      partitionKey: r.partitionKey,
      ...(r.explicitHashKey === undefined ? {} : { explicitHashKey: r.explicitHashKey }),
      data: Buffer.from(r.data),
    });
  return new Uint8Array(agg.build()!.data);
}

/**
 * Keys (partition or explicit hash) the reference's encoder files correctly: not `__proto__` and not
 * an array index (a canonical integer below 2³² − 1, which `Object.keys` lists first, ascending).
 * See "reference defects" below.
 */
const referenceSafeKey = (k: string) =>
  k !== '__proto__' && !(/^(0|[1-9][0-9]*)$/.test(k) && Number(k) < 2 ** 32 - 1);

const partitionKey = fc.oneof(
  fc.constantFrom('a', 'b', 'orders:1', 'é', '🙂', '__proto__', '0', '17', 'constructor', 'toString'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 256 }),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
);
const explicitHashKey = fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }).map(String);
const data = fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ maxLength: 300 }));

/** An aggregate's user records; `ehk`: every record has an explicit hash key, none, or a mix. */
function aggregates(keys: fc.Arbitrary<string>, ehk: 'all' | 'none' | 'mixed', hashKeys = explicitHashKey) {
  const record = fc.record({
    partitionKey: keys,
    explicitHashKey: ehk === 'all' ? hashKeys : ehk === 'none' ? fc.constant(undefined) : fc.option(hashKeys),
    data,
  });
  return fc
    .array(record, { minLength: 1, maxLength: 30 })
    .map((rs) =>
      rs.map(({ explicitHashKey: h, ...r }): UserRecord => (h == null ? r : { ...r, explicitHashKey: h })),
    );
}
const uniformEhk = fc.constantFrom('all' as const, 'none' as const);

const view = (records: readonly UserRecord[]) =>
  records.map((r) => ({
    key: r.partitionKey,
    ehk: r.explicitHashKey,
    data: Buffer.from(r.data).toString('hex'),
  }));

describe('KPL codec against aws-kinesis-agg (the reference)', () => {
  it('our aggregates deaggregate with the reference, byte for byte (property)', () => {
    fc.assert(
      fc.property(
        uniformEhk.chain((e) => aggregates(partitionKey, e)),
        (records) => {
          const got = referenceDeaggregate(encodeAggregated(records));
          expect(
            got.map((u) => ({
              key: u.partitionKey,
              ehk: u.explicitPartitionKey,
              data: Buffer.from(u.data, 'base64').toString('hex'),
            })),
          ).toEqual(view(records));
          expect(got.map((u) => u.subSequenceNumber)).toEqual(records.map((_, i) => i));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("the reference's aggregates deaggregate with ours (the bronze writer's), byte for byte (property)", () => {
    fc.assert(
      fc.property(
        aggregates(partitionKey.filter(referenceSafeKey), 'mixed', explicitHashKey.filter(referenceSafeKey)),
        (records) => {
          expect(view(decodeAggregated(referenceAggregate(records)))).toEqual(view(records));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('both encoders write the same bytes for the same records (property)', () => {
    fc.assert(
      fc.property(
        aggregates(partitionKey.filter(referenceSafeKey), 'mixed', explicitHashKey.filter(referenceSafeKey)),
        (records) => {
          const ours = encodeAggregated(records);
          expect(Buffer.from(ours).equals(Buffer.from(referenceAggregate(records)))).toBe(true);
          const noHashKeys = records.map(({ partitionKey: k, data: d }) => ({ partitionKey: k, data: d }));
          expect(encodeAggregated(noHashKeys).length).toBe(aggregatedSize(noHashKeys));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("the bronze writer reads the reference's aggregates of envelopes, line for line (property)", () => {
    const envelope = fc
      .record({
        source: fc.constantFrom('orders', 'fake.store', 'a-b_c'),
        id: fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }),
        note: fc.string({ unit: 'grapheme', maxLength: 30 }),
      })
      .map((e) => JSON.stringify({ ...e, ingested_at: '2026-12-05T06:00:00.000Z' }));
    fc.assert(
      fc.property(
        fc.array(fc.tuple(partitionKey.filter(referenceSafeKey), envelope), { minLength: 1, maxLength: 20 }),
        (pairs) => {
          const records = pairs.map(([k, line]) => ({
            partitionKey: k,
            data: new TextEncoder().encode(line),
          }));
          const parsed = parseRecord({ sequenceNumber: '42', data: referenceAggregate(records) });
          expect(parsed.rejected).toEqual([]);
          expect(parsed.envelopes.map((e) => e.line)).toEqual(pairs.map(([, line]) => line));
          expect(new Set(parsed.envelopes.map((e) => e.sequenceNumber))).toEqual(new Set(['42']));
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('reference defects (why ADR 10 keeps our codec)', () => {
  const bytes = (s: string) => new TextEncoder().encode(s);

  it('its encoder files integer-like partition keys under the wrong records (JS object key order)', () => {
    const records = [
      { partitionKey: 'b', data: bytes('B') },
      { partitionKey: '1', data: bytes('one') },
    ];
    const decoded = decodeAggregated(referenceAggregate(records));
    expect(decoded.map((r) => r.partitionKey)).toEqual(['1', 'b']); // swapped
    expect(view(decodeAggregated(encodeAggregated(records)))).toEqual(view(records)); // ours: right
  });

  it('its encoder files explicit hash keys below 2^32 under the wrong records (the same key order)', () => {
    const records: UserRecord[] = [
      { partitionKey: 'a', explicitHashKey: '7', data: bytes('seven') },
      { partitionKey: 'a', explicitHashKey: '3', data: bytes('three') },
    ];
    expect(decodeAggregated(referenceAggregate(records)).map((r) => r.explicitHashKey)).toEqual(['3', '7']);
    expect(view(decodeAggregated(encodeAggregated(records)))).toEqual(view(records));
  });

  it('its encoder loses the partition key "__proto__" and files the record under another key', () => {
    const records = [
      { partitionKey: 'a', data: bytes('A') },
      { partitionKey: '__proto__', data: bytes('P') },
    ];
    expect(decodeAggregated(referenceAggregate(records)).map((r) => r.partitionKey)).toEqual(['a', 'a']);
    expect(view(decodeAggregated(encodeAggregated(records)))).toEqual(view(records));
  });

  it('its size estimate counts UTF-16 code units of the partition key, not UTF-8 bytes', () => {
    const key = '🙂'.repeat(100); // 200 code units, 400 bytes
    const estimate = new RecordAggregator().calculateUserRecordSize({
      partitionKey: key,
      data: Buffer.alloc(10),
    });
    const actual = aggregatedSize([{ partitionKey: key, data: new Uint8Array(10) }]) - 20; // minus magic + MD5
    expect(actual - estimate).toBe(200); // under-counted by 200 bytes: an aggregate can pass 1 MiB
  });

  it('its decoder gives a record without an explicit hash key the first one of the table', () => {
    const records: UserRecord[] = [
      { partitionKey: 'a', explicitHashKey: '123', data: bytes('A') },
      { partitionKey: 'b', data: bytes('B') },
    ];
    const aggregate = encodeAggregated(records);
    expect(referenceDeaggregate(aggregate).map((r) => r.explicitPartitionKey)).toEqual(['123', '123']);
    expect(decodeAggregated(aggregate).map((r) => r.explicitHashKey)).toEqual(['123', undefined]);
  });

  it('its encoder refuses empty string data (an empty Buffer is accepted)', () => {
    const agg = new RecordAggregator();
    expect(() => agg.addUserRecord({ partitionKey: 'a', data: '' as unknown as Buffer })).toThrow(
      /mandatory/,
    );
    expect(
      view(decodeAggregated(referenceAggregate([{ partitionKey: 'a', data: new Uint8Array(0) }]))),
    ).toEqual([{ key: 'a', ehk: undefined, data: '' }]);
  });
});
