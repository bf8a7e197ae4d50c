import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  fullJitterDelayMs,
  recordBytes,
  type Sized,
  selectBatch,
  splitIntoBatches,
  validateRecord,
} from './batcher.js';
import { InvalidPartitionKeyError, RecordTooLargeError } from './errors.js';

interface Item extends Sized {
  id: number;
}

const keyArb = fc.constantFrom('a', 'b', 'c', 'd', 'é', '键');
const limitsArb = fc.record({
  maxBatchRecords: fc.integer({ min: 1, max: 8 }),
  maxBatchBytes: fc.integer({ min: 20, max: 200 }),
});
/** Items that each fit a batch (the sink rejects larger ones before batching). */
const itemsArb = (maxBytes: number) =>
  fc
    .array(fc.record({ partitionKey: keyArb, bytes: fc.integer({ min: 1, max: maxBytes }) }), {
      maxLength: 60,
    })
    .map((xs) => xs.map((x, id) => ({ ...x, id })));

function perKey(items: readonly Item[]): Map<string, number[]> {
  const m = new Map<string, number[]>();
  for (const it of items) m.set(it.partitionKey, [...(m.get(it.partitionKey) ?? []), it.id]);
  return m;
}

describe('recordBytes / validateRecord', () => {
  it('counts data plus UTF-8 partition key bytes', () => {
    expect(recordBytes({ partitionKey: 'é', data: new Uint8Array(10) })).toBe(12);
    expect(recordBytes({ partitionKey: '键', data: new Uint8Array(0) })).toBe(3);
  });

  it('accepts exactly the limit and rejects one byte more', () => {
    expect(validateRecord({ partitionKey: 'k', data: new Uint8Array(99) }, 100)).toBeUndefined();
    expect(validateRecord({ partitionKey: 'k', data: new Uint8Array(100) }, 100)).toBeInstanceOf(
      RecordTooLargeError,
    );
  });

  it('requires 1-256 characters of partition key (code points)', () => {
    const data = new Uint8Array(1);
    expect(validateRecord({ partitionKey: '', data }, 1e6)).toBeInstanceOf(InvalidPartitionKeyError);
    expect(validateRecord({ partitionKey: 'x'.repeat(256), data }, 1e6)).toBeUndefined();
    expect(validateRecord({ partitionKey: 'x'.repeat(257), data }, 1e6)).toBeInstanceOf(
      InvalidPartitionKeyError,
    );
    expect(validateRecord({ partitionKey: '😀'.repeat(256), data }, 1e6)).toBeUndefined();
  });
});

describe('selectBatch (property)', () => {
  it('drains a queue within the limits, without loss, duplicates or per-key reordering', () => {
    fc.assert(
      fc.property(
        limitsArb.chain((limits) =>
          fc.tuple(
            fc.constant(limits),
            itemsArb(limits.maxBatchBytes),
            fc.constantFrom(1, Number.POSITIVE_INFINITY),
          ),
        ),
        ([limits, items, maxPerKey]) => {
          let pending: Item[] = [...items];
          const out: Item[] = [];
          let rounds = 0;
          while (pending.length > 0) {
            rounds++;
            const sel = selectBatch(pending, { ...limits, maxPerKey });
            const batch = sel.indexes.map((i) => pending[i]!);
            expect(batch.length).toBeGreaterThan(0);
            expect(batch.length).toBeLessThanOrEqual(limits.maxBatchRecords);
            const bytes = batch.reduce((n, b) => n + b.bytes, 0);
            expect(bytes).toBe(sel.bytes);
            expect(bytes).toBeLessThanOrEqual(limits.maxBatchBytes);
            for (const [, ids] of perKey(batch)) expect(ids.length).toBeLessThanOrEqual(maxPerKey);
            const chosen = new Set(sel.indexes);
            pending = pending.filter((_, i) => !chosen.has(i));
            out.push(...batch);
            expect(rounds).toBeLessThanOrEqual(items.length);
          }
          expect(out.map((o) => o.id).sort((a, b) => a - b)).toEqual(items.map((i) => i.id));
          expect(perKey(out)).toEqual(perKey(items));
        },
      ),
    );
  });

  it('never takes a blocked key and takes only a prefix of each key', () => {
    fc.assert(
      fc.property(
        limitsArb.chain((limits) =>
          fc.tuple(
            fc.constant(limits),
            itemsArb(limits.maxBatchBytes),
            fc.subarray(['a', 'b', 'c', 'd', 'é', '键']),
            fc.constantFrom(1, 2, Number.POSITIVE_INFINITY),
          ),
        ),
        ([limits, items, blocked, maxPerKey]) => {
          const sel = selectBatch(items, { ...limits, maxPerKey, isBlocked: (k) => blocked.includes(k) });
          const batch = sel.indexes.map((i) => items[i]!);
          const all = perKey(items);
          for (const [key, ids] of perKey(batch)) {
            expect(blocked).not.toContain(key);
            expect(ids).toEqual(all.get(key)!.slice(0, ids.length));
          }
          // Full means a limit stopped the batch: nothing else that is allowed would fit.
          if (!sel.full) {
            const taken = new Set(sel.indexes);
            const passedKeys = new Set<string>();
            for (const [i, it] of items.entries()) {
              if (taken.has(i)) continue;
              if (!blocked.includes(it.partitionKey) && !passedKeys.has(it.partitionKey)) {
                const count = perKey(batch).get(it.partitionKey)?.length ?? 0;
                expect(count).toBeGreaterThanOrEqual(maxPerKey);
              }
              passedKeys.add(it.partitionKey);
            }
          }
        },
      ),
    );
  });
});

describe('splitIntoBatches (property)', () => {
  it('keeps the sequence intact and every batch within the limits', () => {
    fc.assert(
      fc.property(
        limitsArb.chain((limits) => fc.tuple(fc.constant(limits), itemsArb(limits.maxBatchBytes))),
        ([limits, items]) => {
          const { batches, rejected } = splitIntoBatches(items, limits);
          expect(rejected).toEqual([]);
          expect(batches.flat()).toEqual(items);
          for (const b of batches) {
            expect(b.length).toBeGreaterThan(0);
            expect(b.length).toBeLessThanOrEqual(limits.maxBatchRecords);
            expect(b.reduce((n, x) => n + x.bytes, 0)).toBeLessThanOrEqual(limits.maxBatchBytes);
          }
        },
      ),
    );
  });

  it('packs the default AWS limits: 500 records or 5 MiB', () => {
    const limits = { maxBatchRecords: 500, maxBatchBytes: 5 * 1024 * 1024 };
    const small = Array.from({ length: 1001 }, (_, id) => ({ id, partitionKey: 'k', bytes: 100 }));
    expect(splitIntoBatches(small, limits).batches.map((b) => b.length)).toEqual([500, 500, 1]);
    const big = Array.from({ length: 11 }, (_, id) => ({ id, partitionKey: 'k', bytes: 1024 * 1024 }));
    expect(splitIntoBatches(big, limits).batches.map((b) => b.length)).toEqual([5, 5, 1]);
  });
});

describe('fullJitterDelayMs', () => {
  it('stays within [0, min(max, base * 2^(attempt-1)))', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 0, max: 1000 }),
        fc.integer({ min: 1, max: 60_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, base, max, r) => {
          const d = fullJitterDelayMs(attempt, base, max, () => r);
          expect(d).toBeGreaterThanOrEqual(0);
          expect(d).toBeLessThanOrEqual(Math.min(max, base * 2 ** (attempt - 1)));
        },
      ),
    );
  });
});
