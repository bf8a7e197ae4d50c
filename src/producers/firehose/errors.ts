/**
 * Errors of the Firehose sink and its classifier (shared shape in `../aws-errors.ts`, ADR 5).
 *
 * Retriable, held in the buffer until it succeeds (PutRecordBatch API reference, "Errors", and the
 * per-entry `ErrorCode` of `RequestResponses`): `ServiceUnavailableException` (the call or entry
 * exceeded the delivery stream's throughput: throttling), `LimitExceededException`,
 * `ThrottlingException`, `InternalFailure`, any 5xx, network errors and timeouts, and an unusable
 * delivery stream or key (`ResourceNotFoundException`, `InvalidKMSResourceException`,
 * `AccessDeniedException`...), which an operator fixes.
 * Not retriable, dead-lettered: an invalid request (`InvalidArgumentException`,
 * `ValidationException`), records over the limits, and programmer errors.
 */
import { awsSinkClassifier } from '../aws-errors.js';
import { ProducerError } from '../errors.js';

export { ProducerClosedError, ProducerError, SinkAbandonedError, ThrottledError } from '../errors.js';

/**
 * A record with its newline is larger than `maxRecordBytes` (AWS limit 1,000 KiB = 1,024,000 bytes
 * per record, PutRecordBatch API reference) or than `maxBatchBytes`. It can never be sent: it is
 * dead-lettered, never sent. Never retriable.
 */
export class FirehoseRecordTooLargeError extends ProducerError {
  constructor(
    readonly recordBytes: number,
    readonly limitBytes: number,
  ) {
    super(
      `record of ${recordBytes} bytes (data plus newline) exceeds the limit of ${limitBytes} bytes per record (maxRecordBytes/maxBatchBytes; Firehose PutRecordBatch allows 1,000 KiB = 1024000 bytes per record, not 1 MiB)`,
      'record_too_large',
      { retriable: false },
    );
  }
}

/** A PutRecordBatch call or entry failed; `retriable` follows the AWS error (see the module comment). */
export class PutRecordBatchError extends ProducerError {}

/** The delivery stream does not exist, or is not a DirectPut stream. Never retriable (config). */
export class DeliveryStreamUnusableError extends ProducerError {
  constructor(message: string, cause?: unknown) {
    super(message, 'config', { retriable: false, cause, code: 'ResourceNotFoundException' });
  }
}

const firehoseClassifier = awsSinkClassifier(
  {
    throttling: [
      'ServiceUnavailableException',
      'LimitExceededException',
      'ThrottlingException',
      'KMSThrottlingException',
    ],
    invalidRequest: ['InvalidArgumentException', 'ValidationException', 'SerializationException'],
    dependencyUnusable: ['InvalidKMSResourceException', 'InvalidSourceException'],
  },
  (message, failureClass, options) => new PutRecordBatchError(message, failureClass, options),
);

/** Classifies a per-entry failure of a PutRecordBatch response (`ErrorCode`, `ErrorMessage`). */
export function classifyFirehoseEntryError(errorCode: string, errorMessage?: string): ProducerError {
  return firehoseClassifier.entry(errorCode, errorMessage);
}

/** Classifies an error thrown by a whole PutRecordBatch or DescribeDeliveryStream call. */
export function classifyFirehoseError(err: unknown): ProducerError {
  return firehoseClassifier.call(err);
}
