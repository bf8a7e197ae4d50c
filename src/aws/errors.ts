/**
 * What every AWS SDK v3 call site shares to classify a failure: the fields of a service exception
 * (or of a Node network error), whether it is transient, and (see {@link classifyAwsError}) which
 * kind of failure it is, so a permanent one (AccessDenied, NoSuchBucket, a disabled KMS key) gets a
 * failure class an operator can act on. Components add their own service's names (Glue's
 * `ConcurrentRunsExceededException`, Kinesis per-entry codes, ...) on top.
 */
import type { FailureClass } from '../errors.js';

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
  // S3 (Amazon S3 API reference, "Error responses"): 503 SlowDown, 500 InternalError, 409
  // OperationAborted (a conflicting operation on the bucket is in progress).
  'SlowDown',
  'InternalError',
  'OperationAborted',
  // KMS throttling behind an encrypted stream or bucket.
  'KMSThrottlingException',
  'KMS.ThrottlingException',
]);

/**
 * Whether an AWS SDK error is transient: throttling (by name, the SDK's `$retryable.throttling`, or
 * HTTP 429), a server fault (5xx or `$fault: 'server'`), a timeout, or a failure to reach the service
 * at all (no HTTP response and a Node error code such as `ECONNREFUSED`).
 */
export function isTransientAwsError(err: unknown): boolean {
  return classifyAwsError(err).retriable;
}

/**
 * Kinds of AWS failure. Transient (retriable): `throttled`, `server` (5xx), `network` (no response),
 * `timeout`. Permanent (not retriable: the same call fails until an operator fixes something):
 * `access_denied` (IAM or bucket policy, bad or missing credentials), `not_found` (no such bucket,
 * table or stream), `kms` (the KMS key behind the resource is disabled, pending deletion, missing or
 * not usable by the caller), `client` (any other 4xx), `unknown` (not an AWS error).
 */
export type AwsFailureKind =
  | 'throttled'
  | 'server'
  | 'network'
  | 'timeout'
  | 'access_denied'
  | 'not_found'
  | 'kms'
  | 'client'
  | 'unknown';

/** What {@link classifyAwsError} says of a failure. */
export interface AwsFailure {
  kind: AwsFailureKind;
  /** Whether the same call may succeed if tried again, unchanged. */
  retriable: boolean;
  /** The failure class to label errors and metrics with. */
  failureClass: FailureClass;
}

/**
 * Access errors across services: S3 `AccessDenied` (403, also for a bucket policy or a missing
 * `kms:GenerateDataKey` grant, see {@link classifyAwsError}), `AllAccessDisabled`, `AccountProblem`,
 * bad credentials (`InvalidAccessKeyId`, `SignatureDoesNotMatch`, `InvalidToken`, `ExpiredToken`,
 * `UnrecognizedClientException`, `InvalidClientTokenId`) and none at all (`CredentialsProviderError`).
 */
const ACCESS_DENIED = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'AllAccessDisabled',
  'AccountProblem',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidToken',
  'ExpiredToken',
  'ExpiredTokenException',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'CredentialsProviderError',
]);

/** A missing resource: S3 `NoSuchBucket` (and HeadBucket's bare `NotFound`), `ResourceNotFoundException`. */
const NOT_FOUND = new Set(['NoSuchBucket', 'NotFound', 'ResourceNotFoundException']);

/**
 * Classifies a failure of an AWS SDK v3 call (or of the network under it).
 * - transient, in this order: a known transient name (throttling, server faults, timeouts, S3
 *   `SlowDown`/`InternalError`/`OperationAborted`, KMS throttling), the SDK's
 *   `$retryable.throttling`, HTTP 429, HTTP 5xx or `$fault: 'server'`, and no HTTP response with a
 *   Node error code (`ECONNREFUSED`, `ECONNRESET`, ...);
 * - permanent: an access error (above), a missing resource, a KMS failure (S3 reports them as
 *   `KMS.DisabledException`, `KMS.KMSInvalidStateException`, `KMS.NotFoundException`...; Kinesis as
 *   `KMSDisabledException`, `KMSInvalidStateException`, `KMSAccessDeniedException`...; an
 *   `AccessDenied` whose message names a `kms:` action or key is a KMS failure too), any other 4xx or
 *   `$fault: 'client'`, and anything that is not an AWS error.
 * @param fallback - the failure class of a non-AWS error (`unknown`). @default 'internal'
 * @example
 * ```ts
 * classifyAwsError(Object.assign(new Error('The specified bucket does not exist'), {
 *   name: 'NoSuchBucket', $fault: 'client', $metadata: { httpStatusCode: 404 },
 * })); // { kind: 'not_found', retriable: false, failureClass: 'not_found' }
 * ```
 */
export function classifyAwsError(err: unknown, fallback: FailureClass = 'internal'): AwsFailure {
  const transient = (kind: AwsFailureKind, failureClass: FailureClass): AwsFailure => ({
    kind,
    retriable: true,
    failureClass,
  });
  const permanent = (kind: AwsFailureKind, failureClass: FailureClass): AwsFailure => ({
    kind,
    retriable: false,
    failureClass,
  });
  if (typeof err !== 'object' || err === null) return permanent('unknown', fallback);
  const e = awsErrorOf(err);
  const name = e.name ?? '';
  const status = e.$metadata?.httpStatusCode;
  if (name === 'TimeoutError' || name === 'AbortError' || /^RequestTimeout/.test(name)) {
    return transient('timeout', 'timeout');
  }
  const throttled =
    e.$retryable?.throttling === true ||
    status === 429 ||
    (TRANSIENT.has(name) && /thrott|limit|too ?many|slowdown|provisioned/i.test(name));
  if (throttled) return transient('throttled', 'throttled');
  if (TRANSIENT.has(name) || (status !== undefined && status >= 500) || e.$fault === 'server') {
    return transient('server', 'http_5xx');
  }
  if (status === undefined && e.$fault === undefined && typeof e.code === 'string') {
    return transient('network', 'network');
  }
  if (/^kms/i.test(name)) return permanent('kms', 'kms');
  if (ACCESS_DENIED.has(name)) {
    return /\bkms[:.]|kms key|arn:aws[\w-]*:kms:/i.test(e.message ?? '')
      ? permanent('kms', 'kms')
      : permanent('access_denied', 'access_denied');
  }
  if (NOT_FOUND.has(name)) return permanent('not_found', 'not_found');
  if ((status !== undefined && status >= 400) || e.$fault === 'client')
    return permanent('client', 'http_4xx');
  return permanent('unknown', fallback);
}
