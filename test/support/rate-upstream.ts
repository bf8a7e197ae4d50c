/**
 * A local API that enforces a rate limit the way real ones do, for the rate-budget tests and the
 * budget benchmark: a fixed window of `windowMs` allowing `limit` requests; each response carries
 * `X-RateLimit-Limit/-Remaining/-Reset` (delta seconds) or the IETF `RateLimit`/`RateLimit-Policy`
 * fields, and a request over the limit gets 429 with `Retry-After`. Every request's arrival time is
 * recorded, so a test can count requests per window.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type FetchedPage, fetchJson, sharedAgent } from '../../src/pollers/http/fetch.js';
import type { SourceLimiter } from '../../src/pollers/http/limiter.js';

/** One GET through a source limiter, feeding the response's rate-limit headers back unless `readHeaders` is false. */
export function limitedGet(limiter: SourceLimiter, url: string, readHeaders = true): Promise<FetchedPage> {
  return limiter.schedule(url, () =>
    fetchJson(
      { url, method: 'GET', headers: {} },
      {
        dispatcher: sharedAgent(5_000),
        headersTimeoutMs: 5_000,
        bodyTimeoutMs: 5_000,
        requestTimeoutMs: 5_000,
        maxResponseBytes: 1_000_000,
        ...(readHeaders ? { onRateLimit: (info) => limiter.observe(info) } : {}),
      },
    ),
  );
}

export interface RateUpstream {
  server: Server;
  url: string;
  /** Arrival times (epoch ms) of every request. */
  arrivals: number[];
  /** Requests answered 429. */
  rejected: number;
  close(): Promise<void>;
}

export interface RateUpstreamOptions {
  /** Requests allowed per window; `Infinity` for no limit and no headers. */
  limit: number;
  /** @default 1000 */
  windowMs?: number;
  /** Header style. @default 'x' */
  headers?: 'x' | 'ietf' | 'none';
  /** Response body. @default `[]` */
  body?: string;
}

/** The largest number of arrivals within any `windowMs`-long interval (a sliding window). */
export function maxPerWindow(arrivals: number[], windowMs: number): number {
  const t = [...arrivals].sort((a, b) => a - b);
  let best = 0;
  let lo = 0;
  for (let hi = 0; hi < t.length; hi++) {
    while (t[hi]! - t[lo]! >= windowMs) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

export async function startRateUpstream(options: RateUpstreamOptions): Promise<RateUpstream> {
  const windowMs = options.windowMs ?? 1000;
  const style = options.headers ?? 'x';
  let windowStart = Date.now();
  let used = 0;
  const u = { arrivals: [] as number[], rejected: 0 } as RateUpstream;
  u.server = createServer((req, res) => {
    req.resume();
    const now = Date.now();
    u.arrivals.push(now);
    if (now - windowStart >= windowMs) {
      windowStart += Math.floor((now - windowStart) / windowMs) * windowMs;
      used = 0;
    }
    used++;
    const resetSecs = Math.max(0, Math.ceil((windowStart + windowMs - now) / 1000));
    const remaining = Math.max(0, options.limit - used);
    if (Number.isFinite(options.limit) && style === 'x') {
      res.setHeader('x-ratelimit-limit', String(options.limit));
      res.setHeader('x-ratelimit-remaining', String(remaining));
      res.setHeader('x-ratelimit-reset', String(resetSecs));
    } else if (Number.isFinite(options.limit) && style === 'ietf') {
      res.setHeader('ratelimit-policy', `"default";q=${options.limit};w=${Math.ceil(windowMs / 1000)}`);
      res.setHeader('ratelimit', `"default";r=${remaining};t=${resetSecs}`);
    }
    if (used > options.limit) {
      u.rejected++;
      res.statusCode = 429;
      res.setHeader('retry-after', String(Math.max(1, resetSecs)));
      res.end('{"error":"rate limited"}');
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.end(options.body ?? '[]');
  });
  await new Promise<void>((r) => u.server.listen(0, '127.0.0.1', r));
  u.url = `http://127.0.0.1:${(u.server.address() as AddressInfo).port}/items`;
  u.close = () =>
    new Promise<void>((r) => {
      u.server.closeAllConnections();
      u.server.close(() => r());
    });
  return u;
}
