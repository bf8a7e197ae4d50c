/**
 * Errors every sink shares. Whether to retry is a field of the error (`retriable`), decided once by
 * the sink's classifier, never guessed at the call site (the KafkaJS convention).
 */
import { type FailureClass, IngestError, type IngestErrorOptions } from '../errors.js';

/** Base class of every error a sink throws or dead-letters with. */
export class ProducerError extends IngestError {
  /** The service's error name or per-entry error code this error came from, when there is one. */
  readonly code: string | undefined;

  constructor(
    message: string,
    failureClass: FailureClass,
    options: IngestErrorOptions & { code?: string } = {},
  ) {
    super(message, failureClass, options);
    this.code = options.code;
  }
}

/** The service throttled the call or entry (Kinesis `ProvisionedThroughputExceededException`, `KMSThrottlingException`, Firehose `ServiceUnavailableException`...). Always retriable. */
export class ThrottledError extends ProducerError {
  constructor(message: string, options: { cause?: unknown; code?: string } = {}) {
    super(message, 'throttled', { ...options, retriable: true });
  }
}

/** `write()` was called after `close()`. Never retriable. */
export class ProducerClosedError extends ProducerError {
  constructor(sinkName: string) {
    super(`sink "${sinkName}" is closed: write() after close() is rejected`, 'sink', { retriable: false });
  }
}

/**
 * The sink stopped (shutdown deadline) before the service acknowledged these records. They were
 * neither delivered nor dead-lettered: the writer must not record them as seen, so they are polled
 * again. Retriable: the same write can succeed after a restart.
 */
export class SinkAbandonedError extends ProducerError {
  constructor(sinkName: string, reason: string) {
    super(
      `sink "${sinkName}" abandoned records not yet acknowledged (${reason}); they were not delivered and will be polled again`,
      'sink',
      { retriable: true },
    );
  }
}
