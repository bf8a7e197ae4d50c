/**
 * How every AWS sink (Kinesis PutRecords, Firehose PutRecordBatch) classifies a failure, once, into
 * a {@link ProducerError} whose `retriable` decides what the engine does (ADR 5). A sink supplies
 * its service's codes ({@link AwsSinkCodes}) and its error class; the shape of the decision is
 * shared:
 * - throttling (by name, the SDK's `$retryable.throttling`, HTTP 429) → {@link ThrottledError};
 * - an invalid request (the sink's `invalidRequest` codes) → not retriable: the record is
 *   dead-lettered, a whole call is split until the bad record is found;
 * - a destination, permission or KMS key that is unusable now, expired or missing credentials,
 *   server faults, 5xx, timeouts and network errors → retriable without limit (design brief,
 *   "Delivery guarantee": a dependency being down is never a reason to dead-letter);
 * - any other 4xx → retriable (the request did not reach a usable destination);
 * - programmer errors (`TypeError`, `RangeError`, ...) and anything unknown → not retriable.
 */

import { awsErrorOf } from '../aws/errors.js';
import type { FailureClass } from '../errors.js';
import { ProducerError, ThrottledError } from './errors.js';

/** A service's own error codes, added to the shared ones below. */
export interface AwsSinkCodes {
  /** Codes that mean throttling (call or entry). */
  throttling: readonly string[];
  /** Codes that mean the request or record itself is invalid: never retriable. */
  invalidRequest: readonly string[];
  /** Codes that mean the destination, its permissions or its KMS key are unusable now: retriable. */
  dependencyUnusable: readonly string[];
}

/** Builds the sink's error for a failure class (its own `ProducerError` subclass). */
export type SinkErrorFactory = (
  message: string,
  failureClass: FailureClass,
  options: { retriable: boolean; cause?: unknown; code: string },
) => ProducerError;

/** An AWS sink's classifier: one function for a per-entry `ErrorCode`, one for a thrown error. */
export interface AwsSinkClassifier {
  /** Classifies a per-entry failure of a batch response (`ErrorCode`, `ErrorMessage`). */
  entry(errorCode: string, errorMessage?: string): ProducerError;
  /** Classifies an error thrown by a whole call; a `ProducerError` is returned unchanged. */
  call(err: unknown): ProducerError;
}

const RETRIABLE_SERVER = [
  'InternalFailure',
  'InternalFailureException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalServerError',
];
/** Shared by every AWS service: access and KMS failures an operator fixes. */
const DEPENDENCY_UNUSABLE = [
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
];
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
 * Builds an AWS sink's classifier (see the module comment).
 * @example
 * ```ts
 * const classify = awsSinkClassifier(
 *   { throttling: ['ThrottlingException'], invalidRequest: ['ValidationException'], dependencyUnusable: [] },
 *   (m, c, o) => new ProducerError(m, c, o),
 * );
 * classify.entry('ThrottlingException').retriable; // true
 * ```
 */
export function awsSinkClassifier(codes: AwsSinkCodes, make: SinkErrorFactory): AwsSinkClassifier {
  const throttling = new Set(codes.throttling);
  const invalid = new Set(codes.invalidRequest);
  // A sink's own throttling codes win over the shared server-fault names (Firehose answers
  // ServiceUnavailableException when a call exceeds the delivery stream's throughput).
  const unusable = new Set([...DEPENDENCY_UNUSABLE, ...codes.dependencyUnusable]);
  const server = new Set(RETRIABLE_SERVER.filter((c) => !throttling.has(c)));
  return {
    entry(errorCode, errorMessage) {
      const message = `${errorCode}${errorMessage ? `: ${errorMessage}` : ''}`;
      if (throttling.has(errorCode)) return new ThrottledError(message, { code: errorCode });
      if (invalid.has(errorCode)) return make(message, 'http_4xx', { retriable: false, code: errorCode });
      if (unusable.has(errorCode)) return make(message, 'http_4xx', { retriable: true, code: errorCode });
      // InternalFailure and any code we do not know: the entry failed on the service side; try again.
      return make(message, 'http_5xx', { retriable: true, code: errorCode });
    },
    call(err) {
      if (err instanceof ProducerError) return err;
      if (
        err instanceof TypeError ||
        err instanceof RangeError ||
        err instanceof SyntaxError ||
        err instanceof ReferenceError
      ) {
        return make(`programmer error: ${err.name}: ${err.message}`, 'internal', {
          retriable: false,
          cause: err,
          code: err.name,
        });
      }
      const e = awsErrorOf(err);
      const name = e.name ?? 'Error';
      const message = `${name}: ${e.message ?? String(err)}`;
      const status = e.$metadata?.httpStatusCode;
      const as = (failureClass: FailureClass, retriable: boolean, code = name) =>
        make(message, failureClass, { retriable, cause: err, code });
      if (throttling.has(name) || e.$retryable?.throttling === true)
        return new ThrottledError(message, { cause: err, code: name });
      if (invalid.has(name)) return as('http_4xx', false);
      if (unusable.has(name) || RETRIABLE_AUTH.has(name)) return as('http_4xx', true);
      if (server.has(name)) return as('http_5xx', true);
      if (TIMEOUT_NAMES.has(name) || (e.code !== undefined && TIMEOUT_CODES.has(e.code)))
        return as('timeout', true, e.code ?? name);
      if (e.code !== undefined && NETWORK_CODES.has(e.code)) return as('network', true, e.code);
      if (status !== undefined && status >= 500) return as('http_5xx', true);
      if (status === 429) return new ThrottledError(message, { cause: err, code: name });
      // Any other 4xx (403 from a proxy, 404 from a wrong endpoint): the request did not reach a
      // usable destination. Not the records' fault, so they are held and retried until it is fixed.
      if (status !== undefined && status >= 400) return as('http_4xx', true);
      if (e.$fault === 'server') return as('http_5xx', true);
      // No HTTP response at all and not a known programmer error: the SDK failed to reach the service.
      if (status === undefined && e.$fault === undefined && e.code !== undefined)
        return as('network', true, e.code);
      return as('internal', false);
    },
  };
}
