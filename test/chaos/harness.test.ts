import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, type Server, connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/cli.js';
import { analyse, grepFiles } from './check.js';
import { StallProxy } from './proxy.js';
import { startupExitInOutage } from './report.js';
import { Deck, seededRng } from './rng.js';
import { ChaosUpstream, TrapServer } from './upstream.js';

/** The chaos harness's own parts: the faults really happen, the ledger and the checks count right. */
describe('chaos upstream', () => {
  const token = 'tok-harness-test-123';
  let up: ChaosUpstream;
  let trap: TrapServer;
  let dir: string;
  const auth = { authorization: `Bearer ${token}` };

  beforeAll(async () => {
    dir = tempDir('chaos-harness');
    trap = new TrapServer(token);
    await trap.start();
    up = new ChaosUpstream({
      token,
      rng: seededRng(1),
      ledgerPath: join(dir, 'ledger.ndjson'),
      trapOrigin: trap.origin,
      maxResponseBytes: 64 * 1024,
    });
    await up.start();
  });
  afterAll(async () => {
    await up?.close();
    await trap?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = (page: number, headers: Record<string, string> = auth, signal?: AbortSignal) =>
    fetch(`${up.origin}/items?page=${page}&per_page=100`, { headers, ...(signal ? { signal } : {}) });

  it('serves pages with a same-origin Link, wants the token, and ledgers full pages once', async () => {
    expect((await get(1, {})).status).toBe(401);
    const p1 = await get(1);
    expect(p1.headers.get('link')).toBe(`<${up.origin}/items?page=2&per_page=100>; rel="next"`);
    expect(((await p1.json()) as unknown[]).length).toBe(100);
    await (await get(2)).json();
    const p3 = await get(3);
    expect(p3.headers.get('link')).toBeNull();
    expect(((await p3.json()) as unknown[]).length).toBe(50);
    await (await get(1)).json();
    await new Promise((r) => setTimeout(r, 50));
    expect(up.served.size).toBe(250);
    expect(readFileSync(join(dir, 'ledger.ndjson'), 'utf8').trim().split('\n')).toHaveLength(250);
  });

  it('answers 429 and 503 with Retry-After as seconds and as an HTTP date', async () => {
    up.forceNext('retry_after_429_secs');
    const a = await get(1);
    expect(a.status).toBe(429);
    expect(a.headers.get('retry-after')).toMatch(/^[1-3]$/);
    up.forceNext('retry_after_503_date');
    const b = await get(1);
    expect(b.status).toBe(503);
    const when = Date.parse(b.headers.get('retry-after') ?? '');
    expect(when).toBeGreaterThan(Date.now());
    expect(b.headers.get('retry-after')).toMatch(/GMT$/);
  });

  it('sends truncated JSON, HTML, an oversized body and an error that echoes the token; none is ledgered', async () => {
    const before = up.stats.fullPages;
    up.forceNext('truncated_json');
    const t = await get(1);
    expect(t.status).toBe(200);
    await expect(t.json()).rejects.toThrow();
    up.forceNext('html_body');
    const h = await get(1);
    expect(h.headers.get('content-type')).toContain('text/html');
    up.forceNext('oversized_body');
    expect((await (await get(1)).arrayBuffer()).byteLength).toBeGreaterThan(64 * 1024);
    up.forceNext('echo_auth_500');
    const e = await get(1);
    expect(e.status).toBe(500);
    expect(await e.text()).toContain(token);
    // The echo goes on for the next five requests, so a poll's retries all see it.
    for (let i = 0; i < 5; i++) expect(await (await get(1)).text()).toContain(token);
    expect((await get(1)).status).toBe(200);
    up.forceNext('http_5xx_burst');
    expect((await get(1)).status).toBe(503);
    expect((await get(1)).status).toBeGreaterThanOrEqual(500);
    while ((await get(1)).status >= 500) {}
    expect(up.stats.fullPages).toBe(before + 2);
    expect(up.stats.faults.truncated_json).toBe(1);
    expect(up.stats.faults.http_5xx_burst).toBe(1);
  });

  it('resets mid-body, hangs, and trickles one byte a second', async () => {
    up.forceNext('reset_mid_body');
    await expect((await get(1)).text()).rejects.toThrow();
    up.forceNext('hang');
    await expect(get(1, auth, AbortSignal.timeout(500))).rejects.toThrow();
    up.forceNext('trickle');
    const got = await new Promise<number>((resolve) => {
      const req = request(`${up.origin}/items?page=1`, { headers: auth }, (res) => {
        let n = 0;
        res.on('data', (b: Buffer) => {
          n += b.length;
        });
        setTimeout(() => {
          req.destroy();
          resolve(n);
        }, 2_500);
      });
      req.end();
    });
    expect(got).toBeGreaterThanOrEqual(1);
    expect(got).toBeLessThanOrEqual(3);
  });

  it('points a cross-origin Link at the trap, which notices the token', async () => {
    up.forceNext('cross_origin_link');
    const r = await get(1);
    const link = r.headers.get('link') ?? '';
    expect(link).toContain(trap.origin);
    await r.json();
    const next = /<([^>]+)>/.exec(link)?.[1] ?? '';
    await (await fetch(next)).text();
    expect(trap.requestsWithToken).toBe(0);
    await (await fetch(next, { headers: auth })).text();
    expect(trap.requests).toBe(2);
    expect(trap.requestsWithToken).toBe(1);
  });

  it('adds records over 1 MiB when asked', async () => {
    up.addBigRecord();
    const last = (await (await get(3)).json()) as { blob?: string }[];
    expect(last.at(-1)?.blob?.length).toBeGreaterThan(1024 * 1024);
    expect(up.stats.faults.big_record).toBe(1);
    expect(up.current().filter((c) => c.big)).toHaveLength(1);
  });
});

describe('stall proxy', () => {
  let echo: Server;
  let proxy: StallProxy;
  beforeAll(async () => {
    echo = createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const port = (echo.address() as { port: number }).port;
    proxy = new StallProxy(port);
    await proxy.start();
  });
  afterAll(async () => {
    await proxy?.close();
    echo?.close();
  });

  it('stops forwarding while stalled and delivers what waited once it resumes', async () => {
    const s = tcpConnect(proxy.port, '127.0.0.1');
    let got = '';
    s.on('data', (b) => {
      got += b.toString();
    });
    s.write('a');
    await new Promise((r) => setTimeout(r, 200));
    expect(got).toBe('a');
    proxy.stall();
    s.write('b');
    await new Promise((r) => setTimeout(r, 500));
    expect(got).toBe('a');
    proxy.unstall();
    await new Promise((r) => setTimeout(r, 200));
    expect(got).toBe('ab');
    expect(proxy.stalledSecs).toBeGreaterThan(0.4);
    s.destroy();
  });
});

describe('chaos checks', () => {
  it('classifies served records as delivered, lost, only in dead-letter, superseded or big, and counts duplicates', () => {
    const lake = tempDir('chaos-check');
    const env = (id: number, version: number) =>
      JSON.stringify({ source: 's', id: `x${id}`, payload: { id, version } });
    mkdirSync(join(lake, 'bronze/source=s/dt=2026-01-01/hour=00'), { recursive: true });
    writeFileSync(
      join(lake, 'bronze/source=s/dt=2026-01-01/hour=00/a.json.gz'),
      gzipSync([env(1, 1), env(1, 1), env(2, 2)].join('\n')),
    );
    mkdirSync(join(lake, 'dead-letter/component=kinesis'), { recursive: true });
    writeFileSync(
      join(lake, 'dead-letter/component=kinesis/b.json.gz'),
      gzipSync(
        [
          JSON.stringify({ reason: 'timeout', data: env(3, 1) }),
          JSON.stringify({ reason: 'too large', data: env(9, 1) }),
        ].join('\n'),
      ),
    );
    const served = [
      { id: 1, v: 1, big: false }, // in bronze twice
      { id: 2, v: 1, big: false }, // superseded by v2, missing: allowed
      { id: 2, v: 2, big: false }, // in bronze
      { id: 3, v: 1, big: false }, // only in dead-letter
      { id: 4, v: 1, big: false }, // lost
      { id: 9, v: 1, big: true }, // big, dead-lettered with a reason
      { id: 10, v: 1, big: true }, // big, missing
    ];
    const current = [
      { id: 1, v: 1, big: false },
      { id: 2, v: 2, big: false },
      { id: 3, v: 1, big: false },
      { id: 4, v: 1, big: false },
      { id: 5, v: 1, big: false }, // never served
      { id: 9, v: 1, big: true },
      { id: 10, v: 1, big: true },
    ];
    const a = analyse(served, current, lake);
    expect(a.served).toBe(7);
    expect(a.lost).toEqual(['4@1']);
    expect(a.onlyInDeadLetter).toEqual(['3@1']);
    expect(a.supersededMissing).toBe(1);
    expect(a.bigNotDeadLettered).toEqual(['10@1']);
    expect(a.neverServed).toEqual(['5@1']);
    expect(a.currentInBronze).toBe(2);
    expect(a.currentTotal).toBe(5);
    expect(a.duplicateLines).toBe(1);
    expect(a.duplicatedKeys).toBe(1);
    rmSync(lake, { recursive: true, force: true });
  });

  it('finds the token in plain and gzipped files', () => {
    const d = tempDir('chaos-grep');
    writeFileSync(join(d, 'a.log'), 'x secret-1 y secret-1');
    writeFileSync(join(d, 'b.json.gz'), gzipSync('secret-1'));
    writeFileSync(join(d, 'c.txt'), 'nothing');
    const g = grepFiles([d], 'secret-1');
    expect(g.files).toBe(3);
    expect(g.hits.map((h) => h.count).sort()).toEqual([1, 2]);
    rmSync(d, { recursive: true, force: true });
  });
});

describe('deck', () => {
  it('deals every kind once before any twice, the `last` kinds at the end of the first deck', () => {
    const deck = new Deck(['a', 'b', 'c', 'd'], seededRng(3), ['d']);
    const first = [deck.next(), deck.next(), deck.next()];
    expect(deck.inFirstDeck).toBe(true);
    expect(deck.next()).toBe('d');
    expect(new Set(first)).toEqual(new Set(['a', 'b', 'c']));
    expect(deck.inFirstDeck).toBe(false);
    expect(new Set([deck.next(), deck.next(), deck.next(), deck.next()])).toEqual(
      new Set(['a', 'b', 'c', 'd']),
    );
  });
});

describe('start-up exits', () => {
  it('a role that exits soon after its start during a stream outage is reported, any other exit is a crash', () => {
    const base = { role: 'run' as const, code: 1, signal: null, atSecs: 100, log: 'x', tail: '' };
    expect(startupExitInOutage({ ...base, livedSecs: 12, duringOutage: true })).toBe(true);
    expect(startupExitInOutage({ ...base, livedSecs: 12, duringOutage: false })).toBe(false);
    expect(startupExitInOutage({ ...base, livedSecs: 300, duringOutage: true })).toBe(false);
  });
});
