/**
 * The chaos run's hostile upstream: a paginated JSON API (`GET /items?page=N&per_page=100`, RFC 8288
 * `Link: <...>; rel="next"`, bearer auth) whose data set keeps growing and changing, and which
 * injects faults chosen by a seeded RNG, counted per kind. A trap server on another origin stands at
 * the end of the cross-origin `Link` fault and records whether it ever received the bearer token.
 *
 * The ledger: every record the upstream served in a full, parseable page (the response finished)
 * is appended once per (id, version) to an NDJSON file, `{"id":..,"v":..,"big":..,"t":..}`.
 */
import { appendFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Deck, type Rng } from './rng.js';

/** Faults injected per request. */
export const UPSTREAM_FAULTS = [
  'http_5xx_burst',
  'retry_after_429_secs',
  'retry_after_429_date',
  'retry_after_503_secs',
  'retry_after_503_date',
  'reset_mid_body',
  'hang',
  'trickle',
  'truncated_json',
  'html_body',
  'oversized_body',
  'cross_origin_link',
  'echo_auth_500',
] as const;
export type UpstreamFault = (typeof UPSTREAM_FAULTS)[number];
/** Faults in the data itself. */
export type DataFault = 'big_record';

export interface ItemRecord {
  id: number;
  version: number;
  updated_at: string;
  name: string;
  value: number;
  /** Only on the deliberately oversized records (over 1 MiB, Kinesis' record limit). */
  blob?: string;
}

export interface ServedEntry {
  id: number;
  v: number;
  big: boolean;
}

export interface UpstreamOptions {
  token: string;
  rng: Rng;
  ledgerPath: string;
  /** Origin of the trap server the cross-origin `Link` points to. */
  trapOrigin: string;
  /** The source's `maxResponseBytes`: the oversized body is larger than this. */
  maxResponseBytes: number;
  /** @default 100 */
  pageSize?: number;
  /** Records in the data set at the start. @default 250 */
  initialRecords?: number;
  /**
   * Probability that a request (outside a burst) gets a fault; at least 0.3 until every kind has
   * come up once. @default 0.15
   */
  faultRate?: number;
}

const BIG_RECORD_BYTES = 1_200_000;

export interface UpstreamStats {
  requests: number;
  fullPages: number;
  unauthorized: number;
  /** Responses sent inside 5xx bursts. */
  burstResponses: number;
  faults: Record<UpstreamFault | DataFault, number>;
}

export class ChaosUpstream {
  readonly stats: UpstreamStats;
  /** Every (id, version) served in a full page, keyed `id@version`. */
  readonly served = new Map<string, ServedEntry>();
  private readonly opts: Required<UpstreamOptions>;
  private readonly records: ItemRecord[] = [];
  private readonly deck: Deck<UpstreamFault>;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private server: Server | undefined;
  private burstLeft = 0;
  private burstEcho = false;
  private faultsOn = false;
  private growth: NodeJS.Timeout | undefined;
  private oversizedPad: string | undefined;
  private readonly forced: UpstreamFault[] = [];
  origin = '';

  constructor(options: UpstreamOptions) {
    this.opts = { pageSize: 100, initialRecords: 250, faultRate: 0.15, ...options };
    this.deck = new Deck(UPSTREAM_FAULTS, this.opts.rng, ['trickle']);
    const faults = Object.fromEntries([...UPSTREAM_FAULTS, 'big_record'].map((k) => [k, 0]));
    this.stats = {
      requests: 0,
      fullPages: 0,
      unauthorized: 0,
      burstResponses: 0,
      faults: faults as UpstreamStats['faults'],
    };
    for (let i = 0; i < this.opts.initialRecords; i++) this.add();
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    const addr = this.server.address();
    this.origin = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    return this.origin;
  }

  /** Turns fault injection on or off (data faults are added by {@link addBigRecord}). */
  setFaults(on: boolean): void {
    this.faultsOn = on;
    if (!on) this.burstLeft = 0;
  }

  /** Gives the next request this fault, whether faults are on or not (for the harness's own tests). */
  forceNext(fault: UpstreamFault): void {
    this.forced.push(fault);
  }

  /** Adds `perSec` new records and bumps the version of `updatesPerSec` existing ones every second. */
  setGrowth(on: boolean, perSec = 5, updatesPerSec = 1): void {
    if (this.growth) clearInterval(this.growth);
    this.growth = undefined;
    if (!on) return;
    let carry = 0;
    let updCarry = 0;
    this.growth = setInterval(() => {
      carry += perSec;
      for (; carry >= 1; carry--) this.add();
      updCarry += updatesPerSec;
      for (; updCarry >= 1; updCarry--) {
        const r = this.opts.rng.pick(this.records);
        if (r.blob) continue;
        r.version++;
        r.updated_at = new Date().toISOString();
        r.value = this.opts.rng.int(0, 1_000_000);
      }
    }, 1_000);
  }

  /** Adds a record of over 1 MiB: it can never fit a Kinesis record and must end in dead-letter. */
  addBigRecord(): void {
    this.stats.faults.big_record++;
    this.add(BIG_RECORD_BYTES);
  }

  /** The data set as it stands: id → current version, and whether it is a big record. */
  current(): ServedEntry[] {
    return this.records.map((r) => ({ id: r.id, v: r.version, big: r.blob !== undefined }));
  }

  async close(): Promise<void> {
    this.setGrowth(false);
    for (const t of this.timers) clearInterval(t);
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private add(blobBytes = 0): void {
    const id = this.records.length + 1;
    this.records.push({
      id,
      version: 1,
      updated_at: new Date().toISOString(),
      name: `item ${id}`,
      value: this.opts.rng.int(0, 1_000_000),
      ...(blobBytes > 0 ? { blob: 'b'.repeat(blobBytes) } : {}),
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.stats.requests++;
    const url = new URL(req.url ?? '/', this.origin);
    if (url.pathname !== '/items') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
      return;
    }
    if (req.headers.authorization !== `Bearer ${this.opts.token}`) {
      this.stats.unauthorized++;
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"unauthorized"}');
      return;
    }
    const page = Math.max(1, Number(url.searchParams.get('page') ?? '1') || 1);
    const size = this.opts.pageSize;
    const slice = this.records.slice((page - 1) * size, page * size);
    const last = page * size >= this.records.length;
    const nextUrl = (origin: string) => `${origin}/items?page=${page + 1}&per_page=${size}`;
    const body = JSON.stringify(slice);
    const json = { 'content-type': 'application/json' };

    if (this.burstLeft > 0) {
      this.burstLeft--;
      this.stats.burstResponses++;
      if (this.burstEcho) {
        this.echo(req, res);
        return;
      }
      const status = this.opts.rng.pick([500, 502, 504]);
      res.writeHead(status, json).end(JSON.stringify({ error: 'burst', status }));
      return;
    }
    const fault =
      this.forced.shift() ??
      (this.faultsOn && this.opts.rng.next() < this.faultRate() ? this.deck.next() : undefined);
    if (fault) this.stats.faults[fault]++;
    switch (fault) {
      case 'http_5xx_burst': {
        this.burstLeft = this.opts.rng.int(2, 6);
        this.burstEcho = false;
        this.stats.burstResponses++;
        res.writeHead(503, json).end('{"error":"burst"}');
        return;
      }
      case 'retry_after_429_secs':
      case 'retry_after_503_secs':
      case 'retry_after_429_date':
      case 'retry_after_503_date': {
        const secs = this.opts.rng.int(1, 3);
        const asDate = fault.endsWith('_date');
        const retryAfter = asDate ? new Date(Date.now() + (secs + 1) * 1000).toUTCString() : String(secs);
        const status = fault.includes('429') ? 429 : 503;
        res.writeHead(status, { ...json, 'retry-after': retryAfter }).end('{"error":"slow down"}');
        return;
      }
      case 'reset_mid_body': {
        res.writeHead(200, { ...json, 'content-length': Buffer.byteLength(body) });
        res.write(body.slice(0, Math.floor(body.length / 2)));
        setTimeout(() => req.socket.resetAndDestroy(), 50);
        return;
      }
      case 'hang':
        // No response at all; the socket stays open until the client gives up (or close()).
        return;
      case 'trickle': {
        res.writeHead(200, { ...json, 'content-length': Buffer.byteLength(body) });
        let i = 0;
        const t = setInterval(() => {
          if (i >= body.length || res.destroyed) {
            clearInterval(t);
            this.timers.delete(t);
            if (!res.destroyed) res.end();
            return;
          }
          res.write(body[i++]);
        }, 1_000);
        this.timers.add(t);
        res.once('close', () => {
          clearInterval(t);
          this.timers.delete(t);
        });
        return;
      }
      case 'truncated_json': {
        const cut = body.slice(0, Math.max(1, Math.floor(body.length * 0.6)));
        res.writeHead(200, { ...json, 'content-length': Buffer.byteLength(cut) }).end(cut);
        return;
      }
      case 'html_body':
        res
          .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
          .end('<!doctype html><html><body><h1>502 Bad Gateway</h1><p>upstream busy</p></body></html>');
        return;
      case 'oversized_body': {
        // The page's records, each padded so the body is 1.25 x maxResponseBytes.
        const n = Math.max(1, slice.length);
        this.oversizedPad ??= 'p'.repeat(Math.ceil((this.opts.maxResponseBytes * 1.25) / n));
        const big = JSON.stringify(
          slice.length ? slice.map((r) => ({ ...r, pad: this.oversizedPad })) : [{ pad: this.oversizedPad }],
        );
        res.writeHead(200, { ...json, 'content-length': Buffer.byteLength(big) }).end(big);
        return;
      }
      case 'echo_auth_500':
        // A misbehaving upstream that echoes the request headers, Authorization included, in its
        // error; for several requests in a row, so a poll fails with it after its retries.
        this.burstLeft = 5;
        this.burstEcho = true;
        this.stats.burstResponses++;
        this.echo(req, res);
        return;
      default: {
        // A normal page, or the cross-origin Link fault: a full page whose next link is on the trap.
        const headers: Record<string, string | number> = {
          ...json,
          'content-length': Buffer.byteLength(body),
        };
        if (fault === 'cross_origin_link') headers.link = `<${nextUrl(this.opts.trapOrigin)}>; rel="next"`;
        else if (!last) headers.link = `<${nextUrl(this.origin)}>; rel="next"`;
        res.writeHead(200, headers);
        res.once('finish', () => this.ledger(slice));
        res.end(body);
      }
    }
  }

  /** Until every kind has come up once, at least 0.3, so a short run sees them all. */
  private faultRate(): number {
    return this.deck.inFirstDeck ? Math.max(this.opts.faultRate, 0.3) : this.opts.faultRate;
  }

  private echo(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(500, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        error: `internal error handling ${req.headers.authorization ?? 'no credentials'}`,
        request: { url: req.url, headers: req.headers },
      }),
    );
  }

  private ledger(page: ItemRecord[]): void {
    this.stats.fullPages++;
    const lines: string[] = [];
    const t = Date.now();
    for (const r of page) {
      const key = `${r.id}@${r.version}`;
      if (this.served.has(key)) continue;
      const e = { id: r.id, v: r.version, big: r.blob !== undefined };
      this.served.set(key, e);
      lines.push(JSON.stringify({ ...e, t }));
    }
    if (lines.length) appendFileSync(this.opts.ledgerPath, `${lines.join('\n')}\n`);
  }
}

/** The origin a cross-origin `Link` points to: answers `[]` and records whether the token came along. */
export class TrapServer {
  requests = 0;
  requestsWithToken = 0;
  private server: Server | undefined;
  private readonly token: string;
  origin = '';

  constructor(token: string) {
    this.token = token;
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      this.requests++;
      const all = JSON.stringify(req.headers) + (req.url ?? '');
      if (all.includes(this.token)) this.requestsWithToken++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('[]');
    });
    // 127.0.0.2 is another host and another origin; the loopback range answers there on Linux.
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.2', r));
    const addr = this.server.address();
    this.origin = `http://127.0.0.2:${typeof addr === 'object' && addr ? addr.port : 0}`;
    return this.origin;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
