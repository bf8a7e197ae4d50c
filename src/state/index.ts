/**
 * The state store: poll cursors and change-detection state, shard checkpoints, scheduled hours and
 * leases behind one small interface (ADR 0002). Implementations: a local directory of JSON files
 * (`file`) and DynamoDB (`dynamodb`), chosen by `state.type` in config. Change-detection state is
 * per entity, in a {@link SeenStore} kept beside each store (`seen.sqlite` in the directory; one
 * item per entity in the table): see src/state/seen/.
 */
import { KeyValueSeenStore, type SeenStore } from './seen/index.js';

/** A stored value with the version used for optimistic concurrency. */
export interface Versioned<T> {
  value: T;
  /** Monotonic version, 1 for the first write. */
  version: number;
}

export interface PutOptions {
  /**
   * Conditional write: succeed only if the stored version equals this (0 = key must not exist).
   * On mismatch the store throws {@link StateConflictError}. Omit for an unconditional write.
   */
  expectedVersion?: number;
}

/** Key/value state with conditional writes so two tasks never both own a source, shard or hour. */
export interface StateStore {
  /** Reads a key; `undefined` when absent. */
  get<T>(key: string): Promise<Versioned<T> | undefined>;
  /**
   * Writes a key durably and returns the new version.
   * @throws StateConflictError when `expectedVersion` does not match.
   * @throws StorageError when the backend fails.
   */
  put<T>(key: string, value: T, options?: PutOptions): Promise<number>;
  /** Deletes a key (no error when absent). */
  delete(key: string): Promise<void>;
  /** Releases resources. */
  close(): Promise<void>;
  /**
   * The per-entity change-detection store kept beside this store (same directory or table), opened
   * on first use and closed by {@link close}. Optional so a test double need not have one: see
   * {@link seenStoreOf}.
   */
  readonly seen?: SeenStore;
}

/**
 * The change-detection store of a state store: its own {@link StateStore.seen}, else one key per
 * entity in the store itself ({@link KeyValueSeenStore}).
 */
export function seenStoreOf(state: StateStore): SeenStore {
  return state.seen ?? new KeyValueSeenStore(state);
}

export { StateConflictError } from '../errors.js';
// The DynamoDB stores are imported from './dynamodb.js' and './seen/dynamodb.js' directly, never
// through this module: a role on file state then never loads the DynamoDB SDK (start-up, issue 8).
export { FileStateStore } from './file.js';
export {
  boundedSeenKey,
  KeyValueSeenStore,
  MAX_SEEN_KEY_BYTES,
  type SeenEntry,
  type SeenStore,
  SqliteSeenStore,
} from './seen/index.js';
