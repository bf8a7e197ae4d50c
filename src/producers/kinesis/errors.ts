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
import { ProducerError, ThrottledError } from '../errors.js';

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

const THROTTLING = new Set([
  'ProvisionedThroughputExceededException',
  'KMSThrottlingException',
  'LimitExceededException',
  'ThrottlingException',
]);
const RETRIABLE_SERVER = new Set([
  'InternalFailure',
  'InternalFailureException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalServerError',
]);
/**
 * The request itself is invalid: sending it again cannot succeed. Per entry, the record is
 * dead-lettered; for a whole call, the batch is split so the bad record is found.
 */
const INVALID_REQUEST = new Set([
  'ValidationException',
  'InvalidArgumentException',
  'SerializationException',
]);
/**
 * The stream, its permissions or its KMS key are unusable right now. That is a dependency problem
 * an operator fixes (create the stream, grant the permission, enable the key), not a property of
 * the records: they stay buffered and are retried until it is fixed (design brief, "Delivery
 * guarantee": a dependency being down is never a reason to dead-letter).
 */
const DEPENDENCY_UNUSABLE = new Set([
  'ResourceNotFoundException',
  'ResourceInUseException',
  'AccessDeniedException',
  'KMSAccessDeniedException',
  'KMSDisabledException',
  'KMSInvalidStateException',
  'KMSNotFoundException',
  'KMSOptInRequired',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
]);
const RETRIABLE_AUTH = new Set([
  'CredentialsProviderError',
  'ProviderError',
  'TokenProviderError',
  'ExpiredTokenException',
  'ExpiredToken',
  'RequestExpired',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'RequestTimeTooSkewed',
]);
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTDOWN',
  'UND_ERR_SOCKET',
]);
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT']);
const TIMEOUT_NAMES = new Set(['TimeoutError', 'AbortError', 'RequestTimeout', 'RequestTimeoutException']);

/**
 * Classifies a per-entry failure of a PutRecords response (`ErrorCode` is
 * `ProvisionedThroughputExceededException` or `InternalFailure` per the API reference, or a KMS code).
 */
export function classifyEntryError(errorCode: string, errorMessage?: string): ProducerError {
  const message = `${errorCode}${errorMessage ? `: ${errorMessage}` : ''}`;
  if (THROTTLING.has(errorCode)) return new ThrottledError(message, { code: errorCode });
  if (INVALID_REQUEST.has(errorCode))
    return new PutRecordsError(message, 'http_4xx', { retriable: false, code: errorCode });
  if (DEPENDENCY_UNUSABLE.has(errorCode))
    return new PutRecordsError(message, 'http_4xx', { retriable: true, code: errorCode });
  // InternalFailure and any code we do not know: the entry failed on the service side; try again.
  return new PutRecordsError(message, 'http_5xx', { retriable: true, code: errorCode });
}

/**
 * Classifies an error thrown by a whole PutRecords (or DescribeStreamSummary) call into a
 * {@link ProducerError} with the right `retriable` flag and failure class. Already-classified
 * {@link ProducerError}s are returned unchanged.
 */
export function classifyKinesisError(err: unknown): ProducerError {
  if (err instanceof ProducerError) return err;
  if (
    err instanceof TypeError ||
    err instanceof RangeError ||
    err instanceof SyntaxError ||
    err instanceof ReferenceError
  ) {
    return new PutRecordsError(`programmer error: ${err.name}: ${err.message}`, 'internal', {
      retriable: false,
      cause: err,
      code: err.name,
    });
  }
  const e = (typeof err === 'object' && err !== null ? err : {}) as {
    name?: string;
    code?: string;
    message?: string;
    $fault?: string;
    $metadata?: { httpStatusCode?: number };
    $retryable?: { throttling?: boolean };
  };
  const name = e.name ?? 'Error';
  const message = `${name}: ${e.message ?? String(err)}`;
  const status = e.$metadata?.httpStatusCode;
  if (THROTTLING.has(name) || e.$retryable?.throttling === true)
    return new ThrottledError(message, { cause: err, code: name });
  if (INVALID_REQUEST.has(name))
    return new PutRecordsError(message, 'http_4xx', { retriable: false, cause: err, code: name });
  if (DEPENDENCY_UNUSABLE.has(name))
    return new PutRecordsError(message, 'http_4xx', { retriable: true, cause: err, code: name });
  if (RETRIABLE_AUTH.has(name))
    return new PutRecordsError(message, 'http_4xx', { retriable: true, cause: err, code: name });
  if (RETRIABLE_SERVER.has(name))
    return new PutRecordsError(message, 'http_5xx', { retriable: true, cause: err, code: name });
  if (TIMEOUT_NAMES.has(name) || (e.code !== undefined && TIMEOUT_CODES.has(e.code))) {
    return new PutRecordsError(message, 'timeout', { retriable: true, cause: err, code: e.code ?? name });
  }
  if (e.code !== undefined && NETWORK_CODES.has(e.code)) {
    return new PutRecordsError(message, 'network', { retriable: true, cause: err, code: e.code });
  }
  if (status !== undefined && status >= 500)
    return new PutRecordsError(message, 'http_5xx', { retriable: true, cause: err, code: name });
  if (status === 429) return new ThrottledError(message, { cause: err, code: name });
  // Any other 4xx (403 from a proxy, 404 from a wrong endpoint): the request did not reach a
  // usable stream. Not the records' fault, so they are held and retried until it is fixed.
  if (status !== undefined && status >= 400)
    return new PutRecordsError(message, 'http_4xx', { retriable: true, cause: err, code: name });
  if (e.$fault === 'server')
    return new PutRecordsError(message, 'http_5xx', { retriable: true, cause: err, code: name });
  // No HTTP response at all and not a known programmer error: the SDK failed to reach the service.
  if (status === undefined && e.$fault === undefined && e.code !== undefined) {
    return new PutRecordsError(message, 'network', { retriable: true, cause: err, code: e.code });
  }
  return new PutRecordsError(message, 'internal', { retriable: false, cause: err, code: name });
}
