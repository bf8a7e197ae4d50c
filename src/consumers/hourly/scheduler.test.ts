/**
 * The scheduler's control flow against a scripted fake Glue executor and a fake query engine, with a
 * real FileStateStore and a real file lake in a temporary directory. Time is a virtual clock injected
 * through `now`/`sleep` (a sleep advances it), except for the loop tests, which use vitest's fake
 * timers or short real waits.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type LakeConfig, LakeSchema } from '../../glue/config.js';
import { ConcurrentRunsExceededError, CrawlerRunningError } from '../../glue/errors.js';
import type {
  CrawlerState,
  CrawlerStatus,
  GlueExecutor,
  JobRun,
  JobRunState,
  QueryEngine,
  QueryResult,
} from '../../glue/types.js';
import { type Lake, openLake } from '../../lake/index.js';
import { silentLogger } from '../../log.js';
import { FileStateStore, type StateStore } from '../../state/index.js';
import { registry } from '../../telemetry/index.js';
import { windowDays } from './hours.js';
import {
  createHourlyScheduler,
  fingerprintKeys,
  type HourlySchedulerInput,
  type HourRecord,
  hourStateKey,
  SchedulerStoppedError,
} from './index.js';
import type { HourlyScheduler } from './scheduler.js';

// ---------------------------------------------------------------------------------------------
// Fakes

type Call =
  | { op: 'startJobRun'; job: string; args: Record<string, string> }
  | { op: 'getJobRun'; job: string; runId: string }
  | { op: 'startCrawler'; name: string }
  | { op: 'getCrawler'; name: string };

/** What one StartJobRun does: an error to throw, or the states successive GetJobRun calls answer (the last repeats). */
type StartOutcome = Error | JobRunState[];

/** A scripted Glue: job runs follow per-start scripts; the crawler is a small state machine. */
class FakeGlue implements GlueExecutor {
  readonly kind = 'local' as const;
  readonly calls: Call[] = [];
  private readonly plans = new Map<string, StartOutcome[]>();
  private readonly runs = new Map<string, JobRunState[]>();
  private seq = 0;
  /** Awaited by every call when set (to interleave or freeze a scheduler). */
  gate?: () => Promise<void>;
  crawlerState: CrawlerState = 'READY';
  lastCrawlStatus?: string;
  /** GetCrawler answers RUNNING this many times first (someone else's crawl). */
  busyPolls = 0;
  /** After StartCrawler, GetCrawler answers RUNNING this many times, then READY with `crawlResult`. */
  crawlPolls = 1;
  crawlResult = 'SUCCEEDED';
  private crawlLeft = 0;
  /** Errors StartCrawler throws next. */
  readonly startCrawlerErrors: Error[] = [];
  closed = false;

  /** Scripts the next starts of `job`, in order; unscripted starts run RUNNING then SUCCEEDED. */
  plan(job: string, ...outcomes: StartOutcome[]): this {
    this.plans.set(job, [...(this.plans.get(job) ?? []), ...outcomes]);
    return this;
  }

  starts(job?: string): Record<string, string>[] {
    return this.calls.flatMap((c) =>
      c.op === 'startJobRun' && (job === undefined || c.job === job) ? [c.args] : [],
    );
  }

  async startJobRun(job: string, args: Record<string, string>): Promise<string> {
    await this.gate?.();
    this.calls.push({ op: 'startJobRun', job, args });
    const outcome = this.plans.get(job)?.shift() ?? ['RUNNING', 'SUCCEEDED'];
    if (outcome instanceof Error) throw outcome;
    const runId = `jr_${++this.seq}`;
    this.runs.set(runId, [...outcome]);
    return runId;
  }

  async getJobRun(job: string, runId: string): Promise<JobRun> {
    await this.gate?.();
    this.calls.push({ op: 'getJobRun', job, runId });
    const states = this.runs.get(runId);
    if (!states) throw new Error(`unknown run ${runId}`);
    const state = states.length > 1 ? states.shift()! : states[0]!;
    return { runId, state, ...(state === 'FAILED' ? { errorMessage: 'job script raised' } : {}) };
  }

  async startCrawler(name: string): Promise<void> {
    await this.gate?.();
    this.calls.push({ op: 'startCrawler', name });
    const err = this.startCrawlerErrors.shift();
    if (err) throw err;
    if (this.crawlerState !== 'READY' || this.busyPolls > 0)
      throw new CrawlerRunningError(`${name} is running`);
    this.crawlerState = 'RUNNING';
    this.crawlLeft = this.crawlPolls;
  }

  async getCrawler(name: string): Promise<CrawlerStatus> {
    await this.gate?.();
    this.calls.push({ op: 'getCrawler', name });
    if (this.busyPolls > 0) {
      this.busyPolls -= 1;
      return { state: 'RUNNING' };
    }
    if (this.crawlerState === 'RUNNING') {
      if (this.crawlLeft > 0) {
        this.crawlLeft -= 1;
        return { state: 'RUNNING' };
      }
      this.crawlerState = 'READY';
      this.lastCrawlStatus = this.crawlResult;
    }
    return {
      state: this.crawlerState,
      ...(this.lastCrawlStatus === undefined ? {} : { lastCrawlStatus: this.lastCrawlStatus }),
    };
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

class FakeQueries implements QueryEngine {
  readonly kind = 'duckdb' as const;
  readonly sql: string[] = [];
  answer: QueryResult | Error = { columns: ['fact_rows', 'null_prices', 'note'], rows: [['42', '0', 'ok']] };
  async query(sql: string): Promise<QueryResult> {
    this.sql.push(sql);
    if (this.answer instanceof Error) throw this.answer;
    return this.answer;
  }
  async close(): Promise<void> {}
}

/** Virtual time: `sleep` advances it at once and records the requested delay. */
class Clock {
  readonly sleeps: number[] = [];
  constructor(public t: number) {}
  now = (): Date => new Date(this.t);
  sleep = async (ms: number): Promise<void> => {
    this.sleeps.push(ms);
    this.t += ms;
  };
  advance(ms: number): void {
    this.t += ms;
  }
}

// ---------------------------------------------------------------------------------------------
// World

const CARTS = 'shop.carts';
const PRODUCTS = 'shop.products';
const lakeConfig: LakeConfig = LakeSchema.parse({
  uri: 'file://unused',
  entities: [
    {
      source: CARTS,
      entity: 'carts',
      columns: [{ name: 'user_id', path: 'userId', type: 'bigint', pii: true }],
    },
    { source: PRODUCTS, entity: 'products', columns: [{ name: 'price', path: 'price', type: 'double' }] },
  ],
});
const entityJson = (source: string) => JSON.stringify(lakeConfig.entities.find((e) => e.source === source));

/** 12:20 UTC: hours up to 11 are closed (11 ends at 12:00, + 5 min grace), 12 is open. */
const NOW = Date.parse('2024-03-10T12:20:00Z');

let dir: string;
let lakeUri: string;
let lake: Lake;
let state: StateStore;
let seq = 0;
let name: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hourly-'));
  lakeUri = `file://${join(dir, 'lake')}`;
  lake = openLake(lakeUri);
  state = new FileStateStore(join(dir, 'state'));
  name = `hourly_t${++seq}`;
});

afterEach(async () => {
  vi.useRealTimers();
  await state.close();
  await rm(dir, { recursive: true, force: true });
});

/** Lands a bronze object: empty by default, else gzip NDJSON of `lines`. */
async function land(
  source: string,
  hour: string,
  object = 'obj-1.json.gz',
  lines?: unknown[],
): Promise<string> {
  const [dt, hh] = hour.split('T');
  const key = `bronze/source=${source}/dt=${dt}/hour=${hh}/${object}`;
  const body = lines
    ? gzipSync(Buffer.from(lines.map((l) => `${JSON.stringify(l)}\n`).join('')))
    : new Uint8Array();
  await lake.put(key, body);
  return key;
}

function scheduler(
  glue: FakeGlue,
  clock: Clock,
  config: Partial<HourlySchedulerInput> = {},
  extra: { queries?: QueryEngine; instanceId?: string; sleep?: (ms: number) => Promise<void> } = {},
): HourlyScheduler {
  return createHourlyScheduler(
    { type: 'hourly', name, lakeUri, ...config },
    {
      state,
      logger: silentLogger,
      executor: glue,
      lake,
      lakeConfig,
      now: clock.now,
      sleep: extra.sleep ?? clock.sleep,
      ...(extra.queries ? { queries: extra.queries } : {}),
      ...(extra.instanceId ? { instanceId: extra.instanceId } : {}),
    },
  );
}

async function record(hour: string, scheduler = name): Promise<HourRecord | undefined> {
  return (await state.get<HourRecord>(hourStateKey(scheduler, hour)))?.value;
}

/** Current value of one series (0 when absent). */
async function metric(
  metricName: string,
  labels: Record<string, string>,
  series = metricName,
): Promise<number> {
  const m = registry.getSingleMetric(metricName);
  if (!m) throw new Error(`no metric ${metricName}`);
  const { values } = await m.get();
  const hit = values.find(
    (v) =>
      ((v as { metricName?: string }).metricName ?? metricName) === series &&
      Object.entries(labels).every(([k, x]) => (v.labels as Record<string, unknown>)[k] === x),
  );
  return hit?.value ?? 0;
}

const jobRuns = (job: string, outcome: string) =>
  metric('ingest_scheduler_job_runs_total', { scheduler: name, job, outcome });

// ---------------------------------------------------------------------------------------------
// Tests

describe('hourly scheduler: pipeline', () => {
  it('runs bronze→silver per source, silver→gold, the crawler and the quality query, in order, then marks the hour done', async () => {
    const H = '2024-03-10T10';
    await land(CARTS, H, 'a.json.gz', [{ source: CARTS, id: '1', payload: { userId: 7 } }]);
    await land(CARTS, H, 'b.json.gz');
    await land(PRODUCTS, H);
    await land('shop.unmapped', H); // no entity mapping: skipped
    await land(CARTS, '2024-03-10T12'); // open hour: not processed
    const glue = new FakeGlue();
    glue.crawlPolls = 1;
    const queries = new FakeQueries();
    const clock = new Clock(NOW);
    const s = scheduler(
      glue,
      clock,
      {
        crawlerName: 'lake_crawler',
        qualityQuery:
          'SELECT count(*) AS fact_rows FROM {{database}}.fact_order_lines WHERE hour IN ({{hours}})',
      },
      { queries },
    );

    const result = await s.runOnce();

    expect(result).toEqual({
      processed: [H],
      done: [H],
      retrying: [],
      failed: [],
      deferred: [],
      abandoned: [],
      takenOver: [],
      skipped: [],
      errors: {},
      hoursBehind: 0,
    });
    expect(glue.calls).toEqual([
      {
        op: 'startJobRun',
        job: 'bronze_to_silver',
        args: {
          source: CARTS,
          hours: H,
          lake_uri: lakeUri,
          entity_json: entityJson(CARTS),
          pii_key_env: 'INGEST_PII_KEY',
        },
      },
      { op: 'getJobRun', job: 'bronze_to_silver', runId: 'jr_1' },
      { op: 'getJobRun', job: 'bronze_to_silver', runId: 'jr_1' },
      {
        op: 'startJobRun',
        job: 'bronze_to_silver',
        args: {
          source: PRODUCTS,
          hours: H,
          lake_uri: lakeUri,
          entity_json: entityJson(PRODUCTS),
          pii_key_env: 'INGEST_PII_KEY',
        },
      },
      { op: 'getJobRun', job: 'bronze_to_silver', runId: 'jr_2' },
      { op: 'getJobRun', job: 'bronze_to_silver', runId: 'jr_2' },
      { op: 'startJobRun', job: 'silver_to_gold', args: { hours: H, lake_uri: lakeUri } },
      { op: 'getJobRun', job: 'silver_to_gold', runId: 'jr_3' },
      { op: 'getJobRun', job: 'silver_to_gold', runId: 'jr_3' },
      { op: 'getCrawler', name: 'lake_crawler' },
      { op: 'startCrawler', name: 'lake_crawler' },
      { op: 'getCrawler', name: 'lake_crawler' },
      { op: 'getCrawler', name: 'lake_crawler' },
    ]);
    expect(queries.sql).toEqual([
      "SELECT count(*) AS fact_rows FROM lake.fact_order_lines WHERE hour IN ('2024-03-10T10')",
    ]);
    // GetJobRun backoff: 15 s, then doubled (RUNNING, then SUCCEEDED).
    expect(clock.sleeps.slice(0, 2)).toEqual([15_000, 30_000]);

    const rec = await record(H);
    expect(rec).toMatchObject({
      hour: H,
      status: 'done',
      attempts: 0,
      sources: [CARTS, PRODUCTS],
      bronzeObjects: 3,
      runs: { bronzeToSilver: { [CARTS]: 'jr_1', [PRODUCTS]: 'jr_2' }, silverToGold: 'jr_3' },
      quality: { values: { fact_rows: '42', null_prices: '0', note: 'ok' }, rows: 1 },
    });
    expect(rec?.owner).toBeUndefined();
    expect(rec?.leaseUntil).toBeUndefined();
    expect(rec?.bronzeFingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(await record('2024-03-10T12')).toBeUndefined();

    expect(await jobRuns('bronze_to_silver', 'started')).toBe(2);
    expect(await jobRuns('bronze_to_silver', 'succeeded')).toBe(2);
    expect(await jobRuns('silver_to_gold', 'succeeded')).toBe(1);
    expect(await metric('ingest_scheduler_hours_total', { scheduler: name, status: 'done' })).toBe(1);
    expect(
      await metric('ingest_scheduler_crawler_runs_total', { scheduler: name, outcome: 'succeeded' }),
    ).toBe(1);
    expect(
      await metric('ingest_scheduler_quality_check_value', { scheduler: name, check: 'fact_rows' }),
    ).toBe(42);
    expect(await metric('ingest_scheduler_backlog_partitions', { scheduler: name })).toBe(0);
    expect(
      await metric(
        'ingest_scheduler_job_duration_seconds',
        { scheduler: name, job: 'silver_to_gold' },
        'ingest_scheduler_job_duration_seconds_count',
      ),
    ).toBe(1);
    // Lag: now − end of 10:00-11:00.
    expect(await metric('ingest_scheduler_lag_seconds', { scheduler: name })).toBe(
      (clock.t - Date.parse('2024-03-10T11:00:00Z')) / 1000,
    );
    expect(s.stats()).toMatchObject({
      hoursDone: 1,
      jobRunsStarted: 3,
      crawls: 1,
      qualityChecks: 1,
      recordsRead: 0,
    });
    expect((await s.hours()).map((h) => [h.hour, h.status])).toEqual([[H, 'done']]);

    // Nothing changed: the next cycle does nothing.
    const calls = glue.calls.length;
    expect((await s.runOnce()).processed).toEqual([]);
    expect(glue.calls.length).toBe(calls);
  });

  it('batches the hours of one source into one run, and runs gold once for all of them', async () => {
    await land(CARTS, '2024-03-10T08');
    await land(CARTS, '2024-03-10T09');
    await land(PRODUCTS, '2024-03-10T09');
    const glue = new FakeGlue();
    const result = await scheduler(glue, new Clock(NOW)).runOnce();
    expect(result.done).toEqual(['2024-03-10T08', '2024-03-10T09']);
    expect(glue.starts().map((a) => [a.source, a.hours])).toEqual([
      [CARTS, '2024-03-10T08,2024-03-10T09'],
      [PRODUCTS, '2024-03-10T09'],
      [undefined, '2024-03-10T08,2024-03-10T09'],
    ]);
  });

  it('hours holding only unmapped sources are not processed', async () => {
    await land('shop.unmapped', '2024-03-10T09');
    const glue = new FakeGlue();
    const result = await scheduler(glue, new Clock(NOW)).runOnce();
    expect(result.processed).toEqual([]);
    expect(glue.calls).toEqual([]);
  });
});

describe('hourly scheduler: listing window', () => {
  /** Counts the keys each `list` call returns: the cost of a cycle's discovery. */
  function countingLake(): { lake: Lake; listed: () => number; prefixes: string[] } {
    let listed = 0;
    const prefixes: string[] = [];
    const counting: Lake = {
      uri: lake.uri,
      put: (k, b, t) => lake.put(k, b, t),
      get: (k) => lake.get(k),
      ping: () => lake.ping(),
      list: async (prefix) => {
        prefixes.push(prefix);
        const keys = await lake.list(prefix);
        listed += keys.length;
        return keys;
      },
    };
    return { lake: counting, listed: () => listed, prefixes };
  }

  async function discoveryCost(): Promise<{ listed: number; calls: number; processed: string[] }> {
    const c = countingLake();
    const s = createHourlyScheduler(
      { type: 'hourly', name, lakeUri, lookbackHours: 6 },
      {
        state,
        logger: silentLogger,
        executor: new FakeGlue(),
        lake: c.lake,
        lakeConfig,
        now: () => new Date(NOW),
        sleep: async () => {},
      },
    );
    const result = await s.runOnce();
    return { listed: c.listed(), calls: c.prefixes.length, processed: result.processed };
  }

  it('lists only the dt= days of the last lookbackHours: the cost does not grow with old hours', async () => {
    await land(CARTS, '2024-03-10T10');
    const before = await discoveryCost();
    expect(before.processed).toEqual(['2024-03-10T10']);
    // 72 hours of old bronze (three days before the window) for both sources.
    const old = Array.from({ length: 72 }, (_, i) =>
      new Date(Date.parse('2024-03-09T23:00:00Z') - i * 3_600_000).toISOString().slice(0, 13),
    );
    await Promise.all(old.flatMap((h) => [land(CARTS, h), land(PRODUCTS, h)]));
    await land(CARTS, '2024-03-10T11');
    const after = await discoveryCost();
    expect(after.processed).toEqual(['2024-03-10T11']);
    expect(after.calls).toBe(before.calls);
    // The same two objects of today, whatever lies in the days before the window.
    expect(after.listed).toBe(before.listed + 1);
  });

  it('windowDays names the UTC days the window touches', () => {
    expect(windowDays(new Date('2024-03-10T12:20:00Z'), 6)).toEqual(['2024-03-10']);
    expect(windowDays(new Date('2024-03-10T01:20:00Z'), 48)).toEqual([
      '2024-03-08',
      '2024-03-09',
      '2024-03-10',
    ]);
  });
});

describe('hourly scheduler: failures', () => {
  it('a FAILED run counts an attempt, is retried after the backoff, then succeeds', async () => {
    const H = '2024-03-10T10';
    await land(CARTS, H);
    const glue = new FakeGlue().plan('bronze_to_silver', ['RUNNING', 'FAILED']);
    const clock = new Clock(NOW);
    const s = scheduler(glue, clock, { retryBaseDelaySecs: 300 });

    const first = await s.runOnce();
    expect(first).toMatchObject({ processed: [H], retrying: [H], done: [], failed: [] });
    expect(glue.starts('silver_to_gold')).toEqual([]); // gold never runs for a failed hour
    let rec = await record(H);
    expect(rec).toMatchObject({ status: 'pending', attempts: 1 });
    expect(rec?.lastError).toContain('ended FAILED: job script raised');
    expect(Date.parse(rec!.nextAttemptAt!)).toBe(clock.t + 300_000);
    expect(rec?.owner).toBeUndefined();

    // Before the backoff: not retried.
    clock.advance(299_000);
    expect((await s.runOnce()).processed).toEqual([]);

    clock.advance(1_000);
    const third = await s.runOnce();
    expect(third).toMatchObject({ processed: [H], done: [H] });
    rec = await record(H);
    expect(rec).toMatchObject({ status: 'done', attempts: 1 });
    expect(rec?.lastError).toBeUndefined();
    expect(glue.starts('bronze_to_silver')).toHaveLength(2);
    expect(await jobRuns('bronze_to_silver', 'failed')).toBe(1);
    expect(await jobRuns('bronze_to_silver', 'retried')).toBe(1);
    expect(await jobRuns('bronze_to_silver', 'succeeded')).toBe(1);
    expect(await metric('ingest_scheduler_errors_total', { scheduler: name, class: 'sink' })).toBe(1);
  });

  it('gives up after maxAttempts: the hour is failed, counted and not retried', async () => {
    const H = '2024-03-10T10';
    await land(CARTS, H);
    const glue = new FakeGlue().plan('bronze_to_silver', ['TIMEOUT'], ['RUNNING', 'ERROR'], ['SUCCEEDED']);
    const clock = new Clock(NOW);
    const s = scheduler(glue, clock, { maxAttempts: 2, retryBaseDelaySecs: 60, retryMaxDelaySecs: 60 });

    expect((await s.runOnce()).retrying).toEqual([H]);
    clock.advance(60_000);
    const second = await s.runOnce();
    expect(second).toMatchObject({ processed: [H], failed: [H], retrying: [], done: [] });
    const rec = await record(H);
    expect(rec).toMatchObject({ status: 'failed', attempts: 2 });
    expect(rec?.lastError).toContain('ended ERROR');
    expect(rec?.nextAttemptAt).toBeUndefined();
    expect(await metric('ingest_scheduler_hours_total', { scheduler: name, status: 'failed' })).toBe(1);
    expect(await metric('ingest_scheduler_backlog_partitions', { scheduler: name })).toBe(1);

    clock.advance(24 * 3_600_000);
    expect((await s.runOnce()).processed).toEqual([]);
    expect(glue.starts()).toHaveLength(2);
    expect(s.stats()).toMatchObject({ hoursFailed: 1, hoursRetrying: 1 });
  });

  it('ConcurrentRunsExceededException defers the hour without counting an attempt', async () => {
    const H = '2024-03-10T10';
    await land(CARTS, H);
    const glue = new FakeGlue()
      .plan('bronze_to_silver', new ConcurrentRunsExceededError('bronze_to_silver at MaxConcurrentRuns 1'))
      .plan('silver_to_gold', new ConcurrentRunsExceededError('silver_to_gold at MaxConcurrentRuns 1'));
    const clock = new Clock(NOW);
    const s = scheduler(glue, clock, { maxAttempts: 1 });

    expect(await s.runOnce()).toMatchObject({ processed: [H], deferred: [H], retrying: [], failed: [] });
    let rec = await record(H);
    expect(rec).toMatchObject({ status: 'pending', attempts: 0 });
    expect(rec?.owner).toBeUndefined();
    expect(rec?.nextAttemptAt).toBeUndefined();

    // Next cycle, at once: bronze→silver runs, gold is deferred; still no attempt counted (maxAttempts 1!).
    expect(await s.runOnce()).toMatchObject({ processed: [H], deferred: [H] });
    rec = await record(H);
    expect(rec).toMatchObject({ status: 'pending', attempts: 0 });

    expect(await s.runOnce()).toMatchObject({ processed: [H], done: [H] });
    expect(await jobRuns('bronze_to_silver', 'deferred')).toBe(1);
    expect(await jobRuns('silver_to_gold', 'deferred')).toBe(1);
    expect(await metric('ingest_scheduler_hours_total', { scheduler: name, status: 'failed' })).toBe(0);
    expect(await metric('ingest_scheduler_errors_total', { scheduler: name, class: 'sink' })).toBe(0);
  });

  it('a failing quality query or crawl counts an attempt for every hour of the cycle', async () => {
    await land(CARTS, '2024-03-10T09');
    await land(CARTS, '2024-03-10T10');
    const glue = new FakeGlue();
    glue.crawlResult = 'FAILED';
    const queries = new FakeQueries();
    const clock = new Clock(NOW);
    const s = scheduler(
      glue,
      clock,
      { crawlerName: 'c', qualityQuery: 'SELECT 1 AS one', retryBaseDelaySecs: 1 },
      { queries },
    );
    expect((await s.runOnce()).retrying).toEqual(['2024-03-10T09', '2024-03-10T10']);
    expect((await record('2024-03-10T09'))?.lastError).toContain(
      'CrawlerFailedError: crawler c crawl FAILED',
    );
    expect(queries.sql).toEqual([]);

    glue.crawlResult = 'SUCCEEDED';
    queries.answer = new Error('Athena: TABLE_NOT_FOUND');
    clock.advance(1_000);
    expect((await s.runOnce()).retrying).toEqual(['2024-03-10T09', '2024-03-10T10']);
    expect((await record('2024-03-10T10'))?.lastError).toContain('QualityCheckError');
    expect((await record('2024-03-10T10'))?.attempts).toBe(2);
    expect(await metric('ingest_scheduler_crawler_runs_total', { scheduler: name, outcome: 'failed' })).toBe(
      1,
    );
  });
});

describe('hourly scheduler: crawler', () => {
  it('waits while the crawler is RUNNING and retries after CrawlerRunningException, then crawls once', async () => {
    await land(CARTS, '2024-03-10T09');
    await land(CARTS, '2024-03-10T10');
    const glue = new FakeGlue();
    glue.busyPolls = 2; // someone else's crawl
    glue.startCrawlerErrors.push(new CrawlerRunningError('CrawlerRunningException: c is running'));
    glue.crawlPolls = 2;
    const s = scheduler(glue, new Clock(NOW), { crawlerName: 'c' });

    expect((await s.runOnce()).done).toEqual(['2024-03-10T09', '2024-03-10T10']);
    const crawler = glue.calls
      .filter((c) => c.op === 'getCrawler' || c.op === 'startCrawler')
      .map((c) => c.op);
    expect(crawler).toEqual([
      'getCrawler', // RUNNING
      'getCrawler', // RUNNING
      'getCrawler', // READY
      'startCrawler', // CrawlerRunningException
      'getCrawler', // READY
      'startCrawler', // ok
      'getCrawler', // RUNNING
      'getCrawler', // RUNNING
      'getCrawler', // READY, SUCCEEDED
    ]);
    // The crawl came after gold.
    const lastStart = glue.calls.findLastIndex((c) => c.op === 'startJobRun');
    expect(glue.calls.findIndex((c) => c.op === 'getCrawler')).toBeGreaterThan(lastStart);
    expect(await metric('ingest_scheduler_crawler_runs_total', { scheduler: name, outcome: 'busy' })).toBe(3);
    expect(await metric('ingest_scheduler_crawler_runs_total', { scheduler: name, outcome: 'started' })).toBe(
      1,
    );
  });
});

describe('hourly scheduler: which hours', () => {
  it('re-runs a done hour when its bronze gains objects (late data), not when an object is rewritten', async () => {
    const H = '2024-03-10T10';
    const key = await land(CARTS, H, 'first.json.gz', [{ n: 1 }]);
    const glue = new FakeGlue();
    const clock = new Clock(NOW);
    const s = scheduler(glue, clock);
    expect((await s.runOnce()).done).toEqual([H]);
    const before = await record(H);

    // A replay rewrites the same object: same keys, nothing to do.
    await lake.put(key, gzipSync('{"n":1}\n'));
    expect((await s.runOnce()).processed).toEqual([]);

    // Late data: a new object in a done hour.
    await land(CARTS, H, 'late.json.gz', [{ n: 2 }]);
    clock.advance(3_600_000);
    const late = await s.runOnce();
    expect(late).toMatchObject({ processed: [H], done: [H] });
    const after = await record(H);
    expect(after?.bronzeObjects).toBe(2);
    expect(after?.bronzeFingerprint).not.toBe(before?.bronzeFingerprint);
    expect(glue.starts('bronze_to_silver').map((a) => a.hours)).toEqual([H, H]);

    // A second scheduler instance (fresh cache) agrees there is nothing left.
    expect((await scheduler(new FakeGlue(), clock).runOnce()).processed).toEqual([]);
  });

  it('catches up a backlog oldest first, at most maxHoursPerCycle per cycle', async () => {
    const hours: string[] = [];
    for (let i = 0; i < 30; i++) {
      const h = new Date(Date.parse('2024-03-08T00:00:00Z') + i * 3_600_000).toISOString().slice(0, 13);
      hours.push(h);
    }
    // Landed in random order.
    for (const h of [...hours].sort(() => Math.random() - 0.5)) await land(CARTS, h);
    const glue = new FakeGlue();
    const s = scheduler(glue, new Clock(NOW), { maxHoursPerCycle: 24 });

    const first = await s.runOnce();
    expect(first.processed).toEqual(hours.slice(0, 24));
    expect(first.done).toEqual(hours.slice(0, 24));
    expect(first.hoursBehind).toBe(6);
    expect(await metric('ingest_scheduler_backlog_partitions', { scheduler: name })).toBe(6);
    expect(glue.starts('bronze_to_silver')[0]?.hours).toBe(hours.slice(0, 24).join(','));

    const second = await s.runOnce();
    expect(second.processed).toEqual(hours.slice(24));
    expect(second.hoursBehind).toBe(0);
    expect((await s.runOnce()).processed).toEqual([]);
  });

  it('skips open hours and hours within the grace period, unless includeOpenHours', async () => {
    await land(CARTS, '2024-03-10T11'); // ends 12:00, closes 12:05
    await land(CARTS, '2024-03-10T12'); // current hour
    const glue = new FakeGlue();
    const clock = new Clock(Date.parse('2024-03-10T12:04:59Z'));
    const s = scheduler(glue, clock);

    expect(await s.runOnce()).toMatchObject({ processed: [], hoursBehind: 0 });
    expect(glue.calls).toEqual([]);

    clock.t = Date.parse('2024-03-10T12:05:00Z');
    expect((await s.runOnce()).processed).toEqual(['2024-03-10T11']);

    expect((await s.runOnce({ includeOpenHours: true })).done).toEqual(['2024-03-10T12']);
    // More data in the still-open hour: re-run like late data.
    await land(CARTS, '2024-03-10T12', 'obj-2.json.gz');
    expect((await s.runOnce()).processed).toEqual([]);
    expect((await s.runOnce({ includeOpenHours: true })).done).toEqual(['2024-03-10T12']);
  });
});

describe('hourly scheduler: ownership', () => {
  it('two schedulers on one state store never both run the same hour', async () => {
    const hours = ['2024-03-10T05', '2024-03-10T06', '2024-03-10T07', '2024-03-10T08', '2024-03-10T09'];
    for (const h of hours) await land(CARTS, h);
    const clock = new Clock(NOW);
    // Yield to the event loop on every Glue call so the two cycles interleave.
    const gate = () => new Promise<void>((resolve) => setImmediate(resolve));
    const glueA = new FakeGlue();
    const glueB = new FakeGlue();
    glueA.gate = gate;
    glueB.gate = gate;
    const a = scheduler(glueA, clock, { maxHoursPerCycle: 2 }, { instanceId: 'task-a' });
    const b = scheduler(glueB, clock, { maxHoursPerCycle: 2 }, { instanceId: 'task-b' });

    const claimed: string[] = [];
    for (let round = 0; round < 4; round++) {
      const [ra, rb] = await Promise.all([a.runOnce(), b.runOnce()]);
      expect(ra.processed.filter((h) => rb.processed.includes(h))).toEqual([]);
      claimed.push(...ra.processed, ...rb.processed);
    }
    const ranHours = [...glueA.starts('bronze_to_silver'), ...glueB.starts('bronze_to_silver')]
      .flatMap((a) => a.hours!.split(','))
      .sort();
    expect(ranHours).toEqual(hours);
    expect(claimed.sort()).toEqual(hours);
    for (const h of hours) expect((await record(h))?.status).toBe('done');
  });

  it("takes over a crashed owner's hour once its lease expires; the old owner's late write loses", async () => {
    const H = '2024-03-10T10';
    await land(CARTS, H);
    const clock = new Clock(NOW);
    // Task A claims the hour and freezes inside StartJobRun (a crash, as far as anyone can tell).
    let thaw!: () => void;
    const frozen = new Promise<void>((resolve) => {
      thaw = resolve;
    });
    const glueA = new FakeGlue();
    let aStarted!: () => void;
    const aInside = new Promise<void>((resolve) => {
      aStarted = resolve;
    });
    glueA.gate = async () => {
      aStarted();
      await frozen;
    };
    const a = scheduler(glueA, clock, { leaseSecs: 600 }, { instanceId: 'task-a' });
    const aCycle = a.runOnce();
    await aInside;
    expect(await record(H)).toMatchObject({ status: 'running', owner: 'task-a' });

    const glueB = new FakeGlue();
    const b = scheduler(glueB, clock, { leaseSecs: 600 }, { instanceId: 'task-b' });
    clock.advance(599_000);
    expect((await b.runOnce()).processed).toEqual([]);
    expect(glueB.calls).toEqual([]);

    clock.advance(1_000);
    expect((await b.runOnce()).done).toEqual([H]);
    expect(glueB.starts('bronze_to_silver').map((x) => x.hours)).toEqual([H]);
    const done = await record(H);
    expect(done).toMatchObject({ status: 'done', runs: { silverToGold: 'jr_2' } });

    // A wakes up, finishes its run, and its writes conflict: it drops the hour.
    thaw();
    const ra = await aCycle;
    expect(ra).toMatchObject({ processed: [H], done: [], abandoned: [H] });
    expect(await record(H)).toEqual(done);
    expect(await metric('ingest_scheduler_errors_total', { scheduler: name, class: 'state_conflict' })).toBe(
      1,
    );
  });
});

describe('hourly scheduler: takeover and resume', () => {
  /** Writes a `running` record of another owner with these recorded runs. */
  async function orphan(hour: string, keys: string[], owner: Partial<HourRecord>, runs: HourRecord['runs']) {
    const rec: HourRecord = {
      hour,
      status: 'running',
      attempts: 0,
      owner: 'gone:1:x',
      leaseUntil: new Date(NOW + 3_600_000).toISOString(),
      fencingToken: 4,
      bronzeFingerprint: fingerprintKeys(keys),
      bronzeObjects: keys.length,
      sources: [],
      runs,
      updatedAt: new Date(NOW).toISOString(),
      ...owner,
    };
    await state.put(hourStateKey(name, hour), rec, { expectedVersion: 0 });
  }
  /** Starts a run in the fake (as the dead owner did) and forgets the call. */
  async function previousRun(glue: FakeGlue, job: string, states: JobRunState[]): Promise<string> {
    const id = await glue.plan(job, states).startJobRun(job, {});
    glue.calls.length = 0;
    return id;
  }

  it('takes an hour over at once when its owner on this host is gone, keeping the run that succeeded', async () => {
    const H = '2024-03-10T10';
    const key = await land(CARTS, H);
    const glue = new FakeGlue();
    const kept = await previousRun(glue, 'bronze_to_silver', ['SUCCEEDED']);
    const dead = spawnSync('true').pid;
    await orphan(H, [key], { ownerHost: hostname(), ownerPid: dead }, { bronzeToSilver: { [CARTS]: kept } });

    const result = await scheduler(glue, new Clock(NOW)).runOnce();

    expect(result).toMatchObject({ takenOver: [H], done: [H], skipped: [] });
    expect(glue.starts('bronze_to_silver')).toEqual([]);
    expect(glue.starts('silver_to_gold')).toHaveLength(1);
    expect(await record(H)).toMatchObject({
      status: 'done',
      fencingToken: 5,
      runs: { bronzeToSilver: { [CARTS]: kept } },
    });
    expect(await jobRuns('bronze_to_silver', 'kept')).toBe(1);
  });

  it('a takeover whose bronze gained objects since the dead owner claimed it runs every job again', async () => {
    const H = '2024-03-10T10';
    const first = await land(CARTS, H);
    const glue = new FakeGlue();
    const stale = await previousRun(glue, 'bronze_to_silver', ['SUCCEEDED']);
    const dead = spawnSync('true').pid;
    await orphan(
      H,
      [first],
      { ownerHost: hostname(), ownerPid: dead },
      { bronzeToSilver: { [CARTS]: stale } },
    );
    // More of the same source landed after the dead owner's run had read the hour.
    await land(CARTS, H, 'obj-2.json.gz');

    const result = await scheduler(glue, new Clock(NOW)).runOnce();

    expect(result).toMatchObject({ takenOver: [H], done: [H] });
    expect(glue.starts('bronze_to_silver').map((a) => a.source)).toEqual([CARTS]);
    expect(await jobRuns('bronze_to_silver', 'kept')).toBe(0);
    expect((await record(H))?.runs.bronzeToSilver[CARTS]).not.toBe(stale);
  });

  it('after the lease expires: waits for a recorded run still going, reruns a failed one', async () => {
    const H = '2024-03-10T10';
    const keys = [await land(CARTS, H), await land(PRODUCTS, H)];
    const glue = new FakeGlue();
    const going = await previousRun(glue, 'bronze_to_silver', ['RUNNING', 'RUNNING', 'SUCCEEDED']);
    const failed = await previousRun(glue, 'bronze_to_silver', ['FAILED']);
    await orphan(
      H,
      keys,
      { ownerHost: 'another-host', ownerPid: process.pid, leaseUntil: new Date(NOW - 1).toISOString() },
      { bronzeToSilver: { [CARTS]: going, [PRODUCTS]: failed } },
    );

    const result = await scheduler(glue, new Clock(NOW)).runOnce();

    expect(result).toMatchObject({ takenOver: [H], done: [H] });
    expect(glue.starts('bronze_to_silver').map((a) => a.source)).toEqual([PRODUCTS]);
    expect(glue.calls.filter((c) => c.op === 'getJobRun' && c.runId === going).length).toBeGreaterThan(2);
    expect(await jobRuns('bronze_to_silver', 'resumed')).toBe(1);
  });

  it('leaves a live owner alone until its lease expires, and says so', async () => {
    const H = '2024-03-10T10';
    const key = await land(CARTS, H);
    const glue = new FakeGlue();
    await orphan(H, [key], { ownerHost: hostname(), ownerPid: process.ppid }, { bronzeToSilver: {} });

    const result = await scheduler(glue, new Clock(NOW)).runOnce();

    expect(result.processed).toEqual([]);
    expect(result.skipped).toEqual([
      { hour: H, reason: 'leased', detail: expect.stringContaining(`pid ${process.ppid}`) },
    ]);
    expect(glue.calls).toEqual([]);
  });

  it('a heartbeat renews the leases while a step runs', async () => {
    const H = '2024-03-10T10';
    await land(CARTS, H);
    const clock = new Clock(NOW);
    let release!: () => void;
    const frozen = new Promise<void>((resolve) => {
      release = resolve;
    });
    const glue = new FakeGlue();
    glue.gate = () => frozen;
    const s = scheduler(glue, clock, { leaseSecs: 0.3, heartbeatIntervalSecs: 0.05 });
    const cycle = s.runOnce();
    // Polled, not slept: a loaded machine may take longer than a heartbeat to get there.
    const first = await vi.waitFor(
      async () => {
        const until = (await record(H))?.leaseUntil;
        if (until === undefined) throw new Error('not claimed yet');
        return until;
      },
      { timeout: 10_000, interval: 10 },
    );
    expect(Date.parse(first)).toBe(NOW + 300);
    clock.advance(60_000);
    await vi.waitFor(
      async () => expect(Date.parse((await record(H))!.leaseUntil!)).toBe(NOW + 60_000 + 300),
      { timeout: 10_000, interval: 20 },
    );
    release();
    expect((await cycle).done).toEqual([H]);
  });
});

describe('hourly scheduler: start and stop', () => {
  it('start() runs a cycle every checkIntervalSecs (fake timers)', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    // Two days ago: closed, and inside this test's listing window.
    const first = new Date(Date.now() - 2 * 86_400_000).toISOString().slice(0, 13);
    const second = new Date(Date.now() - 2 * 86_400_000 + 3_600_000).toISOString().slice(0, 13);
    await land(CARTS, first);
    const glue = new FakeGlue().plan('bronze_to_silver', ['SUCCEEDED']).plan('silver_to_gold', ['SUCCEEDED']);
    // Real clock (not faked); default sleep, i.e. the faked setTimeout.
    const s = createHourlyScheduler(
      {
        type: 'hourly',
        name,
        lakeUri,
        checkIntervalSecs: 60,
        lookbackHours: 3 * 24,
        jobPollIntervalSecs: 5,
        jobPollMaxIntervalSecs: 5,
      },
      { state, logger: silentLogger, executor: glue, lake, lakeConfig },
    );
    /** Lets real I/O finish while fake time stands still; fails after 5 real seconds. */
    const until = async (cond: () => boolean) => {
      const end = Date.now() + 5_000;
      while (!cond()) {
        if (Date.now() > end) throw new Error('condition not met');
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    await s.start();
    await until(() => glue.calls.length === 1 && vi.getTimerCount() === 1); // b2s started, poll sleep
    await vi.advanceTimersByTimeAsync(5_000);
    await until(() => glue.starts().length === 2 && vi.getTimerCount() === 1); // gold started
    await vi.advanceTimersByTimeAsync(5_000);
    await until(() => s.stats().hoursDone === 1 && vi.getTimerCount() === 1); // loop sleeping
    expect(s.stats().cycles).toBe(1);

    await land(CARTS, second);
    await vi.advanceTimersByTimeAsync(59_000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(s.stats().cycles).toBe(1);
    await vi.advanceTimersByTimeAsync(1_000);
    await until(() => s.stats().cycles === 2 && glue.starts().length === 3);
    expect(glue.starts()[2]).toMatchObject({ hours: second });

    await s.stop();
    await expect(s.runOnce()).rejects.toBeInstanceOf(SchedulerStoppedError);
  });

  it('stop() abandons a running job wait within a few seconds and releases the hour', async () => {
    const H = '2024-03-10T10';
    await land(CARTS, H);
    const glue = new FakeGlue().plan('bronze_to_silver', ['RUNNING']); // never ends
    const clock = new Clock(NOW);
    // Real short waits, so the loop is genuinely blocked in a job wait when stop() comes.
    const sleep = async (ms: number) => {
      clock.t += ms;
      await new Promise((resolve) => setTimeout(resolve, 5));
    };
    const s = scheduler(glue, clock, {}, { sleep, instanceId: 'task-a' });
    await s.start();
    await vi.waitFor(() => expect(glue.calls.filter((c) => c.op === 'getJobRun').length).toBeGreaterThan(2));
    expect(await record(H)).toMatchObject({ status: 'running', owner: 'task-a' });

    const t0 = Date.now();
    await s.stop();
    expect(Date.now() - t0).toBeLessThan(2_000);
    const rec = await record(H);
    expect(rec).toMatchObject({
      status: 'pending',
      attempts: 0,
      runs: { bronzeToSilver: { [CARTS]: 'jr_1' } },
    });
    expect(rec?.owner).toBeUndefined();
    expect(Date.parse(rec!.leaseUntil!)).toBeLessThanOrEqual(clock.t);
    expect(glue.closed).toBe(false); // the executor belongs to the caller
    const calls = glue.calls.length;
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(glue.calls.length).toBe(calls);

    // Another scheduler picks the released hour up at once (no lease to wait for).
    const b = scheduler(new FakeGlue(), clock, {}, { instanceId: 'task-b' });
    expect((await b.runOnce()).done).toEqual([H]);
  });

  it('renews the lease while a long job runs, so nobody takes the hour over', async () => {
    const H = '2024-03-10T10';
    await land(CARTS, H);
    const clock = new Clock(NOW);
    const states: JobRunState[] = [...Array(40).fill('RUNNING'), 'SUCCEEDED'];
    const glue = new FakeGlue().plan('bronze_to_silver', states);
    const leases: number[] = [];
    const b = scheduler(
      new FakeGlue(),
      clock,
      { leaseSecs: 300, jobPollMaxIntervalSecs: 60 },
      { instanceId: 'task-b' },
    );
    let bTried = 0;
    // Every poll of A, B tries to take the hour.
    const sleep = async (ms: number) => {
      await clock.sleep(ms);
      const rec = await record(H);
      if (rec?.leaseUntil) leases.push(Date.parse(rec.leaseUntil) - clock.t);
      bTried += (await b.runOnce()).processed.length;
    };
    const a = scheduler(
      glue,
      clock,
      { leaseSecs: 300, jobPollMaxIntervalSecs: 60 },
      { instanceId: 'task-a', sleep },
    );
    expect((await a.runOnce()).done).toEqual([H]);
    expect(clock.t - NOW).toBeGreaterThan(30 * 60_000); // the run took over half an hour
    expect(bTried).toBe(0);
    expect(Math.min(...leases)).toBeGreaterThan(0);
  });
});
