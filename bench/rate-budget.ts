/**
 * Rate-budget benchmark (issue 10, item 3; ADR 0012). Prints requests per window against a budget:
 * 1. one source against a local API that allows 3 requests per 1 s window and says so in
 *    `X-RateLimit-*` (or IETF `RateLimit`) headers, the source's own bucket set well above it
 *    (20/s): with and without reading the headers, counting 429s;
 * 2. two processes polling one source with a 5/s bucket (burst 5), each as fast as it can, against
 *    an unlimited API: the most requests in any 1 s window, with the budget in Redis (shared) and
 *    without (each process its own bucket).
 *
 * Run: `node --import ./deploy/cdk/register.mjs bench/rate-budget.ts` (needs redis-server: make tools).
 */
import { spawn } from 'node:child_process';
import { startRedis } from '../src/local/redis.js';
import { silentLogger } from '../src/log.js';
import { RateLimitSchema } from '../src/pollers/http/config.js';
import { sharedAgent } from '../src/pollers/http/fetch.js';
import { createSourceLimiter, type SourceLimiter } from '../src/pollers/http/limiter.js';
import { limitedGet, maxPerWindow, startRateUpstream } from '../test/support/rate-upstream.js';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 24);

async function get(limiter: SourceLimiter, url: string, headers: boolean): Promise<number> {
  try {
    return (await limitedGet(limiter, url, headers)).status;
  } catch (err) {
    return (err as { status?: number }).status ?? -1;
  }
}

/** Child mode: one "task" firing REQUESTS requests through a limiter, then exiting. */
async function child(url: string, shared: boolean): Promise<void> {
  const rateLimit = RateLimitSchema.parse({ requestsPerSec: 5, burst: 5, maxConcurrent: 5, shared });
  const limiter = createSourceLimiter({ source: 'bench.shared', rateLimit, logger: silentLogger });
  await Promise.all(Array.from({ length: REQUESTS }, () => get(limiter, url, false)));
  await limiter.stop();
  await sharedAgent(5_000).close();
}

async function headerCase(style: 'x' | 'ietf', headers: boolean, reserve: number): Promise<string> {
  const api = await startRateUpstream({ limit: 3, headers: style });
  const rateLimit = RateLimitSchema.parse({
    requestsPerSec: 20,
    burst: 20,
    maxConcurrent: 2,
    headerReserve: reserve,
  });
  const limiter = createSourceLimiter({
    source: `bench.${style}.${headers}.${reserve}`,
    rateLimit,
    logger: silentLogger,
  });
  const started = Date.now();
  const statuses = await Promise.all(Array.from({ length: REQUESTS }, () => get(limiter, api.url, headers)));
  const secs = (Date.now() - started) / 1000;
  await limiter.stop();
  await api.close();
  const ok = statuses.filter((s) => s === 200).length;
  return `budget 3/s (${style} headers), bucket 20/s, ${headers ? `headers read, headerReserve ${reserve}` : 'headers ignored'}: ${REQUESTS} requests, max ${maxPerWindow(api.arrivals, 1000)} per 1 s window, ${api.rejected} x 429, ${ok} x 200, ${(ok / secs).toFixed(2)} ok/s`;
}

async function sharedCase(shared: boolean, redisUrl: string): Promise<string> {
  const api = await startRateUpstream({ limit: Number.POSITIVE_INFINITY });
  const kids = [0, 1].map(
    () =>
      new Promise<void>((resolve, reject) => {
        const p = spawn(
          process.execPath,
          [...process.execArgv, import.meta.filename, '--child', api.url, String(shared)],
          { env: { ...process.env, INGEST_REDIS_URL: redisUrl }, stdio: ['ignore', 'inherit', 'inherit'] },
        );
        p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`child exited ${code}`))));
      }),
  );
  await Promise.all(kids);
  await api.close();
  const t = [...api.arrivals].sort((a, b) => a - b);
  const secs = (t.at(-1)! - t[0]!) / 1000;
  return `2 processes x ${REQUESTS} requests, bucket 5/s burst 5 each, ${shared ? 'shared in Redis' : 'not shared'}: max ${maxPerWindow(api.arrivals, 1000)} per 1 s window, ${(t.length / secs).toFixed(2)} req/s overall`;
}

if (process.argv[2] === '--child') {
  await child(process.argv[3]!, process.argv[4] === 'true');
} else {
  for (const [style, headers, reserve] of [
    ['x', false, 0],
    ['x', true, 0],
    ['x', true, 1],
    ['ietf', true, 0],
  ] as const) {
    console.log(await headerCase(style, headers, reserve));
  }
  const redis = await startRedis();
  try {
    console.log(await sharedCase(false, redis.url));
    console.log(await sharedCase(true, redis.url));
  } finally {
    await redis.stop();
  }
  await sharedAgent(5_000).close();
}
