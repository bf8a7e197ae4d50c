import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AggregatableItem, selectAggregatedBatch } from './aggregation.js';
import { partitionKeyBytes } from './batcher.js';
import { aggregatedSize } from './kpl.js';

function item(partitionKey: string, dataBytes: number, bucket: number): AggregatableItem {
  return { partitionKey, dataBytes, bucket, bytes: dataBytes + partitionKeyBytes(partitionKey) };
}

/** What the sink would send for a unit: the record itself, or an aggregate keyed by its first record. */
function kinesisBytes(items: AggregatableItem[]): number {
  if (items.length === 1) return items[0]!.bytes;
  return (
    aggregatedSize(items.map((i) => ({ partitionKey: i.partitionKey, data: new Uint8Array(i.dataBytes) }))) +
    partitionKeyBytes(items[0]!.partitionKey)
  );
}

describe('selectAggregatedBatch', () => {
  it('packs records of one bucket into one aggregate, and buckets apart', () => {
    const pending = [
      item('a', 10, 0),
      item('b', 10, 1),
      item('c', 10, 0),
      item('d', 10, 1),
      item('e', 10, 2),
    ];
    const s = selectAggregatedBatch(pending, {
      maxBatchRecords: 500,
      maxBatchBytes: 5_000_000,
      maxAggregateBytes: 51_200,
      strict: true,
    });
    expect(s.units.map((u) => u.indexes)).toEqual([[0, 2], [1, 3], [4]]);
    expect(s.indexes).toEqual([0, 1, 2, 3, 4]);
    expect(s.units[2]!.bytes).toBe(11);
  });

  it('strict: one unit per key per batch (a hot key shares its one aggregate); relaxed: several', () => {
    const pending = Array.from({ length: 6 }, () => item('hot', 30, 0));
    const opts = { maxBatchRecords: 10, maxBatchBytes: 10_000, maxAggregateBytes: 100 };
    const strict = selectAggregatedBatch(pending, { ...opts, strict: true });
    expect(strict.units).toHaveLength(1);
    expect(strict.units[0]!.indexes).toEqual([0, 1]);
    const relaxed = selectAggregatedBatch(pending, { ...opts, strict: false });
    expect(relaxed.units.map((u) => u.indexes)).toEqual([
      [0, 1],
      [2, 3],
      [4, 5],
    ]);
  });

  it('keeps every limit, takes a prefix of each key, and strict keys stay in one unit (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            key: fc.constantFrom('a', 'b', 'c', 'dd', 'eee'),
            size: fc.integer({ min: 0, max: 120 }),
          }),
          { maxLength: 60 },
        ),
        fc.integer({ min: 1, max: 3 }),
        fc.record({
          maxBatchRecords: fc.integer({ min: 1, max: 8 }),
          maxBatchBytes: fc.integer({ min: 130, max: 800 }),
          maxAggregateBytes: fc.integer({ min: 64, max: 400 }),
          strict: fc.boolean(),
        }),
        fc.subarray(['a', 'b', 'c', 'dd', 'eee']),
        (specs, buckets, opts, blocked) => {
          const bucketOf = (k: string) => k.length % buckets;
          const pending = specs.map((s) => item(s.key, s.size, bucketOf(s.key)));
          const limit = Math.min(opts.maxAggregateBytes, opts.maxBatchBytes);
          const sel = selectAggregatedBatch(pending, { ...opts, isBlocked: (k) => blocked.includes(k) });
          expect(sel.units.length).toBeLessThanOrEqual(opts.maxBatchRecords);
          let total = 0;
          const unitsOfKey = new Map<string, number>();
          for (const u of sel.units) {
            const items = u.indexes.map((i) => pending[i]!);
            expect(u.bytes).toBe(kinesisBytes(items));
            if (items.length > 1) expect(u.bytes).toBeLessThanOrEqual(limit);
            expect(new Set(items.map((i) => i.bucket))).toEqual(new Set([u.bucket]));
            expect([...u.indexes].sort((a, b) => a - b)).toEqual(u.indexes);
            for (const k of new Set(items.map((i) => i.partitionKey)))
              unitsOfKey.set(k, (unitsOfKey.get(k) ?? 0) + 1);
            total += u.bytes;
          }
          expect(sel.bytes).toBe(total);
          expect(total).toBeLessThanOrEqual(opts.maxBatchBytes);
          if (opts.strict) for (const n of unitsOfKey.values()) expect(n).toBe(1);
          const chosen = new Set(sel.indexes);
          for (const k of new Set(specs.map((s) => s.key))) {
            const positions = pending.flatMap((p, i) => (p.partitionKey === k ? [i] : []));
            const taken = positions.filter((i) => chosen.has(i));
            // A prefix of the key's queue, and none of a blocked key.
            expect(taken).toEqual(positions.slice(0, taken.length));
            if (blocked.includes(k)) expect(taken).toEqual([]);
          }
          // Relaxed units of one key keep queue order: unit order follows the key's order.
          const order = sel.units.flatMap((u) => u.indexes);
          for (const k of unitsOfKey.keys()) {
            const seq = order.filter((i) => pending[i]!.partitionKey === k);
            expect(seq).toEqual([...seq].sort((a, b) => a - b));
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
