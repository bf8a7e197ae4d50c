/**
 * The one AWS error classifier: which failures are transient (retried for as long as it takes) and
 * which are permanent (AccessDenied, NoSuchBucket, KMS failures), with their failure class. The
 * shapes are those of AWS SDK v3 exceptions (`name`, `$fault`, `$metadata.httpStatusCode`,
 * `$retryable`) and Node network errors (`code`); src/lake/s3.test.ts checks the same through the
 * real SDK parsing real S3 error responses.
 */
import { describe, expect, it } from 'vitest';
import { classifyAwsError, isTransientAwsError } from './errors.js';

function sdkError(name: string, status?: number, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(`${name} happened`), {
    name,
    ...(status === undefined
      ? {}
      : { $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status } }),
    ...extra,
  });
}

describe('classifyAwsError', () => {
  it.each([
    ['SlowDown', 503, 'throttled', 'throttled'],
    ['ThrottlingException', 400, 'throttled', 'throttled'],
    ['ProvisionedThroughputExceededException', 400, 'throttled', 'throttled'],
    ['KMSThrottlingException', 400, 'throttled', 'throttled'],
    ['TooManyRequests', 429, 'throttled', 'throttled'],
    ['InternalError', 500, 'server', 'http_5xx'],
    ['ServiceUnavailable', 503, 'server', 'http_5xx'],
    ['SomethingNew', 502, 'server', 'http_5xx'],
    ['OperationAborted', 409, 'server', 'http_5xx'],
    ['RequestTimeout', 400, 'timeout', 'timeout'],
    ['TimeoutError', undefined, 'timeout', 'timeout'],
    ['AbortError', undefined, 'timeout', 'timeout'],
  ])('%s (HTTP %s) is transient: %s, class %s', (name, status, kind, failureClass) => {
    const err = sdkError(name, status);
    expect(classifyAwsError(err)).toEqual({ kind, retriable: true, failureClass });
    expect(isTransientAwsError(err)).toBe(true);
  });

  it('a network failure (no HTTP response, a Node error code) is transient', () => {
    const err = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    expect(classifyAwsError(err)).toEqual({ kind: 'network', retriable: true, failureClass: 'network' });
    expect(
      classifyAwsError(sdkError('Throttling', undefined, { $retryable: { throttling: true } })),
    ).toMatchObject({ kind: 'throttled', retriable: true });
  });

  it.each([
    ['AccessDenied', 403, 'access_denied'],
    ['AccessDeniedException', 400, 'access_denied'],
    ['InvalidAccessKeyId', 403, 'access_denied'],
    ['SignatureDoesNotMatch', 403, 'access_denied'],
    ['ExpiredToken', 400, 'access_denied'],
    ['CredentialsProviderError', undefined, 'access_denied'],
    ['NoSuchBucket', 404, 'not_found'],
    ['NotFound', 404, 'not_found'],
    ['ResourceNotFoundException', 400, 'not_found'],
    ['KMS.DisabledException', 400, 'kms'],
    ['KMS.KMSInvalidStateException', 400, 'kms'],
    ['KMS.NotFoundException', 400, 'kms'],
    ['KMSDisabledException', 400, 'kms'],
    ['KMSInvalidStateException', 400, 'kms'],
    ['KMSAccessDeniedException', 400, 'kms'],
    ['KMSNotFoundException', 400, 'kms'],
    ['InvalidArgument', 400, 'client'],
    ['InvalidBucketName', 400, 'client'],
  ])('%s (HTTP %s) is permanent: %s', (name, status, kind) => {
    const err = sdkError(name, status);
    const failureClass = kind === 'client' ? 'http_4xx' : kind;
    expect(classifyAwsError(err)).toEqual({ kind, retriable: false, failureClass });
    expect(isTransientAwsError(err)).toBe(false);
  });

  it('an AccessDenied on the KMS key behind a bucket is a KMS failure', () => {
    const err = Object.assign(sdkError('AccessDenied', 403), {
      message:
        'User: arn:aws:sts::123456789012:assumed-role/consume/task is not authorized to perform: kms:GenerateDataKey on resource: arn:aws:kms:eu-west-1:123456789012:key/abcd',
    });
    expect(classifyAwsError(err)).toEqual({ kind: 'kms', retriable: false, failureClass: 'kms' });
    expect(classifyAwsError(sdkError('AccessDenied', 403))).toMatchObject({ kind: 'access_denied' });
  });

  it('anything that is not an AWS error is permanent with the fallback class', () => {
    expect(classifyAwsError(new Error('boom'))).toEqual({
      kind: 'unknown',
      retriable: false,
      failureClass: 'internal',
    });
    expect(classifyAwsError('a string', 'storage')).toEqual({
      kind: 'unknown',
      retriable: false,
      failureClass: 'storage',
    });
    expect(isTransientAwsError(undefined)).toBe(false);
  });
});
