import { describe, expect, it } from 'vitest';
import { IngestError, isRetriable } from '../../errors.js';
import {
  classifyEntryError,
  classifyKinesisError,
  InvalidPartitionKeyError,
  ProducerError,
  PutRecordsError,
  RecordTooLargeError,
  ThrottledError,
} from './errors.js';
import { awsError } from './testing.js';

describe('classifyKinesisError', () => {
  it.each([
    ['ProvisionedThroughputExceededException', 400, true, 'throttled'],
    ['KMSThrottlingException', 400, true, 'throttled'],
    ['LimitExceededException', 400, true, 'throttled'],
    ['InternalFailureException', 500, true, 'http_5xx'],
    ['ServiceUnavailable', 503, true, 'http_5xx'],
    ['SomethingNew', 502, true, 'http_5xx'],
    // An unusable stream, permission or key is a dependency an operator fixes: held and retried.
    ['ResourceNotFoundException', 400, true, 'http_4xx'],
    ['AccessDeniedException', 400, true, 'http_4xx'],
    ['KMSAccessDeniedException', 400, true, 'http_4xx'],
    ['KMSDisabledException', 400, true, 'http_4xx'],
    ['SomethingElse', 403, true, 'http_4xx'],
    // An invalid request can never succeed.
    ['ValidationException', 400, false, 'http_4xx'],
    ['InvalidArgumentException', 400, false, 'http_4xx'],
    ['ExpiredTokenException', 400, true, 'http_4xx'],
    ['InvalidSignatureException', 400, true, 'http_4xx'],
  ])('%s (HTTP %i) → retriable %s, class %s', (name, status, retriable, failureClass) => {
    const e = classifyKinesisError(awsError(name, status));
    expect(e).toBeInstanceOf(ProducerError);
    expect(e).toBeInstanceOf(IngestError);
    expect(e.retriable).toBe(retriable);
    expect(isRetriable(e)).toBe(retriable);
    expect(e.failureClass).toBe(failureClass);
    expect(e.code).toBe(name);
    expect(e.message).toContain(name);
  });

  it('retries a credential provider failure (no HTTP response: ECS/IMDS endpoint hiccup)', () => {
    const err = Object.assign(new Error('Could not load credentials from any providers'), {
      name: 'CredentialsProviderError',
    });
    expect(classifyKinesisError(err).retriable).toBe(true);
  });

  it('treats throttling as ThrottledError', () => {
    expect(classifyKinesisError(awsError('ProvisionedThroughputExceededException'))).toBeInstanceOf(
      ThrottledError,
    );
    expect(classifyKinesisError(awsError('ResourceNotFoundException'))).toBeInstanceOf(PutRecordsError);
  });

  it('retries network errors and timeouts', () => {
    const refused = classifyKinesisError(
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
    );
    expect([refused.retriable, refused.failureClass]).toEqual([true, 'network']);
    const reset = classifyKinesisError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    expect([reset.retriable, reset.failureClass]).toEqual([true, 'network']);
    const abort = classifyKinesisError(
      Object.assign(new Error('The operation was aborted'), { name: 'AbortError' }),
    );
    expect([abort.retriable, abort.failureClass]).toEqual([true, 'timeout']);
    const timeout = classifyKinesisError(Object.assign(new Error('timed out'), { name: 'TimeoutError' }));
    expect([timeout.retriable, timeout.failureClass]).toEqual([true, 'timeout']);
  });

  it('never retries programmer errors or unknown errors', () => {
    const t = classifyKinesisError(new TypeError('x is not a function'));
    expect([t.retriable, t.failureClass]).toEqual([false, 'internal']);
    expect(classifyKinesisError(new RangeError('bad')).retriable).toBe(false);
    expect(classifyKinesisError(new Error('mystery')).retriable).toBe(false);
    expect(classifyKinesisError('a string').retriable).toBe(false);
  });

  it('returns producer errors unchanged', () => {
    const e = new ThrottledError('slow down');
    expect(classifyKinesisError(e)).toBe(e);
  });
});

describe('classifyEntryError', () => {
  it('retries throttled, internal and KMS-refused entries; not invalid ones', () => {
    const t = classifyEntryError('ProvisionedThroughputExceededException', 'Rate exceeded for shard');
    expect(t).toBeInstanceOf(ThrottledError);
    expect(t.message).toBe('ProvisionedThroughputExceededException: Rate exceeded for shard');
    expect(classifyEntryError('InternalFailure')).toMatchObject({
      retriable: true,
      failureClass: 'http_5xx',
    });
    expect(classifyEntryError('KMSAccessDeniedException')).toMatchObject({
      retriable: true,
      failureClass: 'http_4xx',
    });
    expect(classifyEntryError('ValidationException')).toMatchObject({
      retriable: false,
      failureClass: 'http_4xx',
    });
  });
});

describe('record errors', () => {
  it('name the sizes and the limit', () => {
    const e = new RecordTooLargeError(1_048_580, 1_048_570, 10, 1_048_576);
    expect(e.message).toContain('1048580 bytes');
    expect(e.message).toContain('1048576 bytes');
    expect([e.retriable, e.failureClass, e.name]).toEqual([false, 'record_too_large', 'RecordTooLargeError']);
    const k = new InvalidPartitionKeyError(300);
    expect([k.retriable, k.name]).toEqual([false, 'InvalidPartitionKeyError']);
    expect(k.message).toContain('1-256');
  });
});
