import {
  describeError,
  type FailureClass,
  IngestError,
  type IngestErrorOptions,
  isRetriable,
} from '../../errors.js';

/**
 * Base error of the stream consumers. Like every {@link IngestError} it says itself whether it may
 * be retried (`retriable`) and which failure class it belongs to (the `class` label of
 * `ingest_bronze_errors_total`).
 */
export class ConsumerError extends IngestError {
  constructor(message: string, failureClass: FailureClass, options: IngestErrorOptions = {}) {
    super(message, failureClass, options);
  }
}

/** The stream does not exist (Kinesis `ResourceNotFoundException`). Not retriable. */
export class StreamNotFoundError extends ConsumerError {
  constructor(message: string, options: Omit<IngestErrorOptions, 'retriable'> = {}) {
    super(message, 'config', { ...options, retriable: false });
  }
}

/**
 * A Kinesis read call (ListShards, GetShardIterator, GetRecords, DescribeStreamSummary) failed for a
 * reason that is not throttling: network, timeout, 5xx. Retriable unless said otherwise.
 */
export class StreamReadError extends ConsumerError {
  constructor(message: string, options: IngestErrorOptions & { failureClass?: FailureClass } = {}) {
    super(message, options.failureClass ?? 'network', { retriable: true, ...options });
  }
}

/**
 * Kinesis throttled a read: `ProvisionedThroughputExceededException` (GetRecords: 5 calls/s and
 * 2 MiB/s per shard), `LimitExceededException` (control-plane calls) or `KMSThrottlingException`.
 * Always retriable, after a backoff.
 */
export class ReadThrottledError extends ConsumerError {
  constructor(message: string, options: Omit<IngestErrorOptions, 'retriable'> = {}) {
    super(message, 'throttled', { ...options, retriable: true });
  }
}

/**
 * A shard iterator expired (`ExpiredIteratorException`: iterators live 5 minutes). Retriable: the
 * writer gets a new iterator after the last record it read (or its checkpoint).
 */
export class IteratorExpiredError extends ConsumerError {
  constructor(message: string, options: Omit<IngestErrorOptions, 'retriable'> = {}) {
    super(message, 'timeout', { ...options, retriable: true });
  }
}

/**
 * A Kinesis record is not a valid envelope (not UTF-8 JSON, not an object, or missing `source`, `id`
 * or `ingested_at`). Never retriable: the record goes to the dead-letter location with this message.
 */
export class MalformedRecordError extends ConsumerError {
  constructor(message: string, options: Omit<IngestErrorOptions, 'retriable'> = {}) {
    super(message, 'malformed_response', { ...options, retriable: false });
  }
}

/**
 * Writing a bronze object (or a dead letter) failed. Retriable unless the cause says otherwise;
 * failure class `storage` unless the cause has a finer one (`access_denied`, `not_found`, `kms`...).
 */
export class BronzeWriteError extends ConsumerError {
  constructor(message: string, options: IngestErrorOptions & { failureClass?: FailureClass } = {}) {
    super(message, options.failureClass ?? 'storage', { retriable: true, ...options });
  }
}

/** The failure class of a storage failure: the cause's own (`not_found`, `kms`...), else `storage`. */
export function storageClassOf(err: unknown): FailureClass {
  return err instanceof IngestError ? err.failureClass : 'storage';
}

/** A failed lake or dead-letter write as a {@link BronzeWriteError}, keeping its cause's retriability and class. */
export function bronzeWriteError(message: string, err: unknown): BronzeWriteError {
  return new BronzeWriteError(`${message}: ${describeError(err)}`, {
    cause: err,
    retriable: isRetriable(err),
    failureClass: storageClassOf(err),
  });
}

/** Storing a shard checkpoint failed in the state store. Retriable unless the cause says otherwise. */
export class CheckpointError extends ConsumerError {
  constructor(message: string, options: IngestErrorOptions & { failureClass?: FailureClass } = {}) {
    super(message, options.failureClass ?? 'storage', { retriable: true, ...options });
  }
}

/**
 * Another writer checkpointed the same shard since this one read its checkpoint (a conditional write
 * in the state store lost). Not retriable: this writer stops reading the shard.
 */
export class ShardOwnershipError extends ConsumerError {
  constructor(message: string, options: Omit<IngestErrorOptions, 'retriable'> = {}) {
    super(message, 'state_conflict', { ...options, retriable: false });
  }
}

/**
 * `stop()` ran out of time (`shutdownTimeoutMs`) before a buffer was written and checkpointed. Not
 * retriable; nothing is lost: the records were not checkpointed and are read again on the next start.
 */
export class ShutdownTimeoutError extends ConsumerError {
  constructor(message: string, options: Omit<IngestErrorOptions, 'retriable'> = {}) {
    super(message, 'timeout', { ...options, retriable: false });
  }
}

const THROTTLING = new Set([
  'ProvisionedThroughputExceededException',
  'LimitExceededException',
  'KMSThrottlingException',
  'ThrottlingException',
]);

/**
 * Maps an error thrown by the Kinesis client to a {@link ConsumerError}.
 * @param operation - the API operation, for the message (e.g. `GetRecords`).
 */
export function kinesisError(err: unknown, operation: string, streamName: string): ConsumerError {
  if (err instanceof ConsumerError) return err;
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const name = e?.name ?? 'Error';
  const message = `${operation} on stream ${streamName} failed: ${name}: ${e?.message ?? String(err)}`;
  if (THROTTLING.has(name)) return new ReadThrottledError(message, { cause: err });
  if (name === 'ExpiredIteratorException') return new IteratorExpiredError(message, { cause: err });
  if (name === 'ResourceNotFoundException') return new StreamNotFoundError(message, { cause: err });
  if (name === 'AbortError') return new StreamReadError(message, { cause: err, failureClass: 'timeout' });
  const status = e?.$metadata?.httpStatusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    // InvalidArgumentException, AccessDeniedException, KMS errors...: trying again will not help.
    return new StreamReadError(message, { cause: err, failureClass: 'http_4xx', retriable: false });
  }
  if (status !== undefined && status >= 500) {
    return new StreamReadError(message, { cause: err, failureClass: 'http_5xx' });
  }
  if (name === 'TimeoutError' || /timeout/i.test(name)) {
    return new StreamReadError(message, { cause: err, failureClass: 'timeout' });
  }
  return new StreamReadError(message, { cause: err });
}
