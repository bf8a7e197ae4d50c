import { describe, expect, it } from 'vitest';
import { IngestError } from '../errors.js';
import {
  backoffDelayMs,
  equalJitterDelayMs,
  fullJitterDelayMs,
  sleepUntilAborted,
  withRetry,
} from './index.js';

const retriable = () => new IngestError('try again', 'network', { retriable: true });

describe('retry module', () => {
  it('full jitter stays within [0, min(max, base * 2^retryIndex)], also for huge attempt counts', () => {
    expect(backoffDelayMs(0, { baseDelayMs: 100, maxDelayMs: 10_000 }, () => 0.999)).toBe(99);
    expect(backoffDelayMs(3, { baseDelayMs: 100, maxDelayMs: 10_000 }, () => 0.5)).toBe(400);
    expect(fullJitterDelayMs(4, 100, 10_000, () => 0.5)).toBe(400);
    // Unlimited retries: attempt 5000 must not overflow to NaN or Infinity.
    expect(fullJitterDelayMs(5_000, 100, 10_000, () => 0.5)).toBe(5_000);
    expect(fullJitterDelayMs(5_000, 0, 10_000, () => 0.5)).toBe(0);
  });

  it('equal jitter never goes below half the ceiling', () => {
    expect(equalJitterDelayMs(2, 100, 10_000, () => 0)).toBe(200);
    expect(equalJitterDelayMs(2, 100, 10_000, () => 1)).toBe(400);
  });

  it('withRetry retries retriable errors up to maxAttempts, honours a requested delay, stops at a non-retriable one', async () => {
    const delays: number[] = [];
    let calls = 0;
    const result = await withRetry(
      async () => {
        calls++;
        if (calls < 3) throw retriable();
        return 'ok';
      },
      {
        policy: { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 1_000 },
        random: () => 0.5,
        sleep: async (ms) => void delays.push(ms),
        requestedDelayMs: () => (calls === 1 ? 5_000 : undefined),
      },
    );
    expect(result).toBe('ok');
    // The first delay was requested (5 s, capped at maxDelayMs); the second is the backoff.
    expect(delays).toEqual([1_000, 100]);
    await expect(
      withRetry(
        async () => {
          throw new IngestError('bad input', 'config');
        },
        { policy: { maxAttempts: 5, baseDelayMs: 1, maxDelayMs: 1 }, sleep: async () => undefined },
      ),
    ).rejects.toThrow('bad input');
  });

  it('an abort during a backoff rejects with the configured error; sleepUntilAborted rejects with the reason', async () => {
    const ac = new AbortController();
    const p = withRetry(
      async () => {
        throw retriable();
      },
      {
        policy: { maxAttempts: 5, baseDelayMs: 60_000, maxDelayMs: 60_000 },
        random: () => 0.9,
        signal: ac.signal,
        abortError: (cause) => new Error('stopped', { cause }),
      },
    );
    // Once the backoff has begun.
    await new Promise((r) => setTimeout(r, 20));
    ac.abort();
    await expect(p).rejects.toThrow('stopped');
    const ac2 = new AbortController();
    const s = sleepUntilAborted(60_000, ac2.signal);
    ac2.abort('abandon');
    await expect(s).rejects.toBe('abandon');
  });
});
