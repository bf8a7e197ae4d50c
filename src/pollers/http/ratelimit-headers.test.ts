import { describe, expect, it } from 'vitest';
import { parseRateLimitHeaders } from './ratelimit-headers.js';

const NOW = Date.parse('2026-12-05T06:00:00Z');

describe('parseRateLimitHeaders', () => {
  it('reads X-RateLimit-* with a delta or an epoch reset', () => {
    expect(
      parseRateLimitHeaders(
        { 'x-ratelimit-limit': '60', 'x-ratelimit-remaining': '3', 'x-ratelimit-reset': '2' },
        NOW,
      ),
    ).toEqual({ limit: 60, remaining: 3, resetMs: 2000 });
    expect(parseRateLimitHeaders({ 'x-ratelimit-reset': String(NOW / 1000 + 30) }, NOW)).toEqual({
      resetMs: 30_000,
    });
  });

  it('reads the IETF structured fields (draft 08+), the dictionary form and the separate fields', () => {
    expect(
      parseRateLimitHeaders(
        { ratelimit: '"default";r=5;t=10', 'ratelimit-policy': '"default";q=100;w=60' },
        NOW,
      ),
    ).toEqual({ remaining: 5, resetMs: 10_000, limit: 100, windowMs: 60_000 });
    expect(
      parseRateLimitHeaders(
        { ratelimit: 'limit=10, remaining=4, reset=7', 'ratelimit-policy': '10;w=1' },
        NOW,
      ),
    ).toEqual({ limit: 10, remaining: 4, resetMs: 7000, windowMs: 1000 });
    expect(
      parseRateLimitHeaders(
        { 'ratelimit-limit': '9', 'ratelimit-remaining': '0', 'ratelimit-reset': '1' },
        NOW,
      ),
    ).toEqual({ limit: 9, remaining: 0, resetMs: 1000 });
  });

  it('reads Retry-After and ignores what it cannot parse', () => {
    expect(parseRateLimitHeaders({ 'retry-after': '3', 'x-ratelimit-remaining': 'many' }, NOW)).toEqual({
      retryAfterMs: 3000,
    });
    expect(parseRateLimitHeaders({}, NOW)).toEqual({});
  });
});
