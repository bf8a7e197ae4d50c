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
import { type AwsErrorLike, isTransientAwsError } from '../../aws/errors.js';
import { ConcurrentRunsExceededError, CrawlerRunningError, GlueError } from '../errors.js';

export { isTransientAwsError };

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
