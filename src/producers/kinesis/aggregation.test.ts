import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AggregatableItem,
  type DueItem,
  holdPartialUnits,
  selectAggregatedBatch,
} from './aggregation.js';
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

describe('holdPartialUnits (packing across flushes)', () => {
  const U = 1_000;
  const due = (i: AggregatableItem, dueAt: number): DueItem => ({ ...i, dueAt });

  it('sends whole units now and keeps the partial tail for the next records', () => {
    // 30 records of 100 bytes in one bucket: ~3.3 units; none due → cut at 3 units.
    const pending = Array.from({ length: 30 }, (_, i) => due(item(`k${i}`, 90, 0), 10));
    const opts = { maxBatchRecords: 500, maxBatchBytes: 1_000_000, maxAggregateBytes: 100_000, strict: true };
    const s = holdPartialUnits(pending, selectAggregatedBatch(pending, opts), 0, U);
    expect(s.units).toHaveLength(1);
    expect(s.units[0]!.bytes).toBeLessThanOrEqual(3 * U);
    expect(s.units[0]!.bytes).toBeGreaterThan(3 * U - 110);
    // Once due, everything goes.
    expect(holdPartialUnits(pending, selectAggregatedBatch(pending, opts), 10, U).indexes).toHaveLength(30);
  });

  it('sends every due record, holds only a suffix of each bucket, and cuts at unit boundaries (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            key: fc.constantFrom('a', 'b', 'c', 'dd', 'eee', 'ffff'),
            size: fc.integer({ min: 0, max: 400 }),
            bucket: fc.integer({ min: 0, max: 2 }),
            dueAt: fc.integer({ min: 0, max: 20 }),
          }),
          { maxLength: 80 },
        ),
        fc.boolean(),
        fc.integer({ min: 0, max: 20 }),
        (rows, strict, now) => {
          // A key always hashes to one bucket; dueAt grows with admission order.
          const bucketOf = new Map<string, number>();
          let last = 0;
          const pending = rows.map((r) => {
            if (!bucketOf.has(r.key)) bucketOf.set(r.key, r.bucket);
            last = Math.max(last, r.dueAt);
            return due(item(r.key, r.size, bucketOf.get(r.key)!), last);
          });
          const opts = { maxBatchRecords: 50, maxBatchBytes: 20_000, maxAggregateBytes: 3_000, strict };
          const before = selectAggregatedBatch(pending, opts);
          const after = holdPartialUnits(pending, before, now, U);
          if (after === before) return;
          expect(after.units.length).toBeGreaterThan(0);
          const chosen = new Set(after.indexes);
          for (const i of before.indexes) if (pending[i]!.dueAt <= now) expect(chosen.has(i)).toBe(true);
          for (const u of after.units) {
            const orig = before.units.find((b) => b.indexes[0] === u.indexes[0])!;
            expect(u.indexes).toEqual(orig.indexes.slice(0, u.indexes.length));
            expect(u.bytes).toBe(kinesisBytes(u.indexes.map((i) => pending[i]!)));
            if (u.indexes.length < orig.indexes.length) {
              // Cut: it fills its billed units as far as the records allow (one more would need another unit).
              const next = kinesisBytes(orig.indexes.slice(0, u.indexes.length + 1).map((i) => pending[i]!));
              expect(Math.ceil(next / U)).toBeGreaterThan(Math.ceil(u.bytes / U));
            }
          }
          // Held records are a suffix of their bucket's records in the batch.
          for (const b of new Set(before.units.map((u) => u.bucket))) {
            const mine = before.units.filter((u) => u.bucket === b).flatMap((u) => u.indexes);
            const kept = mine.map((i) => chosen.has(i));
            expect(kept).toEqual([...kept].sort((x, y) => Number(y) - Number(x)));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
