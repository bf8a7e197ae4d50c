/**
 * The HTTP source: polls a JSON API on an interval and hands new or changed records to a sink.
 *
 * One poll = every page (see `pagination.ts`), each request with its credentials (`auth/`) through
 * the source's limiter (`limiter.ts`: token bucket, host cap, the API's rate-limit headers, optionally
 * shared through Redis) with retries (`fetch.ts`), the whole poll inside a circuit breaker (opossum).
 * Records found at `recordsPath` are wrapped as envelopes (`src/envelope.ts`), filtered by change
 * detection per entity key (`changes.ts`), written to the sink page by page (`stage.ts`), and only once the sink
 * acknowledged them (delivered or dead-lettered) is the state (seen entries, ETags) persisted:
 * at-least-once from API to sink. Pages are pipelined (ADR 7): the next page is fetched while up to
 * `maxPagesInFlight` pages wait for the sink, and their state is persisted in page order. When the sink's write rejects, nothing is persisted and the
 * records are polled again.
 *
 * State:
 * - change detection: one entry per entity in the store's {@link SeenStore} (`seenStoreOf`), read and
 *   written per page; the legacy whole-map key `source/<name>/seen` is imported once and deleted;
 * - `source/<name>/etag` in the {@link StateStore}: `{ [pageUrl]: { etag, next } }`, the `ETag` of
 *   each page and the URL of the page after it (so a 304 page still leads to the next one);
 * - `source/<name>/cursor` for incremental sources (`cursor.ts`, ADR 12), stored only after the
 *   records up to it were acknowledged.
 *
 * @module
 */
import CircuitBreaker from 'opossum';
import type { Dispatcher } from 'undici';
import { getPath } from '../../envelope.js';
import { ConfigError, failureClassOf, isRetriable } from '../../errors.js';
import type { Logger } from '../../log.js';
import { registerHeaderSecrets } from '../../secrets/index.js';
import type { SecretResolver } from '../../secrets/resolve.js';
import { seenStoreOf } from '../../state/index.js';
import {
  type PollResult,
  type Source,
  type SourceDeps,
  type SourceFactory,
  type SourceStats,
  zeroStats,
} from '../types.js';
import { type Auth, createAuth, sendWithAuth } from './auth/index.js';
import { ChangeDetector } from './changes.js';
import { type HttpSourceConfig, HttpSourceSchema } from './config.js';
import { Cursor, noteNewestRecord } from './cursor.js';
import {
  CircuitOpenError,
  HttpStatusError,
  MalformedResponseError,
  PollAbortedError,
  PollerError,
} from './errors.js';
import { defaultSleep, type FetchedPage, fetchJson, type Sleep, sharedAgent, withRetry } from './fetch.js';
import { createSourceLimiter, type SourceLimiter } from './limiter.js';
import { originPolicy, withoutCredentials } from './origin.js';
import { findLink, firstPageUrl, maxPagesOf, nextPageUrl } from './pagination.js';
import { PageStager } from './stage.js';
import {
  BREAKER_STATE,
  sourceBreakerState,
  sourceErrorsTotal,
  sourceLastSuccessTimestampSeconds,
  sourceOffOriginLinksTotal,
  sourcePagesTruncatedTotal,
  sourcePollDurationSeconds,
  sourceRequestsTotal,
  sourceResponseBytes,
  sourceRetriesTotal,
} from './telemetry.js';

export { ChangeDetector, type LegacySeenState, LruMap, legacySeenKey, trackingKeys } from './changes.js';
export type { HttpSourceConfig, PaginationConfig } from './config.js';
export { HttpSourceSchema } from './config.js';
export * from './errors.js';
export { closeSharedAgents } from './fetch.js';
export { createSourceLimiter, limiterOptions, type SourceLimiter } from './limiter.js';

/** Dependencies of an HTTP source: the common {@link SourceDeps} plus HTTP-specific injections. */
export interface HttpSourceDeps extends SourceDeps {
  /** undici dispatcher. @default the shared keep-alive agent for `connectTimeoutMs` */
  dispatcher?: Dispatcher;
  /** Backoff sleep (tests). @default timers/promises setTimeout */
  sleep?: Sleep;
  /** Uniform random in [0, 1) for backoff and interval jitter (tests). @default Math.random */
  random?: () => number;
  /** Where auth env vars are read. @default process.env */
  env?: Record<string, string | undefined>;
  /** Where auth secrets come from. @default env vars and the default Secrets Manager client */
  secrets?: SecretResolver;
}

/** Circuit breaker states, as reported by {@link HttpSource.breakerState}. */
export type BreakerState = keyof typeof BREAKER_STATE;

/** A {@link Source} polling an HTTP JSON API. */
export interface HttpSource extends Source {
  /** The circuit breaker's current state. */
  breakerState(): BreakerState;
}

/** State-store key of the per-page ETags of a source. */
export const etagKey = (source: string): string => `source/${source}/etag`;

/** Persisted shape of `source/<name>/etag`. */
export type EtagState = Record<string, { etag: string; next: string | null }>;

/**
 * The rolling window of the breaker, in ms. The breaker counts polls, not requests, so its window
 * must hold `volumeThreshold` polls: twice `volumeThreshold` intervals (at least 10 s), rounded up
 * to a multiple of the 10 buckets.
 */
export function breakerWindowMs(
  config: Pick<HttpSourceConfig, 'intervalSecs' | 'jitterSecs' | 'breaker'>,
): number {
  const ms = Math.max(
    10_000,
    2 * Math.max(1, config.breaker.volumeThreshold) * (config.intervalSecs + config.jitterSecs) * 1000,
  );
  return Math.ceil(ms / 10) * 10;
}

class HttpSourceImpl implements HttpSource {
  readonly name: string;
  private readonly log: Logger;
  private readonly dispatcher: Dispatcher;
  private readonly headers: Record<string, string>;
  private readonly auth: Auth;
  private readonly cursor: Cursor | undefined;
  private readonly limiter: SourceLimiter;
  private readonly breaker: CircuitBreaker<[], PollResult>;
  private readonly abort = new AbortController();
  private readonly now: () => Date;
  private readonly sleep: Sleep;
  private readonly random: () => number;
  private readonly totals = zeroStats();
  private readonly changes: ChangeDetector;
  private readonly pages: PageStager;
  private etags: EtagState = {};
  private stateLoaded = false;
  private chain: Promise<unknown> = Promise.resolve();
  private running = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: HttpSourceConfig,
    private readonly deps: HttpSourceDeps,
  ) {
    this.name = config.name;
    this.log = deps.logger.child({ component: 'poller', source: config.name });
    registerHeaderSecrets(config.headers);
    this.headers = { ...config.headers };
    this.dispatcher = deps.dispatcher ?? sharedAgent(config.connectTimeoutMs);
    this.auth = createAuth(config.auth, {
      ...(deps.secrets === undefined ? {} : { secrets: deps.secrets }),
      ...(deps.env === undefined ? {} : { env: deps.env }),
      dispatcher: this.dispatcher,
      timeoutMs: config.requestTimeoutMs,
    });
    this.now = deps.now ?? (() => new Date());
    this.sleep = deps.sleep ?? defaultSleep;
    this.random = deps.random ?? Math.random;
    this.cursor = config.cursor && new Cursor(config.name, config.cursor, deps.state, this.log);
    this.changes = new ChangeDetector(config.name, seenStoreOf(deps.state), config.maxTrackedIds);
    this.pages = new PageStager({
      config,
      sink: deps.sink,
      deadLetters: deps.deadLetters,
      changes: this.changes,
      cursor: this.cursor,
      log: this.log,
      totals: this.totals,
    });

    this.limiter = createSourceLimiter({
      source: config.name,
      rateLimit: config.rateLimit,
      logger: this.log,
      env: deps.env,
      signal: this.abort.signal,
    });

    this.breaker = new CircuitBreaker(() => this.runPoll(), {
      name: config.name,
      timeout: false,
      errorThresholdPercentage: config.breaker.errorThresholdPercentage,
      volumeThreshold: config.breaker.volumeThreshold,
      resetTimeout: config.breaker.resetTimeoutMs,
      rollingCountTimeout: breakerWindowMs(config),
      rollingCountBuckets: 10,
      // A stop or a config problem says nothing about the upstream's health.
      errorFilter: (err: unknown) => err instanceof PollAbortedError || err instanceof ConfigError,
    });
    const breakerGauge = (state: BreakerState): void => {
      sourceBreakerState.set({ source: this.name }, BREAKER_STATE[state]);
    };
    this.breaker.on('open', () => {
      breakerGauge('open');
      this.log.warn(
        { breaker: 'open', resetTimeoutMs: config.breaker.resetTimeoutMs },
        'circuit breaker opened: polls fail fast until the reset timeout',
      );
    });
    this.breaker.on('halfOpen', () => {
      breakerGauge('halfOpen');
      this.log.info({ breaker: 'halfOpen' }, 'circuit breaker half-open: next poll is a trial');
    });
    this.breaker.on('close', () => {
      breakerGauge('closed');
      this.log.info({ breaker: 'closed' }, 'circuit breaker closed');
    });
    breakerGauge('closed');
  }

  breakerState(): BreakerState {
    if (this.breaker.opened) return 'open';
    if (this.breaker.halfOpen) return 'halfOpen';
    return 'closed';
  }

  stats(): SourceStats {
    return { ...this.totals };
  }

  start(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    const loop = async (): Promise<void> => {
      this.timer = undefined;
      if (!this.running) return;
      const startedAt = Date.now();
      try {
        await this.pollOnce();
      } catch {
        // Logged and counted by pollOnce; the loop goes on.
      }
      if (!this.running) return;
      const jitterMs = this.random() * this.config.jitterSecs * 1000;
      const waitMs = Math.max(0, startedAt + this.config.intervalSecs * 1000 + jitterMs - Date.now());
      this.timer = setTimeout(() => void loop(), waitMs);
    };
    void loop();
  }

  pollOnce(): Promise<PollResult> {
    if (this.stopped) {
      return Promise.reject(
        new PollerError(`source ${this.name} is stopped`, 'internal', { source: this.name }),
      );
    }
    const run = this.chain.then(() => this.pollGuarded());
    this.chain = run.catch(() => undefined);
    return run;
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.stopped) {
      await this.chain;
      return;
    }
    this.stopped = true;
    this.abort.abort();
    await this.chain;
    this.breaker.shutdown();
    await this.limiter.stop();
  }

  /** One poll through the breaker, with its log line and metrics. */
  private async pollGuarded(): Promise<PollResult> {
    const started = performance.now();
    const source = this.name;
    this.totals.polls++;
    try {
      const result = await this.breaker.fire();
      const seconds = (performance.now() - started) / 1000;
      sourcePollDurationSeconds.observe({ source }, seconds);
      sourceLastSuccessTimestampSeconds.set({ source }, this.now().getTime() / 1000);
      this.totals.completedPolls++;
      result.durationMs = Math.round(seconds * 1000);
      this.log.info(
        {
          pages: result.pages,
          notModifiedPages: result.notModifiedPages,
          polled: result.polled,
          emitted: result.emitted,
          unchanged: result.unchanged,
          deadLettered: result.deadLettered,
          durationMs: result.durationMs,
        },
        'poll completed',
      );
      return result;
    } catch (raw) {
      sourcePollDurationSeconds.observe({ source }, (performance.now() - started) / 1000);
      const err =
        (raw as { code?: unknown } | null)?.code === 'EOPENBREAKER'
          ? new CircuitOpenError(`source ${source}: circuit breaker is open; poll skipped`, {
              source,
              cause: raw,
            })
          : raw;
      if (err instanceof PollAbortedError) {
        this.log.info({ class: err.failureClass, message: err.message }, 'poll abandoned: source stopping');
        throw err;
      }
      const failureClass = failureClassOf(err);
      this.totals.errors++;
      this.totals.failedPolls++;
      sourceErrorsTotal.inc({ source, class: failureClass });
      const fields = {
        class: failureClass,
        message: err instanceof Error ? err.message : String(err),
        retriable: isRetriable(err),
        ...(err instanceof HttpStatusError ? { status: err.status } : {}),
      };
      if (err instanceof CircuitOpenError || isRetriable(err)) this.log.warn(fields, 'poll failed');
      else this.log.error(fields, 'poll failed');
      throw err;
    }
  }

  /**
   * Loads the ETags and imports a legacy seen-map once (on the first poll); a failed load is retried
   * next poll. Change-detection entries themselves are read per page.
   */
  private async loadState(): Promise<void> {
    if (this.stateLoaded) return;
    const [, etags] = await Promise.all([
      this.config.emit === 'changed' ? this.changes.migrate(this.deps.state, this.log) : undefined,
      this.config.conditionalRequests ? this.deps.state.get<EtagState>(etagKey(this.name)) : undefined,
    ]);
    this.etags = { ...(etags?.value ?? {}) };
    this.stateLoaded = true;
  }

  /**
   * One poll, pipelined: each page is wrapped, filtered and handed to the sink in page order, and
   * the next page is fetched at once while up to `maxPagesInFlight` pages wait for the sink. Their
   * acknowledgements are stored strictly in page order (a page's change-detection entries, then its
   * ETag), and after the first failure nothing later is stored: the poll rejects once every page in
   * flight has settled.
   */
  private async runPoll(): Promise<PollResult> {
    await this.loadState();
    await this.cursor?.load();
    const sentCursor = this.cursor?.sent();
    const { pagination, conditionalRequests, maxPagesInFlight } = this.config;
    const result: PollResult = {
      source: this.name,
      pages: 0,
      notModifiedPages: 0,
      notModified: false,
      polled: 0,
      emitted: 0,
      unchanged: 0,
      deadLettered: 0,
      durationMs: 0,
    };
    const maxPages = maxPagesOf(pagination);
    const visited = new Set<string>();
    /** Hands pages to the sink one at a time, in page order. */
    let written: Promise<unknown> = Promise.resolve();
    /** Stores acknowledgements one page at a time, in page order; rejects from the first failure on. */
    let acknowledged: Promise<void> = Promise.resolve();
    const inFlight: Promise<void>[] = [];
    let failed = false;
    /** The highest cursor among acknowledged pages (checkpointed at the end with `checkpoint: poll`). */
    let cursorMax: number | undefined;
    const first = firstPageUrl(this.config.url, pagination);
    let url = this.cursor ? this.cursor.firstPage(first) : first;
    try {
      for (let pageIndex = 0; ; pageIndex++) {
        // A page failed: fetch nothing more; the failure is thrown below.
        if (failed) break;
        visited.add(url);
        const cached = conditionalRequests ? this.etags[url] : undefined;
        // The last page of a Link-paginated listing is always fetched in full: pages added after it
        // only show up in its `Link: rel="next"`, which a 304 need not carry (RFC 9110 §15.4.5).
        const lastLinkPage = pagination.type === 'linkHeader' && cached !== undefined && cached.next === null;
        const page = await this.request(url, lastLinkPage ? undefined : cached?.etag);
        result.pages++;
        let next: string | undefined;
        if (page.notModified) {
          result.notModifiedPages++;
          this.totals.notModifiedPages++;
          const linked = pagination.type === 'linkHeader' ? findLink(page.link, 'next', url) : undefined;
          next = linked ?? cached?.next ?? undefined;
        } else {
          const records = this.selectRecords(page);
          next = nextPageUrl(pagination, {
            url,
            pageIndex,
            recordCount: records.length,
            link: page.link,
            body: page.body,
          });
          const staged = written.then(() => this.pages.stage(records, result, sentCursor, this.now()));
          written = staged.catch(() => undefined);
          const pageUrl = url;
          const pageNext = next;
          acknowledged = acknowledged.then(async () => {
            const stagedPage = await staged;
            const entries = await this.pages.settle(stagedPage, result);
            if (this.config.emit === 'changed') await this.changes.commit(entries);
            // Only now, with the page's records acknowledged, may the page's ETag and cursor be remembered.
            if (conditionalRequests) await this.rememberEtag(pageUrl, page.etag, pageNext);
            cursorMax = Math.max(
              cursorMax ?? Number.NEGATIVE_INFINITY,
              stagedPage.cursorMax ?? Number.NEGATIVE_INFINITY,
            );
            if (this.cursor?.config.checkpoint === 'page') await this.cursor.advance(stagedPage.cursorMax);
            if (stagedPage.newestEventMs !== undefined) noteNewestRecord(this.name, stagedPage.newestEventMs);
          });
          const tail = acknowledged;
          tail.catch(() => {
            failed = true;
          });
          inFlight.push(tail);
          // Wait for the oldest page while the window is full; a failure ends the poll here.
          while (inFlight.length >= maxPagesInFlight) await inFlight.shift();
        }
        if (next === undefined) break;
        const origins = originPolicy(this.config);
        if (!origins.mayFollow(next)) {
          sourceOffOriginLinksTotal.inc({ source: this.name });
          this.log.warn(
            { url: next, home: origins.home },
            'next page is on another origin (not in allowedOrigins): not followed, poll ends here',
          );
          break;
        }
        if (visited.has(next)) {
          this.log.warn({ url: next }, 'pagination loops back to a page already fetched; poll ends here');
          break;
        }
        if (pageIndex + 1 >= maxPages) {
          sourcePagesTruncatedTotal.inc({ source: this.config.name });
          this.log.warn({ maxPages }, 'maxPages reached; remaining pages are not fetched this poll');
          break;
        }
        url = next;
      }
      // No page follows: what the sink holds need not wait out its linger.
      await written;
      if (inFlight.length > 0) void this.deps.sink.flush().catch(() => undefined);
      await acknowledged;
      if (cursorMax !== undefined && Number.isFinite(cursorMax)) await this.cursor?.advance(cursorMax);
    } finally {
      // Never leave a page's delivery running past the poll (stop() waits for the poll).
      await acknowledged.catch(() => undefined);
    }
    result.notModified = result.pages > 0 && result.notModifiedPages === result.pages;
    if (conditionalRequests) await this.pruneEtags(visited);
    return result;
  }

  /** One request: rate-limited, retried, counted; credentials only where the origin policy allows. */
  private request(url: string, etag: string | undefined): Promise<FetchedPage> {
    const source = this.name;
    const credentials = originPolicy(this.config).mayCarryCredentials(url);
    const headers = credentials ? this.headers : withoutCredentials(this.headers, this.auth.headerNames);
    return withRetry(
      async () => {
        try {
          const send = (r: { url: string; headers: Record<string, string> }): Promise<FetchedPage> =>
            this.limiter.schedule(url, () =>
              fetchJson(
                { url: r.url, method: this.config.method, headers: r.headers, etag },
                {
                  dispatcher: this.dispatcher,
                  headersTimeoutMs: this.config.headersTimeoutMs,
                  bodyTimeoutMs: this.config.bodyTimeoutMs,
                  requestTimeoutMs: this.config.requestTimeoutMs,
                  maxResponseBytes: this.config.maxResponseBytes,
                  signal: this.abort.signal,
                  source,
                  now: () => this.now().getTime(),
                  onRateLimit: (info) => this.limiter.observe(info),
                },
              ),
            );
          const page = await sendWithAuth(credentials ? this.auth : undefined, { url, headers }, send);
          // The page is known by its URL without credentials (a query API key), for pagination and ETags.
          page.url = url;
          sourceRequestsTotal.inc({ source, status: String(page.status) });
          if (!page.notModified) sourceResponseBytes.observe(page.bytes);
          return page;
        } catch (err) {
          if (err instanceof PollAbortedError) throw err;
          const status = err instanceof HttpStatusError ? String(err.status) : failureClassOf(err);
          sourceRequestsTotal.inc({ source, status });
          throw err;
        }
      },
      {
        policy: this.config.retry,
        sleep: this.sleep,
        random: this.random,
        signal: this.abort.signal,
        onRetry: (err, attempt, delayMs) => {
          sourceRetriesTotal.inc({ source });
          this.log.debug(
            {
              attempt,
              delayMs,
              class: failureClassOf(err),
              message: err instanceof Error ? err.message : String(err),
            },
            'request failed; retrying',
          );
        },
      },
    );
  }

  /** The records array at `recordsPath`. @throws MalformedResponseError when it is not an array. */
  private selectRecords(page: FetchedPage): unknown[] {
    if (page.body === undefined) return [];
    const { recordsPath } = this.config;
    const value = getPath(page.body, recordsPath);
    if (!Array.isArray(value)) {
      const found = value === null ? 'null' : typeof value;
      throw new MalformedResponseError(
        `expected an array at recordsPath "${recordsPath}" but found ${found} (${page.url})`,
        { source: this.name, url: page.url },
      );
    }
    return value;
  }

  private async rememberEtag(url: string, etag: string | undefined, next: string | undefined): Promise<void> {
    const prev = this.etags[url];
    const nextOrNull = next ?? null;
    if (etag === undefined) {
      if (prev === undefined) return;
      delete this.etags[url];
    } else {
      if (prev?.etag === etag && prev.next === nextOrNull) return;
      this.etags[url] = { etag, next: nextOrNull };
    }
    await this.deps.state.put<EtagState>(etagKey(this.name), this.etags);
  }

  /** Forgets ETags of pages a complete poll no longer reached. */
  private async pruneEtags(visited: Set<string>): Promise<void> {
    const stale = Object.keys(this.etags).filter((u) => !visited.has(u));
    if (stale.length === 0) return;
    for (const u of stale) delete this.etags[u];
    await this.deps.state.put<EtagState>(etagKey(this.name), this.etags);
  }
}

/**
 * Builds an HTTP source from its parsed config (`HttpSourceSchema`). The source does nothing until
 * `start()` or `pollOnce()`.
 *
 * @param config - the parsed source config (defaults applied).
 * @param deps - sink, state store, dead-letter queue, logger; optionally a dispatcher, clock, sleep
 *   and random source for tests.
 * @throws ConfigError when an auth environment variable named in `config.auth` is unset.
 */
export function createHttpSource(config: HttpSourceConfig, deps: HttpSourceDeps): HttpSource {
  return new HttpSourceImpl(config, deps);
}

/** Registry entry of the `http` source type. */
export const http: SourceFactory<typeof HttpSourceSchema, HttpSourceDeps> = {
  type: 'http',
  schema: HttpSourceSchema,
  create: createHttpSource,
};
