import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SeenEntry, SeenStore } from '../../state/index.js';
import { ChangeDetector, type TrackedRow, trackingKeys } from './changes.js';

/** A SeenStore in a Map, counting the keys read and written. */
class MapSeen implements SeenStore {
  readonly data = new Map<string, string>();
  reads = 0;
  writes = 0;
  async getMany(source: string, entities: readonly string[]) {
    this.reads += entities.length;
    const out = new Map<string, string>();
    for (const e of entities) {
      const v = this.data.get(`${source}\u0000${e}`);
      if (v !== undefined) out.set(e, v);
    }
    return out;
  }
  async putMany(source: string, entries: readonly SeenEntry[]) {
    this.writes += entries.length;
    for (const e of entries) this.data.set(`${source}\u0000${e.entity}`, e.id);
  }
  async close() {}
}

/** Rows whose id embeds the entity, as real ids do (`<key>@<version>`). */
const rowsArb = fc.array(
  fc.record({ entity: fc.constantFrom('a', 'b', 'c', 'd'), v: fc.integer({ min: 1, max: 3 }) }),
  { maxLength: 40 },
);
const toRows = (xs: { entity: string; v: number }[]): TrackedRow[] =>
  xs.map(({ entity, v }) => ({ entity, id: `${entity}@${v}` }));

describe('ChangeDetector', () => {
  it('emits each distinct record of a page exactly once, and nothing when the same page comes again', async () => {
    await fc.assert(
      fc.asyncProperty(rowsArb, fc.integer({ min: 0, max: 8 }), async (xs, cache) => {
        const rows = toRows(xs);
        const store = new MapSeen();
        const first = new ChangeDetector('s', store, cache);
        const plan = await first.plan(rows);
        const emittedIds = plan.emit.map((e) => rows[e.index]!.id);
        expect(new Set(emittedIds).size).toBe(emittedIds.length);
        expect(new Set(emittedIds)).toEqual(new Set(rows.map((r) => r.id)));
        expect(plan.unchanged).toBe(rows.length - emittedIds.length);
        await first.commit(plan.emit.map((e) => e.entry));
        // The same process, and a restarted one (nothing cached), see nothing new.
        for (const detector of [first, new ChangeDetector('s', store, cache)]) {
          const again = await detector.plan(rows);
          expect(again.emit).toEqual([]);
          expect(again.unchanged).toBe(rows.length);
        }
      }),
    );
  });

  it('reads the store only for keys not cached, and writes only what it is given', async () => {
    const store = new MapSeen();
    const d = new ChangeDetector('s', store, 100);
    const rows = toRows([
      { entity: 'a', v: 1 },
      { entity: 'b', v: 1 },
    ]);
    const plan = await d.plan(rows);
    expect(store.reads).toBe(2);
    await d.commit(plan.emit.slice(0, 1).map((e) => e.entry)); // only 'a' acknowledged
    expect(store.writes).toBe(1);
    const again = await d.plan(rows);
    expect(store.reads).toBe(3); // 'a' came from the cache
    expect(again.emit.map((e) => e.entry.entity)).toEqual(['b']);
  });

  it('counts duplicate keys: distinct records beyond the first per key', () => {
    const t = trackingKeys(
      toRows([
        { entity: 'a', v: 1 },
        { entity: 'a', v: 2 },
        { entity: 'a', v: 2 },
        { entity: 'a', v: 3 },
        { entity: 'b', v: 1 },
        { entity: 'b', v: 1 },
      ]),
    );
    expect(t).toMatchObject({ duplicateKeys: 1, duplicateRows: 2, exampleKey: 'a' });
    expect(t.keys).toEqual(['a@1', 'a@2', 'a@2', 'a@3', 'b', 'b']);
  });
});
