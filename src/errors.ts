/**
 * Base error of the ingestion service, in the style of KafkaJS and Powertools: whether to retry is a
 * field on the error (`retriable`), never a guess at the call site, and every error names the class
 * of failure it belongs to so metrics can count errors by class.
 *
 * Programmer errors (`TypeError`, `RangeError`, ...) are never retried: see {@link isRetriable}.
 */

/** Failure classes used as the `class` label of every `*_errors_total` metric. */
export type FailureClass =
  | 'config'
  | 'network'
  | 'timeout'
  | 'http_4xx'
  | 'http_5xx'
  | 'throttled'
  | 'malformed_response'
  | 'response_too_large'
  | 'record_too_large'
  | 'circuit_open'
  | 'sink'
  | 'state_conflict'
  | 'storage'
  /** A permanent AWS failure: access denied (IAM, bucket policy, credentials). */
  | 'access_denied'
  /** A permanent AWS failure: the bucket, table or stream does not exist. */
  | 'not_found'
  /** A permanent AWS failure: the KMS key behind a bucket or stream is disabled, missing or denied. */
  | 'kms'
  | 'internal';

export interface IngestErrorOptions {
  /** The underlying error, forwarded to `Error.cause`. */
  cause?: unknown;
  /** Whether the operation may succeed if tried again. @default false */
  retriable?: boolean;
}

/** Base class of every error the service throws on purpose. */
export class IngestError extends Error {
  /** Whether trying the same operation again may succeed. */
  readonly retriable: boolean;
  /** The failure class, used as a metric label. */
  readonly failureClass: FailureClass;

  constructor(message: string, failureClass: FailureClass, options: IngestErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.failureClass = failureClass;
    this.retriable = options.retriable ?? false;
  }
}

/** A configuration file or value is invalid. Never retriable. */
export class ConfigError extends IngestError {
  constructor(message: string, options: Omit<IngestErrorOptions, 'retriable'> = {}) {
    super(message, 'config', { ...options, retriable: false });
  }
}

/** A conditional write in the state store lost against another writer. */
export class StateConflictError extends IngestError {
  constructor(message: string, options: Omit<IngestErrorOptions, 'retriable'> = {}) {
    super(message, 'state_conflict', { ...options, retriable: false });
  }
}

/**
 * Reading or writing the lake, the dead-letter location or the state store failed. Retriable unless
 * said otherwise; failure class `storage` unless a finer one is known (`access_denied`, `kms`, ...).
 */
export class StorageError extends IngestError {
  constructor(message: string, options: IngestErrorOptions & { failureClass?: FailureClass } = {}) {
    super(message, options.failureClass ?? 'storage', { retriable: true, ...options });
  }
}

/**
 * Whether `err` may be retried: an {@link IngestError} says so itself; programmer errors never are;
 * any other error (for example from a library) is treated as not retriable unless it carries a
 * boolean `retriable` field.
 */
export function isRetriable(err: unknown): boolean {
  if (err instanceof IngestError) return err.retriable;
  if (err instanceof TypeError || err instanceof RangeError || err instanceof SyntaxError) return false;
  if (typeof err === 'object' && err !== null && 'retriable' in err) {
    return (err as { retriable: unknown }).retriable === true;
  }
  return false;
}

/** The failure class of any thrown value. */
export function failureClassOf(err: unknown): FailureClass {
  return err instanceof IngestError ? err.failureClass : 'internal';
}

/** A one-line description of any thrown value, for logs and dead-letter reasons. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}
