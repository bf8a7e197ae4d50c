/**
 * The source limiter against real components: a local API that enforces its rate limit and says so
 * in its headers, and Debian's redis-server (src/local/redis.ts) for the budget shared by two tasks.
 * Budgets are upper bounds counted per window of arrivals at the API (no timing assertions).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { limitedGet, maxPerWindow, startRateUpstream } from '../../../test/support/rate-upstream.js';
import { type LocalRedis, startRedis } from '../../local/redis.js';
import { silentLogger } from '../../log.js';
import { mask } from '../../secrets/index.js';
import { RateLimitSchema } from './config.js';
import { createSourceLimiter, type SourceLimiter } from './limiter.js';

let redis: LocalRedis;
beforeAll(async () => {
  redis = await startRedis();
}, 30_000);
afterAll(async () => {
  await redis?.stop();
});

const get = (limiter: SourceLimiter, url: string) => limitedGet(limiter, url);

describe('createSourceLimiter', () => {
  it('two tasks sharing one Redis budget stay within it together', async () => {
    const api = await startRateUpstream({ limit: Number.POSITIVE_INFINITY });
    const rateLimit = RateLimitSchema.parse({ requestsPerSec: 5, burst: 2, maxConcurrent: 2, shared: true });
    // Two tasks: two limiters of one source on two separate Redis connections (two URLs of one server).
    const tasks = [`redis://127.0.0.1:${redis.port}`, `redis://localhost:${redis.port}`].map((url) =>
      createSourceLimiter({
        source: 'shared.budget',
        rateLimit,
        logger: silentLogger,
        env: { INGEST_REDIS_URL: url },
      }),
    );
    try {
      await Promise.all(tasks.flatMap((t) => Array.from({ length: 8 }, () => get(t, api.url))));
      expect(api.arrivals).toHaveLength(16);
      // A token bucket lets at most burst + rate × 1 s through in any 1 s, whichever task asks.
      expect(maxPerWindow(api.arrivals, 1000)).toBeLessThanOrEqual(2 + 5);
    } finally {
      await Promise.all(tasks.map((t) => t.stop()));
      await api.close();
    }
  }, 30_000);

  it.each([
    ['X-RateLimit-Limit/-Remaining/-Reset', 'x'],
    ['IETF RateLimit and RateLimit-Policy', 'ietf'],
  ] as const)(
    'slows down from %s headers before the API answers 429',
    async (_name, headers) => {
      const api = await startRateUpstream({ limit: 3, headers });
      // Burst 2: once the pace changed, the bucket must still refill (bottleneck's local heartbeat).
      const rateLimit = RateLimitSchema.parse({
        requestsPerSec: 50,
        burst: 2,
        maxConcurrent: 1,
        headerReserve: 0,
      });
      const limiter = createSourceLimiter({ source: `headers.${headers}`, rateLimit, logger: silentLogger });
      try {
        for (let i = 0; i < 8; i++) await get(limiter, api.url);
        expect(api.rejected).toBe(0);
        expect(api.arrivals).toHaveLength(8);
        expect(limiter.paceMs()).toBeGreaterThan(0);
      } finally {
        await limiter.stop();
        await api.close();
      }
    },
    30_000,
  );

  it('refuses shared without a Redis URL, and masks the URL password', () => {
    const rateLimit = RateLimitSchema.parse({ shared: true, redisUrlEnv: 'BUDGET_REDIS' });
    expect(() => createSourceLimiter({ source: 's', rateLimit, logger: silentLogger, env: {} })).toThrow(
      /BUDGET_REDIS/,
    );
    const limiter = createSourceLimiter({
      source: 's',
      rateLimit,
      logger: silentLogger,
      env: { BUDGET_REDIS: `redis://:hunter2secret@127.0.0.1:${redis.port}` },
    });
    expect(mask('auth hunter2secret')).toBe('auth ***');
    return limiter.stop();
  });
});
