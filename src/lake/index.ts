/**
 * The lake as a URI (ADR 0001): `file:///abs/path` or `file://./relative` for local runs, and
 * `s3://bucket/prefix` through the AWS SDK v3 S3 client for AWS, LocalStack or moto. Bronze objects
 * and dead letters are written through this interface.
 */
export interface Lake {
  /** The URI this lake was opened from. */
  readonly uri: string;
  /**
   * Writes an object durably (file: temp file, fsync, rename; S3: PutObject). Overwrites an existing
   * object of the same key, which is what makes replays idempotent.
   * @param key - object key relative to the lake root, `/`-separated, e.g. `bronze/source=a/dt=2024-01-01/hour=00/x.json.gz`.
   * @throws StorageError when the write fails: retriable for throttling, 5xx, network failures and
   * timeouts; not retriable, with failure class `access_denied`, `not_found`, `kms` or `http_4xx`
   * (S3), `access_denied` or `storage` (a full or read-only disk), when it will fail again until an
   * operator fixes the cause.
   */
  put(key: string, body: Uint8Array, contentType?: string): Promise<void>;
  /** Reads an object; `undefined` when absent. @throws StorageError */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Lists keys under a prefix, recursively, sorted. @throws StorageError */
  list(prefix: string): Promise<string[]>;
  /** Answers whether the lake is reachable (for `/readyz`). */
  ping(): Promise<boolean>;
}

export { openLake } from './open.js';
