import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { MockAgent } from 'undici';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DeadLetterQueue } from '../../deadletter/index.js';
import type { Envelope } from '../../envelope.js';
import { ConfigError } from '../../errors.js';
import type { Lake } from '../../lake/index.js';
import type { Delivery, OutgoingRecord, Sink } from '../../producers/types.js';
import { FileStateStore, type StateStore, type Versioned } from '../../state/index.js';
import { registry } from '../../telemetry/index.js';
import { defaultSleep } from './fetch.js';
import {
  CircuitOpenError,
  closeSharedAgents,
  createHttpSource,
  type EtagState,
  etagKey,
  type HttpSource,
  type HttpSourceConfig,
  type HttpSourceDeps,
  HttpSourceSchema,
  http,
  type LegacySeenState,
  LruMap,
  legacySeenKey,
  MalformedResponseError,
  PollAbortedError,
} from './index.js';

// ---------------------------------------------------------------- helpers

const ORIGIN = 'https://api.test';
const GH = 'https://api.github.com';
const NOW = new Date('2024-05-01T12:00:00.000Z');

interface RawPair {
  path: string;
  status: number;
  rawHeaders: string[];
  response: unknown[];
}
const ghPairs = (
  JSON.parse(
    readFileSync(
      new URL('../../../fixtures/github/paginate-issues.raw-fixture.json', import.meta.url),
      'utf8',
    ),
  ) as RawPair[]
).slice(14, 19);
/** Reply headers of a recorded pair (without Content-Length/Connection: the body is re-serialised). */
function ghHeaders(pair: RawPair): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < pair.rawHeaders.length; i += 2) {
    const name = pair.rawHeaders[i]!.toLowerCase();
    if (name === 'content-length' || name === 'connection') continue;
    out[name] = out[name] === undefined ? pair.rawHeaders[i + 1]! : `${out[name]}, ${pair.rawHeaders[i + 1]}`;
  }
  return out;
}

/** An in-memory sink that records what it got; `gate` holds every write until resolved. */
class FakeSink implements Sink {
  readonly name = 'fake';
  readonly batches: OutgoingRecord[][] = [];
  gate: Promise<void> | undefined;
  deadLetter: (e: Envelope) => boolean = () => false;

  get envelopes(): Envelope[] {
    return this.batches.flat().map((r) => JSON.parse(Buffer.from(r.data).toString('utf8')) as Envelope);
  }
  async start(): Promise<void> {}
  abandon(): number {
    return 0;
  }
  async write(records: OutgoingRecord[]): Promise<Delivery[]> {
    this.batches.push(records);
    if (this.gate) await this.gate;
    return records.map((r) => {
      const e = JSON.parse(Buffer.from(r.data).toString('utf8')) as Envelope;
      return this.deadLetter(e) ? { status: 'dead_lettered', reason: 'test' } : { status: 'delivered' };
    });
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
  async ready(): Promise<boolean> {
    return true;
  }
}

/** A StateStore in memory (for the fake-timer test, which must not wait on disk I/O). */
class MemoryState implements StateStore {
  readonly data = new Map<string, Versioned<unknown>>();
  async get<T>(key: string): Promise<Versioned<T> | undefined> {
    return this.data.get(key) as Versioned<T> | undefined;
  }
  async put<T>(key: string, value: T): Promise<number> {
    const version = (this.data.get(key)?.version ?? 0) + 1;
    this.data.set(key, { value: structuredClone(value), version });
    return version;
  }
  async delete(key: string): Promise<void> {
    this.data.delete(key);
  }
  async close(): Promise<void> {}
}

const memLake: Lake = {
  uri: 'memory://',
  put: async () => undefined,
  get: async () => undefined,
  list: async () => [],
  ping: async () => true,
};

/** Sum of a metric's samples whose labels include `labels` (`suffix` picks a histogram series). */
async function metric(name: string, labels: Record<string, string>, suffix = ''): Promise<number> {
  const m = registry.getSingleMetric(name);
  if (m === undefined) throw new Error(`no metric ${name}`);
  const { values } = await m.get();
  return values
    .filter((v) => (suffix === '' ? true : (v as { metricName?: string }).metricName === name + suffix))
    .filter((v) => Object.entries(labels).every(([k, x]) => String(v.labels[k]) === x))
    .reduce((n, v) => n + v.value, 0);
}

let seq = 0;
const uniqueName = (p: string): string => `${p}-${process.pid}-${++seq}`;

let agent: MockAgent;
let dir: string;
let state: FileStateStore;
let sink: FakeSink;
let logs: Record<string, unknown>[];
let sleeps: number[];
const started: HttpSource[] = [];

function config(over: Record<string, unknown> = {}): HttpSourceConfig {
  return HttpSourceSchema.parse({
    name: uniqueName('t'),
    type: 'http',
    url: `${ORIGIN}/items`,
    idField: 'id',
    versionField: 'updated_at',
    conditionalRequests: false,
    retry: { maxAttempts: 1, baseDelayMs: 100, maxDelayMs: 10_000 },
    ...over,
  });
}

function build(cfg: HttpSourceConfig, over: Partial<HttpSourceDeps> = {}): HttpSource {
  const logger = pino({ level: 'debug' }, { write: (s: string) => void logs.push(JSON.parse(s)) });
  const source = createHttpSource(cfg, {
    sink,
    state,
    deadLetters: new DeadLetterQueue(memLake),
    logger,
    dispatcher: agent,
    now: () => NOW,
    sleep: async (ms) => void sleeps.push(ms),
    random: () => 0.5,
    ...over,
  });
  started.push(source);
  return source;
}

const json = { headers: { 'content-type': 'application/json' } };
const items = (...xs: [number, string][]) =>
  xs.map(([id, updated_at]) => ({ id, updated_at, name: `item ${id}` }));
const callCount = (): number => agent.getCallHistory()?.calls().length ?? 0;
const pollLines = (source: string) => logs.filter((l) => l.source === source && l.msg === 'poll completed');

beforeEach(async () => {
  agent = new MockAgent({ enableCallHistory: true });
  agent.disableNetConnect();
  dir = await mkdtemp(join(tmpdir(), 'poller-test-'));
  state = new FileStateStore(dir);
  sink = new FakeSink();
  logs = [];
  sleeps = [];
});

let releaseGate: (() => void) | undefined;

afterEach(async () => {
  vi.useRealTimers();
  releaseGate?.(); // never leave a held sink write behind a failed assertion
  releaseGate = undefined;
  await Promise.all(started.splice(0).map((s) => s.stop()));
  await agent.close();
  await state.close();
  await rm(dir, { recursive: true, force: true });
});

afterAll(async () => {
  await closeSharedAgents();
});

// ---------------------------------------------------------------- pagination through the source

describe('pagination', () => {
  const ghConfig = (over: Record<string, unknown> = {}) =>
    config({
      url: GH + ghPairs[0]!.path,
      pagination: { type: 'linkHeader' },
      eventTimeField: 'created_at',
      ...over,
    });
  const replyGitHub = () => {
    const pool = agent.get(GH);
    for (const pair of ghPairs) {
      pool
        .intercept({ path: pair.path, method: 'GET' })
        .reply(pair.status, pair.response, { headers: ghHeaders(pair) });
    }
  };

  it('linkHeader: follows the real GitHub Link headers through 5 pages, 13 issues', async () => {
    replyGitHub();
    const cfg = ghConfig();
    const source = build(cfg);
    const result = await source.pollOnce();
    expect(result).toMatchObject({ pages: 5, polled: 13, emitted: 13, unchanged: 0, notModified: false });
    expect(callCount()).toBe(5);
    expect(agent.pendingInterceptors()).toHaveLength(0);
    // One sink write per page, envelopes built from the id and updated_at.
    expect(sink.batches.map((b) => b.length)).toEqual([3, 3, 3, 3, 1]);
    const first = ghPairs[0]!.response[0] as { id: number; updated_at: string; created_at: string };
    expect(sink.envelopes[0]).toEqual({
      source: cfg.name,
      id: `${first.id}@${first.updated_at}`,
      ingested_at: NOW.toISOString(),
      event_time: new Date(first.created_at).toISOString(),
      payload: first,
    });
    expect(sink.batches[0]![0]!.partitionKey).toBe(`${cfg.name}:${first.id}`);
    expect(new Set(sink.envelopes.map((e) => e.id)).size).toBe(13);
    // One info line per poll, none per record.
    const lines = pollLines(cfg.name);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 30, pages: 5, polled: 13, emitted: 13, unchanged: 0 });
    expect(typeof lines[0]!.durationMs).toBe('number');
    expect(logs.filter((l) => l.source === cfg.name && (l.level as number) >= 30)).toHaveLength(1);
    expect(await metric('ingest_source_requests_total', { source: cfg.name, status: '200' })).toBe(5);
    expect(await metric('ingest_source_records_total', { source: cfg.name, outcome: 'polled' })).toBe(13);
    expect(await metric('ingest_source_records_total', { source: cfg.name, outcome: 'emitted' })).toBe(13);
    expect(await metric('ingest_source_last_success_timestamp_seconds', { source: cfg.name })).toBe(
      NOW.getTime() / 1000,
    );
    expect(await metric('ingest_source_poll_duration_seconds', { source: cfg.name }, '_count')).toBe(1);
  });

  it('linkHeader: stops at maxPages', async () => {
    replyGitHub();
    const cfg = ghConfig({ pagination: { type: 'linkHeader', maxPages: 2 } });
    const result = await build(cfg).pollOnce();
    expect(result).toMatchObject({ pages: 2, polled: 6 });
    expect(callCount()).toBe(2);
    expect(logs.some((l) => l.msg?.toString().includes('maxPages reached'))).toBe(true);
    expect(await metric('ingest_source_pages_truncated_total', { source: cfg.name })).toBe(1);
  });

  it('pageNumber: requests page=1,2,3 and stops on the short page', async () => {
    const pool = agent.get(ORIGIN);
    pool
      .intercept({ path: '/items?page=1&per_page=2' })
      .reply(200, { data: items([1, 'a'], [2, 'a']) }, json);
    pool
      .intercept({ path: '/items?page=2&per_page=2' })
      .reply(200, { data: items([3, 'a'], [4, 'a']) }, json);
    pool.intercept({ path: '/items?page=3&per_page=2' }).reply(200, { data: items([5, 'a']) }, json);
    const cfg = config({
      recordsPath: 'data',
      pagination: { type: 'pageNumber', sizeParam: 'per_page', pageSize: 2 },
    });
    const result = await build(cfg).pollOnce();
    expect(result).toMatchObject({ pages: 3, polled: 5, emitted: 5 });
    expect(sink.envelopes.map((e) => e.id)).toEqual(['1@a', '2@a', '3@a', '4@a', '5@a']);
    expect(agent.pendingInterceptors()).toHaveLength(0);
  });

  it('offsetLimit: requests offset=0,2,4 and stops on the empty page', async () => {
    const pool = agent.get(ORIGIN);
    pool.intercept({ path: '/items?offset=0&limit=2' }).reply(200, items([1, 'a'], [2, 'a']), json);
    pool.intercept({ path: '/items?offset=2&limit=2' }).reply(200, items([3, 'a'], [4, 'a']), json);
    pool.intercept({ path: '/items?offset=4&limit=2' }).reply(200, [], json);
    const cfg = config({ pagination: { type: 'offsetLimit', limit: 2 } });
    const result = await build(cfg).pollOnce();
    expect(result).toMatchObject({ pages: 3, polled: 4, emitted: 4 });
    expect(callCount()).toBe(3);
  });

  it('ETag: the second poll sends If-None-Match on every page but the last, which it fetches whole', async () => {
    replyGitHub();
    const cfg = ghConfig({ conditionalRequests: true });
    const source = build(cfg);
    await source.pollOnce();
    const stored = (await state.get<EtagState>(etagKey(cfg.name)))!.value;
    expect(Object.keys(stored)).toEqual(ghPairs.map((p) => GH + p.path));
    expect(stored[GH + ghPairs[0]!.path]!.etag).toBe(ghHeaders(ghPairs[0]!).etag);
    expect(stored[GH + ghPairs[4]!.path]!.next).toBeNull();

    // 304s carry no Link header: the stored `next` of each page leads on. The last page is fetched
    // without If-None-Match, since only its Link header would reveal pages added after it.
    const pool = agent.get(GH);
    for (const pair of ghPairs.slice(0, 4)) {
      pool
        .intercept({ path: pair.path, method: 'GET', headers: { 'if-none-match': ghHeaders(pair).etag! } })
        .reply(304, '');
    }
    const last = ghPairs[4]!;
    pool
      .intercept({
        path: last.path,
        method: 'GET',
        headers: (h: Record<string, string>) =>
          !Object.keys(h).some((k) => k.toLowerCase() === 'if-none-match'),
      })
      .reply(last.status, last.response, { headers: ghHeaders(last) });
    const second = await source.pollOnce();
    expect(second).toMatchObject({
      pages: 5,
      notModifiedPages: 4,
      notModified: false,
      polled: 1,
      emitted: 0,
      unchanged: 1,
    });
    expect(agent.pendingInterceptors()).toHaveLength(0);
    expect(await metric('ingest_source_requests_total', { source: cfg.name, status: '304' })).toBe(4);
    expect(source.stats()).toMatchObject({ polls: 2, completedPolls: 2, notModifiedPages: 4, emitted: 13 });
  });

  it('a non-array at recordsPath is a MalformedResponseError', async () => {
    agent
      .get(ORIGIN)
      .intercept({ path: '/items' })
      .reply(200, { data: { items: 'nope' } }, json);
    const cfg = config({ recordsPath: 'data.items' });
    const err = await build(cfg)
      .pollOnce()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedResponseError);
    expect((err as Error).message).toMatch(/expected an array at recordsPath "data.items" but found string/);
    expect(sink.batches).toHaveLength(0);
    expect(
      await metric('ingest_source_errors_total', { source: cfg.name, class: 'malformed_response' }),
    ).toBe(1);
  });
});

// ---------------------------------------------------------------- change detection and state

describe('change detection', () => {
  const reply = (...xs: [number, string][]) =>
    agent
      .get(ORIGIN)
      .intercept({ path: '/items' })
      .reply(200, items(...xs), json);

  it('emits new and changed records only, and remembers them across instances', async () => {
    const cfg = config();
    const source = build(cfg);
    reply([1, 'a'], [2, 'a'], [3, 'a']);
    expect(await source.pollOnce()).toMatchObject({ polled: 3, emitted: 3, unchanged: 0 });

    reply([1, 'a'], [2, 'a'], [3, 'a']);
    expect(await source.pollOnce()).toMatchObject({ polled: 3, emitted: 0, unchanged: 3 });
    expect(sink.batches).toHaveLength(1); // nothing written at all

    reply([1, 'a'], [2, 'b'], [3, 'a']);
    expect(await source.pollOnce()).toMatchObject({ polled: 3, emitted: 1, unchanged: 2 });
    expect(sink.envelopes.at(-1)!.id).toBe('2@b');
    expect(await metric('ingest_source_records_total', { source: cfg.name, outcome: 'unchanged' })).toBe(5);

    const persisted = await state.seen.getMany(cfg.name, ['1', '2', '3', '4']);
    expect(persisted).toEqual(
      new Map([
        ['1', '1@a'],
        ['2', '2@b'],
        ['3', '3@a'],
      ]),
    );

    // A new instance (new process) on the same state directory starts from the persisted map.
    await source.stop();
    const again = build(cfg, { state: new FileStateStore(dir) });
    reply([1, 'a'], [2, 'b'], [3, 'a'], [4, 'a']);
    expect(await again.pollOnce()).toMatchObject({ polled: 4, emitted: 1, unchanged: 3 });
    expect(sink.envelopes.at(-1)!.id).toBe('4@a');
  });

  it('emit: all emits every record every poll', async () => {
    const source = build(config({ emit: 'all' }));
    reply([1, 'a'], [2, 'a']);
    reply([1, 'a'], [2, 'a']);
    expect(await source.pollOnce()).toMatchObject({ emitted: 2, unchanged: 0 });
    expect(await source.pollOnce()).toMatchObject({ emitted: 2, unchanged: 0 });
    expect(sink.envelopes.map((e) => e.id)).toEqual(['1@a', '2@a', '1@a', '2@a']);
  });

  it('a record seen twice in one response is emitted once', async () => {
    const source = build(config());
    reply([1, 'a'], [1, 'a'], [2, 'a']);
    expect(await source.pollOnce()).toMatchObject({ polled: 3, emitted: 2, unchanged: 1 });
  });

  it('dead-lettered deliveries count as acknowledged: counted, and not re-sent', async () => {
    const cfg = config();
    const source = build(cfg);
    sink.deadLetter = (e) => e.id === '2@a';
    reply([1, 'a'], [2, 'a']);
    expect(await source.pollOnce()).toMatchObject({ emitted: 1, deadLettered: 1 });
    reply([1, 'a'], [2, 'a']);
    expect(await source.pollOnce()).toMatchObject({ emitted: 0, deadLettered: 0, unchanged: 2 });
    expect(await metric('ingest_source_records_total', { source: cfg.name, outcome: 'dead_lettered' })).toBe(
      1,
    );
    expect(source.stats()).toMatchObject({ polled: 4, emitted: 1, deadLettered: 1, unchanged: 2 });
  });

  it('maxTrackedIds bounds only the in-memory cache: the store keeps every entity, nothing is re-emitted', async () => {
    for (const maxTrackedIds of [2, 0]) {
      const cfg = config({ maxTrackedIds });
      const source = build(cfg);
      reply([1, 'a'], [2, 'a'], [3, 'a']);
      expect(await source.pollOnce()).toMatchObject({ emitted: 3 });
      reply([1, 'a'], [2, 'a'], [3, 'a']);
      expect(await source.pollOnce()).toMatchObject({ emitted: 0, unchanged: 3 });
      expect(state.seen.count(cfg.name)).toBe(3);
    }
  });

  it('LruMap keeps the most recently used entries (two generations of max / 2)', () => {
    const m = new LruMap<string, number>(4);
    m.set('a', 1);
    m.set('b', 2); // the young generation is full (2): it becomes the old one
    expect(m.get('a')).toBe(1); // a moves back to the young generation
    m.set('c', 3); // young {a, c} is full: it becomes the old one, {a, b} is dropped
    expect(m.get('b')).toBeUndefined();
    expect(m.get('a')).toBe(1);
    m.set('a', 9);
    expect(m.entries()).toEqual([
      ['c', 3],
      ['a', 9],
    ]);
    expect(m.size).toBe(2);
    const none = new LruMap<string, number>(0);
    none.set('x', 1);
    expect(none.get('x')).toBeUndefined();
  });

  it('awaits the sink before persisting: while deliveries are pending, neither seen-map nor ETag is written', async () => {
    const cfg = config({ conditionalRequests: true });
    agent
      .get(ORIGIN)
      .intercept({ path: '/items' })
      .reply(200, items([1, 'a']), { headers: { 'content-type': 'application/json', etag: '"e1"' } });
    let release!: () => void;
    sink.gate = new Promise<void>((r) => {
      release = r;
    });
    releaseGate = release;
    const source = build(cfg);
    let settled = false;
    const poll = source.pollOnce().finally(() => {
      settled = true;
    });
    await expect.poll(() => sink.batches.length).toBe(1);
    await new Promise((r) => setTimeout(r, 100));
    expect(settled).toBe(false);
    const reader = new FileStateStore(dir);
    expect(await reader.seen.getMany(cfg.name, ['1'])).toEqual(new Map());
    expect(await reader.get(etagKey(cfg.name))).toBeUndefined();

    // stop() waits for the in-flight poll to finish delivering.
    let stopped = false;
    const stopping = source.stop().then(() => {
      stopped = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(stopped).toBe(false);

    release();
    await expect(poll).resolves.toMatchObject({ emitted: 1 });
    await stopping;
    expect(await reader.seen.getMany(cfg.name, ['1'])).toEqual(new Map([['1', '1@a']]));
    await reader.close();
    expect((await reader.get<EtagState>(etagKey(cfg.name)))!.value).toEqual({
      [`${ORIGIN}/items`]: { etag: '"e1"', next: null },
    });
    await expect(source.pollOnce()).rejects.toThrow(/stopped/);
  });
});

// ---------------------------------------------------------------- pipelined pages (issue 8)

describe('pipelined pages', () => {
  /** Three pages of two, then one; each write waits for its own release. */
  const threePages = () => {
    const pool = agent.get(ORIGIN);
    pool.intercept({ path: '/items?page=1&per_page=2' }).reply(200, items([1, 'a'], [2, 'a']), json);
    pool.intercept({ path: '/items?page=2&per_page=2' }).reply(200, items([3, 'a'], [4, 'a']), json);
    pool.intercept({ path: '/items?page=3&per_page=2' }).reply(200, items([5, 'a']), json);
    return config({ pagination: { type: 'pageNumber', sizeParam: 'per_page', pageSize: 2 } });
  };
  const gatedWrites = () => {
    const releases: ((ok: boolean) => void)[] = [];
    const write = sink.write.bind(sink);
    sink.write = async (records) => {
      const ok = await new Promise<boolean>((r) => releases.push(r));
      if (!ok) throw new Error('sink failed this page');
      return write(records);
    };
    return releases;
  };
  const stored = (name: string) => state.seen.getMany(name, ['1', '2', '3', '4', '5']);

  it('fetches the next pages while earlier ones wait for the sink, and stores acknowledgements in page order', async () => {
    const cfg = threePages();
    const releases = gatedWrites();
    const poll = build(cfg).pollOnce();
    // Every page is handed to the sink before the first one is acknowledged.
    await expect.poll(() => releases.length).toBe(3);
    expect(agent.pendingInterceptors()).toHaveLength(0);
    releases[2]!(true);
    releases[1]!(true);
    await new Promise((r) => setTimeout(r, 50));
    // Pages 2 and 3 are acknowledged, page 1 is not: nothing may be stored yet.
    expect(await stored(cfg.name)).toEqual(new Map());
    releases[0]!(true);
    await expect(poll).resolves.toMatchObject({ pages: 3, polled: 5, emitted: 5 });
    expect((await stored(cfg.name)).size).toBe(5);
  });

  it('maxPagesInFlight: 1 is page-serial', async () => {
    const cfg = { ...threePages(), maxPagesInFlight: 1 };
    const releases = gatedWrites();
    const poll = build(cfg).pollOnce();
    await expect.poll(() => releases.length).toBe(1);
    await new Promise((r) => setTimeout(r, 50));
    expect(releases).toHaveLength(1);
    releases[0]!(true);
    await expect.poll(() => releases.length).toBe(2);
    releases[1]!(true);
    await expect.poll(() => releases.length).toBe(3);
    releases[2]!(true);
    await expect(poll).resolves.toMatchObject({ pages: 3, emitted: 5 });
  });

  it('after a page fails, no later page is stored even when the sink acknowledged it', async () => {
    const cfg = threePages();
    const releases = gatedWrites();
    const poll = build(cfg).pollOnce();
    await expect.poll(() => releases.length).toBe(3);
    releases[1]!(true);
    releases[2]!(true);
    releases[0]!(false);
    await expect(poll).rejects.toThrow(/sink failed this page/);
    expect(await stored(cfg.name)).toEqual(new Map());
  });
});

// ---------------------------------------------------------------- entity keys (issue 7)

describe('entity keys and per-entity state', () => {
  const replyRows = (rows: unknown[]) =>
    agent.get(ORIGIN).intercept({ path: '/items' }).reply(200, rows, json);
  const warnings = (source: string, event: string) =>
    logs.filter((l) => l.source === source && l.event === event && l.level === 40);

  it('1,001 rows sharing one id: each emitted once, then nothing on later polls; one warning per page, counted', async () => {
    const cfg = config({ versionField: undefined });
    const source = build(cfg);
    // A Socrata-like page: `id` is the same counter id on every row, the rows differ.
    const rows = Array.from({ length: 1001 }, (_, i) => ({ id: 1, station: `s${i}`, value: i }));
    replyRows(rows);
    expect(await source.pollOnce()).toMatchObject({ polled: 1001, emitted: 1001, unchanged: 0 });
    for (let poll = 0; poll < 2; poll++) {
      replyRows(rows);
      expect(await source.pollOnce()).toMatchObject({ polled: 1001, emitted: 0, unchanged: 1001 });
    }
    expect(new Set(sink.envelopes.map((e) => e.id)).size).toBe(1001);
    expect(warnings(cfg.name, 'duplicate_keys')).toHaveLength(3); // one per page
    expect(warnings(cfg.name, 'duplicate_keys')[0]).toMatchObject({ duplicateKeys: 1, duplicateRows: 1000 });
    expect(await metric('ingest_source_duplicate_keys_total', { source: cfg.name })).toBe(3000);

    // A changed row is emitted once more; identical copies in one page are one record.
    const changed = [...rows.slice(0, 1000), { id: 1, station: 's1000', value: -1 }, rows[0]];
    replyRows(changed);
    expect(await source.pollOnce()).toMatchObject({ polled: 1002, emitted: 1, unchanged: 1001 });
  });

  it('identical copies of one record in a page are not duplicates: no warning', async () => {
    const cfg = config();
    const source = build(cfg);
    replyRows(items([1, 'a'], [1, 'a']));
    expect(await source.pollOnce()).toMatchObject({ emitted: 1, unchanged: 1 });
    expect(warnings(cfg.name, 'duplicate_keys')).toHaveLength(0);
  });

  it('a composite idField keys each entity by all its parts; a changed part is another entity', async () => {
    const cfg = config({ idField: ['country', 'station'], versionField: 'v' });
    const source = build(cfg);
    const rows = [
      { country: 'US', station: 1, v: 1 },
      { country: 'US', station: 2, v: 1 },
      { country: 'F|R', station: 1, v: 1 },
    ];
    replyRows(rows);
    expect(await source.pollOnce()).toMatchObject({ emitted: 3 });
    expect(sink.envelopes.map((e) => e.id)).toEqual(['US|1@1', 'US|2@1', 'F%7CR|1@1']);
    expect(sink.batches[0]!.map((r) => r.partitionKey)).toEqual(
      ['US|1', 'US|2', 'F%7CR|1'].map((k) => `${cfg.name}:${k}`),
    );
    replyRows([...rows.slice(0, 2), { country: 'F|R', station: 1, v: 2 }]);
    expect(await source.pollOnce()).toMatchObject({ emitted: 1, unchanged: 2 });
    expect(await state.seen.getMany(cfg.name, ['F%7CR|1'])).toEqual(new Map([['F%7CR|1', 'F%7CR|1@2']]));
    expect(warnings(cfg.name, 'duplicate_keys')).toHaveLength(0);
  });

  it('an idField or versionField that resolves to nothing logs one warning per page and is counted per field', async () => {
    const cfg = config({ idField: 'uuid', versionField: 'rev' });
    const source = build(cfg);
    replyRows([
      { id: 1, rev: 3 },
      { id: 2, uuid: 'b' },
      { id: 3, uuid: 'c', rev: 1 },
    ]);
    expect(await source.pollOnce()).toMatchObject({ emitted: 3 });
    const warned = warnings(cfg.name, 'key_fields_missing');
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatchObject({ rows: 3, missing: { uuid: 1, rev: 1 } });
    expect(await metric('ingest_source_missing_key_fields_total', { source: cfg.name, field: 'uuid' })).toBe(
      1,
    );
    expect(await metric('ingest_source_missing_key_fields_total', { source: cfg.name, field: 'rev' })).toBe(
      1,
    );
    const ids = sink.envelopes.map((e) => e.id);
    expect(ids[0]).toMatch(/^sha256:[0-9a-f]{64}$/); // no key: content hash, its own entity
    expect(ids[1]).toMatch(/^b@sha256:[0-9a-f]{32}$/); // no version: key + content hash
    expect(ids[2]).toBe('c@1');
  });

  it('when sink.write rejects, no state is written and the records are emitted again next poll', async () => {
    const cfg = config();
    const source = build(cfg);
    const write = sink.write.bind(sink);
    sink.write = async () => {
      throw new Error('sink closed');
    };
    replyRows(items([1, 'a'], [2, 'a']));
    await expect(source.pollOnce()).rejects.toThrow(/sink closed/);
    expect(await state.seen.getMany(cfg.name, ['1', '2'])).toEqual(new Map());
    sink.write = write;
    replyRows(items([1, 'a'], [2, 'a']));
    expect(await source.pollOnce()).toMatchObject({ emitted: 2, unchanged: 0 });
    expect(state.seen.count(cfg.name)).toBe(2);
  });

  it('imports a legacy whole-map seen value once, deletes it, and emits only what changed', async () => {
    const cfg = config();
    await state.put<LegacySeenState>(legacySeenKey(cfg.name), {
      entries: [
        ['1', '1@a'],
        ['2', '2@a'],
      ],
    });
    const source = build(cfg);
    replyRows(items([1, 'a'], [2, 'b'], [3, 'a']));
    expect(await source.pollOnce()).toMatchObject({ emitted: 2, unchanged: 1 });
    expect(sink.envelopes.map((e) => e.id)).toEqual(['2@b', '3@a']);
    expect(await state.get(legacySeenKey(cfg.name))).toBeUndefined();
    expect(logs.filter((l) => l.event === 'seen_state_migrated')).toMatchObject([{ entries: 2 }]);
  });
});

// ---------------------------------------------------------------- retries, breaker, failures

describe('retries and failures', () => {
  const retrying = { retry: { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 10_000 } };

  it('honours Retry-After (delay-seconds) on 429', async () => {
    const cfg = config(retrying);
    const pool = agent.get(ORIGIN);
    pool.intercept({ path: '/items' }).reply(429, 'rate limited', { headers: { 'retry-after': '3' } });
    pool.intercept({ path: '/items' }).reply(200, items([1, 'a']), json);
    const result = await build(cfg).pollOnce();
    expect(result.emitted).toBe(1);
    expect(sleeps).toEqual([3_000]);
    expect(await metric('ingest_source_retries_total', { source: cfg.name })).toBe(1);
    expect(await metric('ingest_source_requests_total', { source: cfg.name, status: '429' })).toBe(1);
    // A retry is not an error.
    expect(await metric('ingest_source_errors_total', { source: cfg.name })).toBe(0);
  });

  it('honours Retry-After (HTTP-date) on 503, capped at maxDelayMs', async () => {
    const cfg = config({ retry: { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 8_000 } });
    const pool = agent.get(ORIGIN);
    const inFive = new Date(NOW.getTime() + 5_000).toUTCString();
    const inAMinute = new Date(NOW.getTime() + 60_000).toUTCString();
    pool.intercept({ path: '/items' }).reply(503, 'busy', { headers: { 'retry-after': inFive } });
    pool.intercept({ path: '/items' }).reply(503, 'busy', { headers: { 'retry-after': inAMinute } });
    pool.intercept({ path: '/items' }).reply(200, items([1, 'a']), json);
    await build(cfg).pollOnce();
    expect(sleeps).toEqual([5_000, 8_000]);
  });

  it('uses jittered exponential backoff on a 500 (random 0.5 → half the ceiling)', async () => {
    const cfg = config(retrying);
    const pool = agent.get(ORIGIN);
    pool.intercept({ path: '/items' }).reply(500, 'oops').times(2);
    pool.intercept({ path: '/items' }).reply(200, items([1, 'a']), json);
    await build(cfg).pollOnce();
    expect(sleeps).toEqual([50, 100]);
  });

  it('a 5xx storm opens the breaker: the metric shows open and polls fail fast without requests', async () => {
    const cfg = config({
      retry: { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 100 },
      breaker: { errorThresholdPercentage: 50, volumeThreshold: 3, resetTimeoutMs: 200 },
    });
    const pool = agent.get(ORIGIN);
    pool.intercept({ path: '/items' }).reply(503, 'down').times(6);
    const source = build(cfg);
    for (let i = 0; i < 3; i++) await expect(source.pollOnce()).rejects.toMatchObject({ status: 503 });
    expect(source.breakerState()).toBe('open');
    expect(await metric('ingest_source_breaker_state', { source: cfg.name })).toBe(2);
    expect(callCount()).toBe(6);

    const err = await source.pollOnce().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CircuitOpenError);
    expect(callCount()).toBe(6); // no request while open
    expect(await metric('ingest_source_errors_total', { source: cfg.name, class: 'http_5xx' })).toBe(3);
    expect(await metric('ingest_source_errors_total', { source: cfg.name, class: 'circuit_open' })).toBe(1);
    expect(await metric('ingest_source_retries_total', { source: cfg.name })).toBe(3);
    expect(await metric('ingest_source_requests_total', { source: cfg.name, status: '503' })).toBe(6);
    expect(
      logs.filter((l) => l.source === cfg.name && String(l.msg).startsWith('circuit breaker opened')),
    ).toHaveLength(1);
    expect(source.stats()).toMatchObject({ polls: 4, completedPolls: 0, errors: 4, failedPolls: 4 });

    // After resetTimeoutMs the breaker lets one trial poll through; its success closes it.
    await new Promise((r) => setTimeout(r, 300));
    expect(source.breakerState()).toBe('halfOpen');
    expect(await metric('ingest_source_breaker_state', { source: cfg.name })).toBe(1);
    pool.intercept({ path: '/items' }).reply(200, items([1, 'a']), json);
    await source.pollOnce();
    expect(source.breakerState()).toBe('closed');
    expect(await metric('ingest_source_breaker_state', { source: cfg.name })).toBe(0);
  });

  it('stop() abandons a pending backoff at once; the abandoned poll is not counted as an error', async () => {
    const cfg = config({ retry: { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 60_000 } });
    agent
      .get(ORIGIN)
      .intercept({ path: '/items' })
      .reply(503, 'busy', { headers: { 'retry-after': '30' } });
    const source = build(cfg, { sleep: defaultSleep });
    const poll = source.pollOnce().catch((e: unknown) => e);
    await expect.poll(() => callCount()).toBe(1);
    const t0 = Date.now();
    await source.stop();
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(await poll).toBeInstanceOf(PollAbortedError);
    expect(await metric('ingest_source_errors_total', { source: cfg.name })).toBe(0);
    expect(source.stats()).toMatchObject({ polls: 1, errors: 0 });
  });

  it('a body over maxResponseBytes fails the poll with response_too_large, nothing emitted', async () => {
    const cfg = config({ maxResponseBytes: 100 });
    agent
      .get(ORIGIN)
      .intercept({ path: '/items' })
      .reply(200, items([1, 'x'.repeat(200)]), json);
    await expect(build(cfg).pollOnce()).rejects.toMatchObject({ failureClass: 'response_too_large' });
    expect(sink.batches).toHaveLength(0);
    expect(
      await metric('ingest_source_errors_total', { source: cfg.name, class: 'response_too_large' }),
    ).toBe(1);
  });

  it('a missing auth environment variable is a ConfigError; a present one is sent', async () => {
    const cfg = config({ auth: { type: 'bearer', tokenEnv: 'POLLER_TEST_TOKEN' } });
    expect(() => build(cfg, { env: {} })).toThrow(ConfigError);
    agent
      .get(ORIGIN)
      .intercept({ path: '/items', headers: { authorization: 'Bearer s3cret' } })
      .reply(200, items([1, 'a']), json);
    const source = build(cfg, { env: { POLLER_TEST_TOKEN: 's3cret' } });
    expect(await source.pollOnce()).toMatchObject({ emitted: 1 });
    expect(JSON.stringify(logs)).not.toContain('s3cret');
  });

  it('the registry entry builds the same source', () => {
    expect(http.type).toBe('http');
    expect(http.schema).toBe(HttpSourceSchema);
    const s = http.create(config(), {
      sink,
      state,
      deadLetters: new DeadLetterQueue(memLake),
      logger: pino({ level: 'silent' }),
      dispatcher: agent,
    });
    started.push(s as HttpSource);
    expect(s.name).toMatch(/^t-/);
  });
});

describe('a hanging upstream (loopback server, real undici Agent)', () => {
  let server: Server;
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('hits headersTimeoutMs, retries, then fails the poll with class timeout', async () => {
    let requests = 0;
    server = createServer(() => {
      requests++; // never answers
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const cfg = config({
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/items`,
      headersTimeoutMs: 100,
      retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 10 },
    });
    // No dispatcher: the shared keep-alive agent.
    const source = build(cfg, { dispatcher: undefined });
    const err = await source.pollOnce().catch((e: unknown) => e);
    expect(err).toMatchObject({ failureClass: 'timeout', phase: 'headers', retriable: true });
    expect(requests).toBe(2);
    expect(await metric('ingest_source_errors_total', { source: cfg.name, class: 'timeout' })).toBe(1);
    expect(await metric('ingest_source_requests_total', { source: cfg.name, status: 'timeout' })).toBe(2);
    const warn = logs.find((l) => l.source === cfg.name && l.msg === 'poll failed');
    expect(warn).toMatchObject({ level: 40, class: 'timeout' });
  });
});

// ---------------------------------------------------------------- the schedule

describe('start(): continuous polling (fake timers)', () => {
  it('polls at once, then every intervalSecs + jitter; an HTML failure is logged and counted and the loop goes on', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const settle = async (ms = 0): Promise<void> => {
      await vi.advanceTimersByTimeAsync(ms);
      // bottleneck yields with short timers: step the clock 2 ms at a time while I/O settles.
      for (let i = 0; i < 30; i++) {
        await new Promise((r) => setImmediate(r));
        await vi.advanceTimersByTimeAsync(2);
      }
    };
    const mem = new MemoryState();
    const cfg = config({ intervalSecs: 60, jitterSecs: 10 });
    const pool = agent.get(ORIGIN);
    pool.intercept({ path: '/items' }).reply(200, '<html><body>Service Unavailable</body></html>', {
      headers: { 'content-type': 'text/html' },
    });
    pool.intercept({ path: '/items' }).reply(200, items([1, 'a'], [2, 'a']), json);
    pool.intercept({ path: '/items' }).reply(200, items([1, 'a'], [2, 'a']), json);
    const source = build(cfg, { state: mem });
    source.start();
    source.start(); // idempotent
    await settle();
    expect(source.stats()).toMatchObject({ polls: 1, errors: 1, completedPolls: 0 });
    const failed = logs.filter((l) => l.source === cfg.name && l.msg === 'poll failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ level: 50, class: 'malformed_response' });
    expect(String(failed[0]!.message)).toContain('text/html');
    expect(
      await metric('ingest_source_errors_total', { source: cfg.name, class: 'malformed_response' }),
    ).toBe(1);

    // random() = 0.5 → next start 60 s + 5 s after the first.
    await settle(64_800);
    expect(source.stats().polls).toBe(1);
    await settle(200);
    expect(source.stats()).toMatchObject({ polls: 2, completedPolls: 1, emitted: 2 });
    expect(mem.data.get(`seen/${cfg.name}/1`)?.value).toBe('1@a'); // one key per entity (KeyValueSeenStore)

    await settle(65_000);
    expect(source.stats()).toMatchObject({ polls: 3, completedPolls: 2, emitted: 2, unchanged: 2 });

    await source.stop();
    await settle(200_000);
    expect(source.stats().polls).toBe(3);
  });
});
