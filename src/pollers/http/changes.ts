/**
 * Change detection of the HTTP poller, per entity key (ADR 0003, "Change detection").
 *
 * For each page: every row has a record id and an entity key (`identify()` in src/envelope.ts).
 * Each row is tracked under a *tracking key*:
 * - its entity key, when every row of the page with that key is the same record (same id);
 * - its record id, when rows of the page share the key but are different records (a duplicate key:
 *   the key does not identify the entity, e.g. a Socrata dataset whose `id` is the same on every
 *   row). Each distinct row is then emitted once and remembered on its own, so a stable page
 *   re-emits nothing on the next poll.
 * A row is emitted when the store holds a different id (or none) for its tracking key and no earlier
 * row of the page with the same tracking key was emitted; otherwise it is `unchanged`.
 *
 * The store ({@link SeenStore}) is read once per page for the page's tracking keys (minus those in
 * the in-process LRU cache) and written once per page with the entries of the records the sink
 * delivered or dead-lettered. Keys and ids longer than 512 bytes are tracked as their SHA-256.
 *
 * @module
 */
import type { Logger } from '../../log.js';
import { boundedSeenKey, type SeenEntry, type SeenStore, type StateStore } from '../../state/index.js';

/** What change detection needs of one wrapped row. */
export interface TrackedRow {
  /** Entity key (the record id when the row has no key). */
  entity: string;
  /** Record id. */
  id: string;
}

/** The change-detection decision for one page. */
export interface PagePlan {
  /** Rows to send, in page order: their index in the page and the entry to store once acknowledged. */
  emit: { index: number; entry: SeenEntry }[];
  /** Rows skipped: their tracking key already maps to their id, or an earlier row of the page emitted it. */
  unchanged: number;
  /** Entity keys that several different records of the page share. */
  duplicateKeys: number;
  /** Rows beyond the first distinct record of each duplicate key (the sum over keys of distinct ids − 1). */
  duplicateRows: number;
  /** One duplicate key (truncated to 100 characters), for the log line. */
  exampleKey?: string;
}

/** Tracking keys of a page's rows (see the module comment), and its duplicate-key counts. */
export function trackingKeys(rows: readonly TrackedRow[]): {
  keys: string[];
  duplicateKeys: number;
  duplicateRows: number;
  exampleKey?: string;
} {
  const idsByEntity = new Map<string, Set<string>>();
  for (const r of rows) {
    const ids = idsByEntity.get(r.entity);
    if (ids) ids.add(r.id);
    else idsByEntity.set(r.entity, new Set([r.id]));
  }
  let duplicateKeys = 0;
  let duplicateRows = 0;
  let exampleKey: string | undefined;
  for (const [entity, ids] of idsByEntity) {
    if (ids.size > 1) {
      duplicateKeys++;
      duplicateRows += ids.size - 1;
      exampleKey ??= entity.slice(0, 100);
    }
  }
  const keys = rows.map((r) => boundedSeenKey(idsByEntity.get(r.entity)!.size > 1 ? r.id : r.entity));
  return { keys, duplicateKeys, duplicateRows, ...(exampleKey === undefined ? {} : { exampleKey }) };
}

/**
 * A bounded cache with approximate least-recently-used eviction, in two generations (the scheme of
 * npm `quick-lru`): entries go to the young generation; when it holds `max / 2` entries it becomes
 * the old one and the previous old generation is dropped; a hit in the old generation moves the
 * entry to the young one. So the cache holds the at least `max / 2` and at most `max` most recently
 * used entries, and every operation is O(1). (A single `Map` with delete-and-reinsert and eviction
 * through `keys().next()` degrades badly in V8 past ~100,000 entries: deleted slots stay in the
 * table until it is rehashed, and every eviction walks over them.)
 * Used for change detection: tracking key → last record id.
 */
export class LruMap<K, V> {
  private young = new Map<K, V>();
  private old = new Map<K, V>();
  private readonly generation: number;

  /** @param max - capacity (entries); 0 keeps nothing. */
  constructor(private readonly max: number) {
    this.generation = Math.max(1, Math.floor(max / 2));
  }

  /** Distinct keys held. */
  get size(): number {
    let n = this.young.size;
    for (const k of this.old.keys()) if (!this.young.has(k)) n++;
    return n;
  }

  /** Reads a value and marks the key as recently used. */
  get(key: K): V | undefined {
    const v = this.young.get(key);
    if (v !== undefined) return v;
    const o = this.old.get(key);
    if (o !== undefined) this.add(key, o);
    return o;
  }

  /** Sets a value as most recently used. */
  set(key: K, value: V): void {
    if (this.max <= 0) return;
    if (this.young.has(key)) this.young.set(key, value);
    else this.add(key, value);
  }

  /** Entries, older generation first. */
  entries(): [K, V][] {
    const out: [K, V][] = [];
    for (const [k, v] of this.old) if (!this.young.has(k)) out.push([k, v]);
    return [...out, ...this.young];
  }

  private add(key: K, value: V): void {
    this.young.set(key, value);
    if (this.young.size >= this.generation) {
      this.old = this.young;
      this.young = new Map();
    }
  }
}

/** State-store key of the change-detection map of releases before per-entity state (read once, then deleted). */
export const legacySeenKey = (source: string): string => `source/${source}/seen`;

/** Persisted shape of the legacy `source/<name>/seen` value. */
export interface LegacySeenState {
  /** `[entity, record id]` pairs, least recently seen first. */
  entries: [string, string][];
}

/** Entries imported per `putMany` during the one-time migration. */
const MIGRATION_CHUNK = 1_000;

/** Per-entity change detection of one source over a {@link SeenStore}, with an LRU cache in front. */
export class ChangeDetector {
  private readonly cache: LruMap<string, string>;

  /**
   * @param source - the source name (the store's partition).
   * @param store - where the entries live.
   * @param cacheEntries - entries kept in memory (`maxTrackedIds`); 0 reads the store every page.
   */
  constructor(
    private readonly source: string,
    private readonly store: SeenStore,
    cacheEntries: number,
  ) {
    this.cache = new LruMap(cacheEntries);
  }

  /** Entries currently cached in memory. */
  get cached(): number {
    return this.cache.size;
  }

  /**
   * Imports the legacy whole-map value `source/<name>/seen` into the per-entity store, then deletes
   * it. Idempotent: an interrupted import is redone from the start on the next poll.
   * @returns the number of entries imported (0 when there was no legacy value).
   */
  async migrate(state: StateStore, log: Logger): Promise<number> {
    const legacy = await state.get<LegacySeenState>(legacySeenKey(this.source));
    const entries = legacy?.value.entries ?? [];
    for (let i = 0; i < entries.length; i += MIGRATION_CHUNK) {
      await this.store.putMany(
        this.source,
        entries
          .slice(i, i + MIGRATION_CHUNK)
          .map(([entity, id]) => ({ entity: boundedSeenKey(entity), id: boundedSeenKey(id) })),
      );
    }
    if (legacy !== undefined) {
      await state.delete(legacySeenKey(this.source));
      log.info(
        { event: 'seen_state_migrated', entries: entries.length },
        'Imported the legacy change-detection map into per-entity state.',
      );
    }
    return entries.length;
  }

  /** Decides which rows of a page to emit (see the module comment); reads the store once. */
  async plan(rows: readonly TrackedRow[]): Promise<PagePlan> {
    const { keys, ...dups } = trackingKeys(rows);
    const known = new Map<string, string>();
    const misses: string[] = [];
    for (const k of new Set(keys)) {
      const hit = this.cache.get(k);
      if (hit === undefined) misses.push(k);
      else known.set(k, hit);
    }
    if (misses.length > 0) {
      for (const [k, id] of await this.store.getMany(this.source, misses)) {
        known.set(k, id);
        this.cache.set(k, id);
      }
    }
    const emitted = new Set<string>();
    const emit: PagePlan['emit'] = [];
    let unchanged = 0;
    rows.forEach((row, index) => {
      const entity = keys[index]!;
      const id = boundedSeenKey(row.id);
      if (emitted.has(entity) || known.get(entity) === id) {
        unchanged++;
        return;
      }
      emitted.add(entity);
      emit.push({ index, entry: { entity, id } });
    });
    return { emit, unchanged, ...dups };
  }

  /** Stores the entries of acknowledged records (delivered or dead-lettered), then caches them. */
  async commit(entries: readonly SeenEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await this.store.putMany(this.source, entries);
    for (const e of entries) this.cache.set(e.entity, e.id);
  }
}
