/**
 * The state store: poll cursors and change-detection state, shard checkpoints, scheduled hours and
 * leases behind one small interface (ADR 0002). Implementations: a local directory of JSON files
 * (`file`) and DynamoDB (`dynamodb`), chosen by `state.type` in config.
 */

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
}

export { StateConflictError } from '../errors.js';
export {
  createStateTable,
  type DynamoDbPutOptions,
  DynamoDbStateStore,
  stateTableDefinition,
} from './dynamodb.js';
export { FileStateStore } from './file.js';
