import { type AwsErrorLike, errorNameOf, httpStatusOf } from '../aws/errors.js';
import { type FailureClass, IngestError } from '../errors.js';

export { errorNameOf, httpStatusOf };

/**
 * A call to the endpoint failed while creating a resource (not "already exists", not "unsupported"):
 * unreachable endpoint, access denied, invalid input. `retriable` for network failures, timeouts,
 * throttling and 5xx.
 */
export class BootstrapError extends IngestError {
  /**
   * @param what - the resource and operation, e.g. `glue job bronze_to_silver: CreateJob`.
   * @param endpoint - the endpoint called, for the message.
   */
  static from(err: unknown, what: string, endpoint: string): BootstrapError {
    const e = (typeof err === 'object' && err !== null ? err : {}) as AwsErrorLike;
    const status = e.$metadata?.httpStatusCode;
    let failureClass: FailureClass;
    if (status === undefined && typeof e.code === 'string') failureClass = 'network';
    else if (e.name === 'TimeoutError' || e.name === 'AbortError') failureClass = 'timeout';
    else if (status === 429 || e.$retryable?.throttling === true) failureClass = 'throttled';
    else if (status !== undefined && status >= 500) failureClass = 'http_5xx';
    else if (status !== undefined && status >= 400) failureClass = 'http_4xx';
    else failureClass = 'internal';
    const retriable = ['network', 'timeout', 'throttled', 'http_5xx'].includes(failureClass);
    const detail = `${e.name ?? 'Error'}${e.code && e.code !== e.name ? ` (${e.code})` : ''}: ${e.message ?? String(err)}`;
    return new BootstrapError(`${what} at ${endpoint} failed: ${detail}`, failureClass, {
      cause: err,
      retriable,
    });
  }
}

/** Message fragments of emulators answering for an API they do not provide. */
const UNSUPPORTED_MESSAGE =
  /not (yet |been )?(implemented|emulated|supported)|not included in your (current )?(license|plan|subscription)|pro feature|requires a (paid|pro) /i;

/** Exception names of an operation the endpoint does not provide. */
const UNSUPPORTED_NAMES = new Set([
  'NotImplemented',
  'NotImplementedException',
  'NotImplementedError',
  'UnknownOperationException',
  'UnsupportedOperation',
  'UnsupportedOperationException',
]);

/**
 * Whether an error says the endpoint does not provide the API at all (LocalStack answers HTTP 501
 * "The API for service '…' is either not included in your current license plan or has not yet been
 * emulated by LocalStack"; moto answers "The … action has not been implemented"), as opposed to a
 * failure of the call.
 */
export function isUnsupported(err: unknown): boolean {
  const e = (typeof err === 'object' && err !== null ? err : {}) as AwsErrorLike;
  if (e.$metadata?.httpStatusCode === 501) return true;
  if (UNSUPPORTED_NAMES.has(e.name ?? '')) return true;
  const hasResponse = e.$metadata?.httpStatusCode !== undefined;
  return hasResponse && UNSUPPORTED_MESSAGE.test(e.message ?? '');
}
