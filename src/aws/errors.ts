/**
 * What every AWS SDK v3 call site shares to classify a failure: the fields of a service exception
 * (or of a Node network error), and whether it is transient. Components add their own service's
 * names (Glue's `ConcurrentRunsExceededException`, Kinesis per-entry codes, ...) on top.
 */

/** The fields of an AWS SDK v3 service exception (or a Node network error) that drive classification. */
export interface AwsErrorLike {
  name?: string;
  message?: string;
  code?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
  $retryable?: { throttling?: boolean };
}

/** Views any thrown value as {@link AwsErrorLike} (an empty object for non-objects). */
export function awsErrorOf(err: unknown): AwsErrorLike {
  return (typeof err === 'object' && err !== null ? err : {}) as AwsErrorLike;
}

/** The HTTP status of an AWS SDK error, when it got a response. */
export function httpStatusOf(err: unknown): number | undefined {
  return awsErrorOf(err).$metadata?.httpStatusCode;
}

/** The exception name of an AWS SDK error, `Error` when it has none. */
export function errorNameOf(err: unknown): string {
  return awsErrorOf(err).name ?? 'Error';
}

/**
 * Exception names that are transient across the services we call: throttling (Glue
 * `ThrottlingException`, Athena `TooManyRequestsException`, DynamoDB
 * `ProvisionedThroughputExceededException`/`RequestLimitExceeded`/`LimitExceededException`,
 * `TransactionConflictException`), server faults (Glue `InternalServiceException`/
 * `OperationTimeoutException`, Athena `InternalServerException`, `ServiceUnavailable`) and timeouts
 * raised by the SDK's HTTP handler or an AbortSignal.
 */
const TRANSIENT = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'ProvisionedThroughputExceededException',
  'LimitExceededException',
  'TransactionConflictException',
  'InternalServiceException',
  'OperationTimeoutException',
  'InternalServerException',
  'InternalServerError',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalFailure',
  'TimeoutError',
  'AbortError',
  'RequestTimeout',
  'RequestTimeoutException',
]);

/**
 * Whether an AWS SDK error is transient: throttling (by name, the SDK's `$retryable.throttling`, or
 * HTTP 429), a server fault (5xx or `$fault: 'server'`), a timeout, or a failure to reach the service
 * at all (no HTTP response and a Node error code such as `ECONNREFUSED`).
 */
export function isTransientAwsError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = awsErrorOf(err);
  const status = e.$metadata?.httpStatusCode;
  if (TRANSIENT.has(e.name ?? '') || e.$retryable?.throttling === true || status === 429) return true;
  if ((status !== undefined && status >= 500) || e.$fault === 'server') return true;
  return status === undefined && e.$fault === undefined && typeof e.code === 'string';
}
