import { describe, expect, it } from 'vitest';
import { ensureActive } from './ensure.js';
import { BootstrapError } from './errors.js';

const awsError = (name: string, status = 400) =>
  Object.assign(new Error(`${name} says no`), { name, $metadata: { httpStatusCode: status } });

/** A resource whose describe answers the listed states one after another (the last one forever). */
function resource(states: (string | Error)[]) {
  const calls = { describe: 0, create: 0 };
  return {
    calls,
    r: {
      what: 'thing t',
      url: 'http://127.0.0.1:1',
      describe: async () => {
        const s = states[Math.min(calls.describe++, states.length - 1)]!;
        if (s instanceof Error) throw s;
        return { Status: s };
      },
      create: async () => {
        calls.create++;
      },
      stateOf: (d: { Status: string } | undefined) => d?.Status,
      waitMs: 5_000,
    },
  };
}

describe('ensureActive', () => {
  it('creates a missing resource, then waits until it is ACTIVE', async () => {
    const { r, calls } = resource([awsError('ResourceNotFoundException'), 'CREATING', 'ACTIVE']);
    const done = await ensureActive(r);
    expect(done).toEqual({ status: 'created', description: { Status: 'ACTIVE' }, state: 'ACTIVE' });
    expect(calls.create).toBe(1);
  });

  it('counts a resource created meanwhile (ResourceInUseException) or already there as existing', async () => {
    const raced = resource([awsError('ResourceNotFoundException'), 'ACTIVE']);
    raced.r.create = async () => {
      throw awsError('ResourceInUseException');
    };
    expect((await ensureActive(raced.r)).status).toBe('exists');
    const there = resource(['UPDATING']);
    expect(await ensureActive({ ...there.r, readyStates: ['ACTIVE', 'UPDATING'] })).toMatchObject({
      status: 'exists',
      state: 'UPDATING',
    });
    expect(there.calls.create).toBe(0);
  });

  it('reports an API the endpoint lacks as skipped, and fails with a BootstrapError otherwise', async () => {
    const { r } = resource([awsError('NotImplementedException', 501)]);
    expect(await ensureActive(r)).toEqual({
      status: 'skipped',
      detail: 'unsupported by endpoint: NotImplementedException: NotImplementedException says no',
    });
    const denied = resource([awsError('AccessDeniedException', 403)]);
    const err = await ensureActive(denied.r).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BootstrapError);
    expect((err as BootstrapError).message).toMatch(
      /^thing t at http:\/\/127\.0\.0\.1:1 failed: AccessDenied/,
    );
    expect((err as BootstrapError).retriable).toBe(false);
  });

  it('gives up with a retriable timeout when the resource stays CREATING', async () => {
    const { r } = resource(['CREATING']);
    const err = await ensureActive({ ...r, waitMs: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BootstrapError);
    expect((err as BootstrapError).message).toBe('thing t at http://127.0.0.1:1 is still CREATING after 0 s');
    expect((err as BootstrapError).retriable).toBe(true);
  });
});
