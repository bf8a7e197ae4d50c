/** Types and helpers shared by the change-detection stores; see `index.ts`. */
import { createHash } from 'node:crypto';

/** One change-detection entry: the last record id emitted for an entity. */
export interface SeenEntry {
  /** Entity key (see `entityKeyOf` in src/envelope.ts), at most {@link MAX_SEEN_KEY_BYTES} bytes. */
  entity: string;
  /** Record id of the last record emitted or dead-lettered for it. */
  id: string;
}

/** Per-entity change-detection state of many sources. */
export interface SeenStore {
  /**
   * Reads the stored ids of some entities of one source.
   * @returns a map holding only the entities that have an entry.
   * @throws StorageError when the backend fails (retriable for transient failures).
   */
  getMany(source: string, entities: readonly string[]): Promise<Map<string, string>>;
  /**
   * Writes (inserts or replaces) entries of one source, durably, before resolving. When an entity
   * appears twice, the last entry wins.
   * @throws StorageError when the backend fails; some entries may then have been written.
   */
  putMany(source: string, entries: readonly SeenEntry[]): Promise<void>;
  /** Releases resources (not the shared client or directory). */
  close(): Promise<void>;
}

/**
 * Longest entity key or record id stored as is, in UTF-8 bytes; a longer one is stored as
 * `sha256:<hex>` of itself ({@link boundedSeenKey}). Keeps a DynamoDB key (`seen/<source>/<entity>`)
 * well under its 2,048-byte partition-key limit ("Service, account, and table quotas in Amazon
 * DynamoDB") and every item a few hundred bytes.
 */
export const MAX_SEEN_KEY_BYTES = 512;

/** `value` itself when at most {@link MAX_SEEN_KEY_BYTES} bytes, else `sha256:<hex of value>`. */
export function boundedSeenKey(value: string): string {
  if (value.length * 3 <= MAX_SEEN_KEY_BYTES || Buffer.byteLength(value, 'utf8') <= MAX_SEEN_KEY_BYTES) {
    return value;
  }
  return `sha256:${createHash('sha256').update(value, 'utf8').digest('hex')}`;
}

/** Entries with one entry per entity, the last one winning (batch APIs reject duplicate keys). */
export function lastPerEntity(entries: readonly SeenEntry[]): SeenEntry[] {
  const m = new Map<string, string>();
  for (const e of entries) m.set(e.entity, e.id);
  return [...m].map(([entity, id]) => ({ entity, id }));
}
