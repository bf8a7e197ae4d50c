import { describe, expect, it } from 'vitest';
import { IngestError } from '../errors.js';
import { createLogger } from '../log.js';
import { readiness } from '../telemetry/readiness.js';
import { waitUntilReady } from './ready.js';

const down = () => new IngestError('connect ECONNREFUSED', 'network', { retriable: true });

function capture() {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({
    level: 'warn',
    destination: { write: (l: string) => lines.push(JSON.parse(l)) },
  });
  return { log, lines };
}

describe('waitUntilReady', () => {
  it('waits while the dependency is down (not ready with the reason, a warning on the first attempt), then returns its answer', async () => {
    const { log, lines } = capture();
    const reasons: string[] = [];
    const delays: number[] = [];
    let calls = 0;
    const out = await waitUntilReady(
      async () => {
        calls++;
        if (calls < 3) throw down();
        return 'listed';
      },
      {
        readinessKey: 'test:ready',
        log,
        event: 'waiting_for_test',
        fields: { endpoint: 'http://x' },
        waitingFor: 'it',
        reason: (err) => `cannot reach x: ${(err as Error).message}`,
        retry: { baseDelayMs: 10, maxDelayMs: 1_000 },
        sleep: async (ms) => {
          delays.push(ms);
          reasons.push(readiness.list().find((c) => c.key === 'test:ready')?.reason ?? '');
        },
      },
    );
    expect(out).toBe('listed');
    expect(calls).toBe(3);
    expect(reasons).toEqual([
      'starting: cannot reach x: connect ECONNREFUSED; retrying',
      'starting: cannot reach x: connect ECONNREFUSED; retrying',
    ]);
    // The base is raised to 100 ms: full jitter within [0, 100] then [0, 200].
    expect(delays[0]).toBeLessThanOrEqual(100);
    expect(delays[1]).toBeLessThanOrEqual(200);
    expect(readiness.list().some((c) => c.key === 'test:ready')).toBe(false);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      event: 'waiting_for_test',
      attempt: 1,
      class: 'network',
      endpoint: 'http://x',
      msg: 'cannot reach x: connect ECONNREFUSED; waiting for it (not ready meanwhile)',
    });
  });

  it('fails at once on an error retryIf refuses, and with the last failure when stopped', async () => {
    const { log } = capture();
    const base = {
      readinessKey: 'test:ready',
      log,
      event: 'waiting_for_test',
      waitingFor: 'it',
      reason: (err: unknown) => (err as Error).message,
      retry: { baseDelayMs: 10, maxDelayMs: 100 },
    };
    const refused = new IngestError('access denied', 'http_4xx', { retriable: true });
    await expect(
      waitUntilReady(
        async () => {
          throw refused;
        },
        { ...base, retryIf: (err) => (err as IngestError).failureClass !== 'http_4xx' },
      ),
    ).rejects.toBe(refused);

    const stop = new AbortController();
    const last = down();
    await expect(
      waitUntilReady(
        async () => {
          throw last;
        },
        {
          ...base,
          signal: stop.signal,
          sleep: async () => {
            stop.abort();
            throw new Error('aborted');
          },
        },
      ),
    ).rejects.toBe(last);
    expect(readiness.list().some((c) => c.key === 'test:ready')).toBe(false);
  });
});
