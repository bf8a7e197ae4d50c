/**
 * Classification of AWS SDK v3 errors thrown by the Glue and Athena clients into the service's
 * {@link GlueError} family, so the hourly scheduler decides on retries from `err.retriable` alone.
 *
 * Rules (AWS SDK v3 error shape: `name` is the service's exception type, `$metadata.httpStatusCode`
 * the HTTP status, `$fault` `client` or `server`, `$retryable.throttling` set by the SDK for throttling):
 * - Glue `ConcurrentRunsExceededException` (StartJobRun) → {@link ConcurrentRunsExceededError} (retriable);
 * - Glue `CrawlerRunningException` (StartCrawler) → {@link CrawlerRunningError} (retriable);
 * - throttling (`ThrottlingException`, Athena `TooManyRequestsException`, any HTTP 429 or
 *   `$retryable.throttling`), server faults (HTTP 5xx, `$fault: 'server'`, Glue
 *   `InternalServiceException` and `OperationTimeoutException`, Athena `InternalServerException`),
 *   network failures (no HTTP response, a Node `code` such as `ECONNREFUSED`) and timeouts
 *   (`TimeoutError`, `AbortError`) → retriable {@link GlueError};
 * - everything else (`EntityNotFoundException`, `InvalidInputException`, `AccessDeniedException`,
 *   `InvalidRequestException`, HTTP 4xx, ...) → non-retriable {@link GlueError}.
 *
 * Programmer errors (`TypeError`, `RangeError`, ...) and errors that already are {@link GlueError}s are
 * returned unchanged.
 */
import { ConcurrentRunsExceededError, CrawlerRunningError, GlueError } from '../errors.js';

/** Exception names that mean "slow down": Glue `ThrottlingException`, Athena `TooManyRequestsException`. */
const THROTTLING = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
]);

/** Server-side exception names that are transient by the APIs' definitions. */
const SERVER = new Set([
  // Glue: "An internal service error occurred" / "The operation timed out".
  'InternalServiceException',
  'OperationTimeoutException',
  // Athena: "Indicates a platform issue, which may be due to a transient condition or outage".
  'InternalServerException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalFailure',
]);

/** Names of timeouts raised by the SDK's HTTP handler or an AbortSignal. */
const TIMEOUTS = new Set(['TimeoutError', 'AbortError', 'RequestTimeout', 'RequestTimeoutException']);

/** The fields of an AWS SDK v3 service exception (or a Node network error) that drive classification. */
interface AwsErrorLike {
  name?: string;
  message?: string;
  code?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
  $retryable?: { throttling?: boolean };
}

/**
 * Whether an AWS SDK error is transient: throttling, a server fault, a timeout or a failure to reach
 * the service at all.
 */
export function isTransientAwsError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as AwsErrorLike;
  const name = e.name ?? '';
  const status = e.$metadata?.httpStatusCode;
  if (THROTTLING.has(name) || e.$retryable?.throttling === true || status === 429) return true;
  if (SERVER.has(name) || (status !== undefined && status >= 500) || e.$fault === 'server') return true;
  if (TIMEOUTS.has(name)) return true;
  // No HTTP response at all, and a Node error code (ECONNREFUSED, ECONNRESET, ENOTFOUND, ...): the
  // request never reached the service.
  return status === undefined && e.$fault === undefined && typeof e.code === 'string';
}

/**
 * Converts anything thrown by a Glue or Athena SDK call into a {@link GlueError} (see the module
 * comment for the rules).
 * @param what - the operation, for the message, e.g. `StartJobRun bronze_to_silver`.
 */
export function toGlueError(err: unknown, what: string): Error {
  if (err instanceof GlueError) return err;
  if (
    err instanceof TypeError ||
    err instanceof RangeError ||
    err instanceof SyntaxError ||
    err instanceof ReferenceError
  ) {
    return err;
  }
  const e = (typeof err === 'object' && err !== null ? err : {}) as AwsErrorLike;
  const name = e.name ?? 'Error';
  const message = `${what}: ${name}: ${e.message ?? String(err)}`;
  if (name === 'ConcurrentRunsExceededException')
    return new ConcurrentRunsExceededError(message, { cause: err });
  if (name === 'CrawlerRunningException') return new CrawlerRunningError(message, { cause: err });
  return new GlueError(message, { cause: err, retriable: isTransientAwsError(err) });
}
