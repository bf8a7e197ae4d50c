/**
 * Incremental sync against a local API over real sockets: the cursor is sent as `since`, with a
 * lookback; body-cursor and next-URL-in-body pagination; and a task killed mid-poll (its sink never
 * answers again, nothing runs after that) is resumed by a new task from the last checkpoint with no
 * gap. State lives in the file state store, as with `ingest local`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AckSink } from '../../../test/support/ack-sink.js';
import { DeadLetterQueue } from '../../deadletter/index.js';
import type { Envelope } from '../../envelope.js';
import type { Lake } from '../../lake/index.js';
import { silentLogger } from '../../log.js';
import type { Sink } from '../../producers/types.js';
import { FileStateStore } from '../../state/index.js';
import { cursorKey, formatCursor, readCursor } from './cursor.js';
import { createHttpSource, HttpSourceSchema } from './index.js';

const T0 = Date.parse('2026-12-01T00:00:00Z');
/** Record i was updated i minutes after T0. */
const rows = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    id: i + 1,
    updated_at: new Date(T0 + (i + 1) * 60_000).toISOString(),
  }));

let server: Server;
let origin: string;
let data: { id: number; updated_at: string }[];
let paths: string[];

beforeAll(async () => {
  // Records with updated_at >= since, ascending, 5 per page: `/items` pages with a body token
  // (`meta.next`), `/links` with the next page's URL in the body.
  server = createServer((req, res) => {
    paths.push(req.url ?? '');
    const u = new URL(req.url ?? '/', 'http://x');
    const since = u.searchParams.get('since');
    const from = Number(u.searchParams.get('after') ?? u.searchParams.get('offset') ?? 0);
    const all = data.filter((r) => since === null || Date.parse(r.updated_at) >= Date.parse(since));
    const page = all.slice(from, from + 5);
    const more = from + 5 < all.length;
    res.setHeader('content-type', 'application/json');
    if (u.pathname === '/links') {
      const next = new URL(req.url ?? '/', 'http://x');
      next.searchParams.set('offset', String(from + 5));
      res.end(JSON.stringify({ results: page, next: more ? `${next.pathname}${next.search}` : null }));
    } else {
      res.end(JSON.stringify({ data: page, meta: { next: more ? String(from + 5) : null } }));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

let dir: string;
beforeEach(async () => {
  data = rows(23);
  paths = [];
  dir = await mkdtemp(join(tmpdir(), 'cursor-test-'));
  return () => rm(dir, { recursive: true, force: true });
});

const noLake: Lake = {
  uri: 'memory://',
  put: async () => undefined,
  get: async () => undefined,
  list: async () => [],
  ping: async () => true,
};

function build(sink: Sink, over: Record<string, unknown> = {}) {
  const config = HttpSourceSchema.parse({
    name: 'inc.items',
    type: 'http',
    url: `${origin}/items`,
    recordsPath: 'data',
    idField: 'id',
    versionField: 'updated_at',
    maxPagesInFlight: 1,
    pagination: { type: 'bodyCursor', cursorPath: 'meta.next', param: 'after' },
    cursor: { field: 'updated_at', query: { since: '{{cursor}}' }, lookbackSecs: 60, checkpoint: 'page' },
    ...over,
  });
  const state = new FileStateStore(dir);
  const source = createHttpSource(config, {
    sink,
    state,
    deadLetters: new DeadLetterQueue(noLake),
    logger: silentLogger,
  });
  return { source, state };
}

const envelopes = (s: AckSink): Envelope[] => s.records.map((r) => JSON.parse(r.data.toString()) as Envelope);
const ids = (s: AckSink) => envelopes(s).map((r) => (r.payload as { id: number }).id);

describe('incremental sync', () => {
  it('sends the stored cursor minus the lookback, carries it in the envelope, and emits only what is new', async () => {
    const sink = new AckSink();
    const { source } = build(sink);
    await source.pollOnce();
    expect(ids(sink)).toEqual(data.map((r) => r.id));
    expect(paths[0]).toBe('/items'); // no cursor yet
    expect(paths[1]).toBe('/items?after=5');
    data.push({ id: 24, updated_at: new Date(T0 + 24 * 60_000).toISOString() });
    paths = [];
    await source.pollOnce();
    // Cursor = record 23's time; lookback 60 s re-reads record 22, which change detection drops.
    const since = new Date(T0 + 22 * 60_000).toISOString();
    expect(paths[0]).toBe(`/items?since=${encodeURIComponent(since)}`);
    expect(ids(sink).slice(23)).toEqual([24]);
    expect(envelopes(sink).at(-1)!.cursor).toBe(since);
    await source.stop();
  });

  it('a task killed mid-poll is resumed by another from its last checkpoint, with no gap', async () => {
    // Task 1: pages 1 and 2 acknowledged, then its sink never answers (the task is gone).
    const killed = new AckSink(2);
    const t1 = build(killed);
    void t1.source.pollOnce().catch(() => undefined);
    for (let i = 0; i < 200 && (await t1.state.get(cursorKey('inc.items')))?.value === undefined; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 200)); // let it reach the hung page
    const checkpoint = (await t1.state.get<{ value: number }>(cursorKey('inc.items')))!.value.value;
    expect(checkpoint).toBe(T0 + 10 * 60_000); // the last record of page 2, never further
    // Task 2, same state: resumes at the checkpoint (minus the lookback).
    const resumed = new AckSink();
    const t2 = build(resumed);
    paths = [];
    await t2.source.pollOnce();
    expect(paths[0]).toBe(`/items?since=${encodeURIComponent(new Date(checkpoint - 60_000).toISOString())}`);
    const landed = new Set([...ids(killed), ...ids(resumed)]);
    expect([...landed].sort((a, b) => a - b)).toEqual(data.map((r) => r.id)); // no gap
    expect(Math.min(...ids(resumed))).toBe(11); // nothing after the checkpoint was skipped, nothing before re-sent
    await t2.source.stop();
  });

  it('checkpoint: poll stores nothing until the whole poll was acknowledged', async () => {
    const killed = new AckSink(2);
    const t1 = build(killed, {
      cursor: { field: 'updated_at', query: { since: '{{cursor}}' }, checkpoint: 'poll' },
    });
    void t1.source.pollOnce().catch(() => undefined);
    while (paths.length < 3) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200));
    expect(await t1.state.get(cursorKey('inc.items'))).toBeUndefined();
  });

  it('next-URL-in-body pagination, and an initial cursor', async () => {
    const sink = new AckSink();
    const { source } = build(sink, {
      url: `${origin}/links`,
      recordsPath: 'results',
      pagination: { type: 'nextUrlInBody', nextUrlPath: 'next' },
      cursor: {
        field: 'updated_at',
        query: { since: '{{cursor}}' },
        format: 'isoSeconds',
        initial: new Date(T0 + 20 * 60_000).toISOString(),
      },
    });
    await source.pollOnce();
    expect(paths).toEqual([`/links?since=2026-12-01T00%3A20%3A00Z`]);
    expect(ids(sink)).toEqual([20, 21, 22, 23]);
    await source.stop();
  });
});

describe('cursor values', () => {
  it('reads ISO strings, epoch seconds and milliseconds, and numbers; writes each format', () => {
    expect(readCursor('2026-12-01T00:00:00Z', 'timestamp')).toBe(T0);
    expect(readCursor(T0 / 1000, 'timestamp')).toBe(T0);
    expect(readCursor(T0, 'timestamp')).toBe(T0);
    expect(readCursor('42', 'number')).toBe(42);
    expect(readCursor(null, 'number')).toBeUndefined();
    const f = (format: 'iso' | 'isoSeconds' | 'date' | 'epochSeconds' | 'epochMillis') =>
      formatCursor(T0, { type: 'timestamp', format });
    expect([f('iso'), f('isoSeconds'), f('date'), f('epochSeconds'), f('epochMillis')]).toEqual([
      '2026-12-01T00:00:00.000Z',
      '2026-12-01T00:00:00Z',
      '2026-12-01',
      String(T0 / 1000),
      String(T0),
    ]);
  });
});
