/**
 * The one place a source's request limiter is built ({@link createSourceLimiter}):
 * - a token bucket per source (bottleneck reservoir: `burst` tokens refilled at `requestsPerSec`,
 *   at most `maxConcurrent` in flight);
 * - a concurrency cap per host (`maxConcurrentPerHost`), shared by every source of this process
 *   that calls that host;
 * - with `shared: true`, both live in Redis (bottleneck's `ioredis` datastore, the URL from the
 *   environment variable `redisUrlEnv`), so every task polling the source spends one budget
 *   together (issue 10; ADR 0012);
 * - the API's own rate-limit headers ({@link parseRateLimitHeaders}) slow the source down before
 *   it answers 429: with `remaining` requests left until `reset`, requests are spaced
 *   `reset / (remaining - reserve)` apart (bottleneck `minTime`, shared through Redis too), and when
 *   nothing is left, requests wait until the window resets. (`Retry-After` is honoured by the retry
 *   of the request that received it, in `fetch.ts`.)
 *
 * @module
 */
import { setTimeout as delay } from 'node:timers/promises';
import Bottleneck from 'bottleneck';
import { ConfigError, describeError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { registerSecret } from '../../secrets/index.js';
import {
  sourceRateLimitLimit,
  sourceRateLimitRemaining,
  sourceRateLimitResetSeconds,
  sourceRateLimitSlowdownsTotal,
} from '../../telemetry/sources.js';
import type { HttpSourceConfig } from './config.js';
import type { RateLimitInfo } from './ratelimit-headers.js';
import { sourceLimiterQueued } from './telemetry.js';

/** The `rateLimit` block of a source's config. */
export type RateLimitConfig = HttpSourceConfig['rateLimit'];

/** A source's limiter: every request of the source goes through {@link SourceLimiter.schedule}. */
export interface SourceLimiter {
  /** Runs `fn` once the source's bucket, the host's cap and the API's headers allow it. */
  schedule<T>(url: string, fn: () => Promise<T>): Promise<T>;
  /** Feeds what a response's headers said about the API's budget (see {@link parseRateLimitHeaders}). */
  observe(info: RateLimitInfo): void;
  /** Current spacing between request starts, in milliseconds (0: only the token bucket limits). */
  paceMs(): number;
  /** Requests waiting in the source's limiter. */
  queued(): number;
  /** Stops the limiter; waiting requests are dropped. Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@link createSourceLimiter}. */
export interface SourceLimiterOptions {
  /** Source name: the limiter id (`ingest:source:<name>` in Redis) and the metric label. */
  source: string;
  rateLimit: RateLimitConfig;
  logger: Logger;
  /** Where `redisUrlEnv` is read. @default process.env */
  env?: Record<string, string | undefined>;
  /** Aborts waits for the API's window to reset. */
  signal?: AbortSignal;
  /** Clock, epoch ms. @default Date.now */
  now?: () => number;
}

/**
 * The bottleneck options of a token bucket: `burst` tokens, refilled at `requestsPerSec`, at most
 * `maxConcurrent` requests in flight. The refill runs on bottleneck's heartbeat, every
 * `max(50, 1000 / requestsPerSec)` ms.
 */
export function limiterOptions(
  rateLimit: Pick<RateLimitConfig, 'requestsPerSec' | 'burst' | 'maxConcurrent'>,
  id: string,
): Bottleneck.ConstructorOptions {
  const tickMs = Math.max(50, Math.round(1000 / rateLimit.requestsPerSec));
  return {
    id,
    maxConcurrent: rateLimit.maxConcurrent,
    reservoir: rateLimit.burst,
    reservoirIncreaseAmount: (rateLimit.requestsPerSec * tickMs) / 1000,
    reservoirIncreaseInterval: tickMs,
    reservoirIncreaseMaximum: rateLimit.burst,
    heartbeatInterval: tickMs,
  };
}

/** `updateSettings` returns a promise (bottleneck 2.19's typings say `Bottleneck`). */
const updateSettings = (b: Bottleneck, o: Bottleneck.ConstructorOptions): Promise<unknown> =>
  Promise.resolve(b.updateSettings(o) as unknown);

/** A reference-counted resource shared by the sources of this process. */
interface Shared<T> {
  value: T;
  refs: number;
}

/** A per-host concurrency cap: `schedule(fn)` runs `fn` once fewer than the cap are running. */
interface HostCap {
  schedule<T>(fn: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** The in-process cap: a counting semaphore (no timers, so it adds no turns to a request). */
function localCap(max: number): HostCap {
  let running = 0;
  const waiting: (() => void)[] = [];
  return {
    async schedule<T>(fn: () => Promise<T>): Promise<T> {
      if (running >= max) await new Promise<void>((r) => waiting.push(r));
      else running++;
      try {
        return await fn();
      } finally {
        const next = waiting.shift();
        if (next) next();
        else running--;
      }
    },
    close: async () => undefined,
  };
}

/** The cap shared by every task through Redis: a bottleneck with only `maxConcurrent`. */
function redisCap(
  id: string,
  max: number,
  connection: Bottleneck.IORedisConnection,
  onError: (e: unknown) => void,
): HostCap {
  const b = new Bottleneck({ id, maxConcurrent: max, ...datastore(connection) });
  b.on('error', onError);
  return {
    schedule: (fn) => b.schedule(fn),
    close: () => Promise.resolve(b.disconnect() as unknown).then(() => undefined),
  };
}

const connections = new Map<string, Shared<Bottleneck.IORedisConnection>>();
const hosts = new Map<string, Shared<HostCap> & { cap: number }>();

/** One ioredis connection (plus its subscriber) per Redis URL, shared by every limiter of this process. */
function redisConnection(url: string, log: Logger): Shared<Bottleneck.IORedisConnection> {
  let c = connections.get(url);
  if (c === undefined) {
    const value = new Bottleneck.IORedisConnection({ clientOptions: redisClientOptions(url) });
    value.on('error', (err: unknown) =>
      log.error({ err: describeError(err) }, 'Redis rate-budget connection error.'),
    );
    c = { value, refs: 0 };
    connections.set(url, c);
  }
  c.refs++;
  return c;
}

/** ioredis options from a `redis://[user:password@]host:port[/db]` or `rediss://` URL. */
function redisClientOptions(url: string): Record<string, unknown> {
  const u = new URL(url);
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new ConfigError(`rate budget Redis URL must be redis:// or rediss://, not ${u.protocol}`);
  }
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.pathname.length > 1 ? { db: Number(u.pathname.slice(1)) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

function release<T>(
  map: Map<string, Shared<T>>,
  key: string,
  close: (v: T) => Promise<unknown>,
): Promise<void> {
  const s = map.get(key);
  if (s === undefined) return Promise.resolve();
  if (--s.refs > 0) return Promise.resolve();
  map.delete(key);
  return close(s.value).then(
    () => undefined,
    () => undefined,
  );
}

/** The Redis datastore options for limiter `id`, or `{}` when not shared. */
function datastore(connection: Bottleneck.IORedisConnection | undefined): Bottleneck.ConstructorOptions {
  return connection === undefined ? {} : { datastore: 'ioredis', connection, clearDatastore: false };
}

/**
 * Builds the limiter of one source. Every request of the source must go through it; nothing else
 * builds a source's bottleneck.
 *
 * @throws ConfigError when `shared` is set and the environment variable `redisUrlEnv` is unset, or
 *   its URL is not `redis://`/`rediss://`. The URL's password is registered as a secret (masked).
 * @example
 * ```ts
 * const limiter = createSourceLimiter({ source: 'github.issues', rateLimit, logger });
 * const page = await limiter.schedule(url, () => fetchJson(...));
 * ```
 */
export function createSourceLimiter(options: SourceLimiterOptions): SourceLimiter {
  const { source, rateLimit } = options;
  const log = options.logger;
  const now = options.now ?? Date.now;
  let redisUrl: string | undefined;
  if (rateLimit.shared) {
    redisUrl = (options.env ?? process.env)[rateLimit.redisUrlEnv];
    if (redisUrl === undefined || redisUrl === '') {
      throw new ConfigError(
        `source ${source}: rateLimit.shared needs a Redis URL in environment variable ${rateLimit.redisUrlEnv}`,
      );
    }
    try {
      const u = new URL(redisUrl);
      registerSecret(decodeURIComponent(u.password));
    } catch {
      throw new ConfigError(`source ${source}: ${rateLimit.redisUrlEnv} is not a URL`);
    }
  }
  const conn = redisUrl === undefined ? undefined : redisConnection(redisUrl, log);
  const limiter = new Bottleneck({
    ...limiterOptions(rateLimit, `ingest:source:${source}`),
    ...datastore(conn?.value),
  });
  const onError = (what: string) => (err: unknown) =>
    log.error({ err: describeError(err) }, `${what} rate limiter error.`);
  limiter.on('error', onError('Source'));
  if (conn !== undefined) {
    // A task joining later brings its own config: the bucket's shape follows the newest config,
    // but its tokens are not reset (that would hand every joining task a fresh burst).
    const { reservoir: _tokens, id: _id, ...shape } = limiterOptions(rateLimit, '');
    limiter
      .ready()
      .then(() => updateSettings(limiter, shape))
      .catch(onError('Source'));
  }
  const updateQueued = (): void => {
    sourceLimiterQueued.set({ source }, limiter.queued());
  };
  limiter.on('queued', updateQueued);
  limiter.on('executing', updateQueued);
  limiter.on('done', updateQueued);
  updateQueued();

  const hostKeys = new Set<string>();
  const hostLimiter = (url: string): HostCap => {
    const host = new URL(url).host;
    const key = `${redisUrl ?? ''}|${host}`;
    let h = hosts.get(key);
    if (h === undefined) {
      const cap = rateLimit.maxConcurrentPerHost;
      const value =
        conn === undefined
          ? localCap(cap)
          : redisCap(`ingest:host:${host}`, cap, conn.value, onError('Host'));
      h = { value, refs: 0, cap: rateLimit.maxConcurrentPerHost };
      hosts.set(key, h);
    } else if (h.cap !== rateLimit.maxConcurrentPerHost && !hostKeys.has(key)) {
      log.warn(
        { host, maxConcurrentPerHost: rateLimit.maxConcurrentPerHost, inEffect: h.cap },
        'Sources of one host configure different rateLimit.maxConcurrentPerHost: the first one configured is in effect.',
      );
    }
    if (!hostKeys.has(key)) {
      hostKeys.add(key);
      h.refs++;
    }
    return h.value;
  };

  let pauseUntilMs = 0;
  let nextSlotMs = 0;
  let pace = 0;
  const setPace = (ms: number): void => {
    if (ms === pace) return;
    // A slower pace applies from now on; a faster one frees the slot already reserved.
    nextSlotMs = ms > pace ? Math.max(nextSlotMs, now() + ms) : now();
    pace = ms;
    // Only through Redis: bottleneck 2.19.5's local datastore stops its refill heartbeat on any
    // updateSettings (`_startHeartbeat` clears a running one), which would empty the bucket for good.
    // Locally the slot reserved in schedule() paces alone.
    if (conn !== undefined) updateSettings(limiter, { minTime: ms }).catch(onError('Source'));
  };
  let stopped = false;

  return {
    schedule<T>(url: string, fn: () => Promise<T>): Promise<T> {
      const host = hostLimiter(url);
      return limiter.schedule(async () => {
        // The slot is reserved synchronously, so concurrent requests line up behind each other.
        // bottleneck's minTime (set too, shared through Redis) only spaces the request after next.
        const t = now();
        const at = Math.max(t, pauseUntilMs, nextSlotMs);
        nextSlotMs = at + pace;
        if (at > t) await delay(at - t, undefined, { signal: options.signal });
        return host.schedule(fn);
      });
    },
    observe(info: RateLimitInfo): void {
      if (info.remaining !== undefined) sourceRateLimitRemaining.set({ source }, info.remaining);
      if (info.limit !== undefined) sourceRateLimitLimit.set({ source }, info.limit);
      if (info.resetMs !== undefined) sourceRateLimitResetSeconds.set({ source }, info.resetMs / 1000);
      const t = now();
      // `Retry-After` is honoured by the retry of the request that got it (fetch.ts, capped at
      // retry.maxDelayMs); the budget headers below pace every request of the source.
      if (info.remaining === undefined) return;
      const usable = info.remaining - rateLimit.headerReserve;
      const resetMs = info.resetMs ?? info.windowMs;
      if (resetMs === undefined) return;
      if (usable <= 0) {
        pauseUntilMs = Math.max(pauseUntilMs, t + resetMs);
        sourceRateLimitSlowdownsTotal.inc({ source });
        log.warn(
          { remaining: info.remaining, resetMs },
          'API rate-limit budget spent: requests wait until its window resets.',
        );
        return;
      }
      // The token bucket alone spaces requests 1000 / requestsPerSec apart; slow down only beyond that.
      const needed = Math.ceil(resetMs / usable);
      const next = needed > 1000 / rateLimit.requestsPerSec ? needed : 0;
      if (next > 0 && pace === 0) sourceRateLimitSlowdownsTotal.inc({ source });
      setPace(next);
    },
    paceMs: () => pace,
    queued: () => limiter.queued(),
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      await limiter.stop({ dropWaitingJobs: true }).catch(() => undefined);
      // The local datastore's disconnect only clears its heartbeat, which stop() already did.
      if (conn !== undefined) await Promise.resolve(limiter.disconnect() as unknown).catch(() => undefined);
      for (const key of hostKeys) await release(hosts, key, (b) => b.close());
      if (redisUrl !== undefined) await release(connections, redisUrl, (c) => c.disconnect());
    },
  };
}
