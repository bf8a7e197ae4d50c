/**
 * Errors of the Kinesis sink and its classifier. Whether to retry is a field of the error
 * (`retriable`), decided here once from the AWS error name or network error code, never guessed at
 * the call site (ADR 5).
 *
 * Retriable, held in the buffer until it succeeds (per the Kinesis PutRecords API reference,
 * "Errors" and the per-entry `ErrorCode`): throttling (`ProvisionedThroughputExceededException`,
 * `KMSThrottlingException`, `LimitExceededException`), `InternalFailure`, `ServiceUnavailable`, any
 * HTTP 5xx, network errors and timeouts, expired or unloadable credentials, and an unusable stream
 * or key (`ResourceNotFoundException`, `AccessDeniedException`, `KMSDisabledException`,
 * `KMSAccessDeniedException`, ...), which an operator fixes.
 * Not retriable, dead-lettered: an invalid request (`ValidationException`,
 * `InvalidArgumentException`), records over the limits, and programmer errors (`TypeError`, ...).
 */
import { awsSinkClassifier } from '../aws-errors.js';
import { ProducerError } from '../errors.js';

export { ProducerClosedError, ProducerError, SinkAbandonedError, ThrottledError } from '../errors.js';

/**
 * A record is larger than `maxRecordBytes` (data plus partition key, UTF-8; AWS limit 1 MiB per the
 * PutRecords API reference). Never retriable: the record is dead-lettered and never sent.
 */
export class RecordTooLargeError extends ProducerError {
  constructor(
    readonly recordBytes: number,
    readonly dataBytes: number,
    readonly keyBytes: number,
    readonly limitBytes: number,
  ) {
    super(
      `record of ${recordBytes} bytes (data ${dataBytes} + partition key ${keyBytes}) exceeds the limit of ${limitBytes} bytes per record (maxRecordBytes/maxBatchBytes; Kinesis PutRecords allows 1 MiB including the partition key)`,
      'record_too_large',
      { retriable: false },
    );
  }
}

/** A partition key is not 1-256 characters (PutRecords API reference). Never retriable. */
export class InvalidPartitionKeyError extends ProducerError {
  constructor(readonly keyLength: number) {
    super(`partition key of ${keyLength} characters is invalid: Kinesis requires 1-256 characters`, 'sink', {
      retriable: false,
    });
  }
}

/** A PutRecords call or entry failed; `retriable` follows the AWS error (see the module comment). */
export class PutRecordsError extends ProducerError {}

/** The stream does not exist (or is not visible to these credentials). Never retriable. */
export class StreamNotFoundError extends ProducerError {
  constructor(
    readonly streamName: string,
    readonly endpoint: string,
    cause?: unknown,
  ) {
    super(`Kinesis stream "${streamName}" does not exist at ${endpoint}`, 'config', {
      retriable: false,
      cause,
      code: 'ResourceNotFoundException',
    });
  }
}

/**
 * Kinesis's own codes (PutRecords API reference, "Errors" and the per-entry `ErrorCode`); the shared
 * AWS ones (server faults, credentials, access and KMS, network, timeouts) are in `../aws-errors.ts`.
 */
const kinesisClassifier = awsSinkClassifier(
  {
    throttling: [
      'ProvisionedThroughputExceededException',
      'KMSThrottlingException',
      'LimitExceededException',
      'ThrottlingException',
    ],
    invalidRequest: ['ValidationException', 'InvalidArgumentException', 'SerializationException'],
    dependencyUnusable: [],
  },
  (message, failureClass, options) => new PutRecordsError(message, failureClass, options),
);

/**
 * Classifies a per-entry failure of a PutRecords response (`ErrorCode` is
 * `ProvisionedThroughputExceededException` or `InternalFailure` per the API reference, or a KMS code).
 */
export function classifyEntryError(errorCode: string, errorMessage?: string): ProducerError {
  return kinesisClassifier.entry(errorCode, errorMessage);
}

/**
 * Classifies an error thrown by a whole PutRecords (or DescribeStreamSummary) call into a
 * {@link ProducerError} with the right `retriable` flag and failure class. Already-classified
 * {@link ProducerError}s are returned unchanged.
 */
export function classifyKinesisError(err: unknown): ProducerError {
  return kinesisClassifier.call(err);
}
