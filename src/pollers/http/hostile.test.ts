/**
 * The HTTP source against hostile upstreams, over real loopback sockets (issue 7, parts 6 and 7): a
 * trickling body, a `Link` and a redirect to a trap origin that records every credential it
 * receives, and an upstream that echoes the request's `Authorization` header in a 500 body. pino
 * output is captured from the service's own logger (`createLogger`), so masking is tested where it
 * happens.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Agent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AckSink } from '../../../test/support/ack-sink.js';
import { DeadLetterQueue } from '../../deadletter/index.js';
import type { Lake } from '../../lake/index.js';
import { createLogger } from '../../log.js';
import { FileStateStore } from '../../state/index.js';
import { registry } from '../../telemetry/index.js';
import { HttpStatusError, RequestTimeoutError } from './errors.js';
import { createHttpSource, type HttpSource, HttpSourceSchema } from './index.js';

type Handler = (path: string, res: ServerResponse, headers: IncomingHttpHeaders) => void;

interface Upstream {
  server: Server;
  origin: string;
  /** Headers of every request received. */
  requests: IncomingHttpHeaders[];
  handler: Handler;
}

async function upstream(): Promise<Upstream> {
  const u = { requests: [] as IncomingHttpHeaders[] } as Upstream;
  u.handler = (_p, res) => res.end('[]');
  u.server = createServer((req, res) => {
    u.requests.push(req.headers);
    u.handler(req.url ?? '/', res, req.headers);
  });
  await new Promise<void>((r) => u.server.listen(0, '127.0.0.1', r));
  u.origin = `http://127.0.0.1:${(u.server.address() as AddressInfo).port}`;
  return u;
}

/** A lake in memory: what the dead-letter queue wrote, by key. */
class MemLake implements Lake {
  readonly uri = 'memory://';
  readonly objects = new Map<string, Uint8Array>();
  async put(key: string, body: Uint8Array): Promise<void> {
    this.objects.set(key, body);
  }
  async get(key: string): Promise<Uint8Array | undefined> {
    return this.objects.get(key);
  }
  async list(): Promise<string[]> {
    return [...this.objects.keys()];
  }
  async ping(): Promise<boolean> {
    return true;
  }
}

async function metric(name: string, labels: Record<string, string>): Promise<number> {
  const m = registry.getSingleMetric(name);
  if (m === undefined) return 0;
  const { values } = await m.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, x]) => String(v.labels[k]) === x))
    .reduce((n, v) => n + v.value, 0);
}

let home: Upstream;
let trap: Upstream;
let agent: Agent;
let dir: string;
let lines: string[];
let sink: AckSink;
let token: string;
const sources: HttpSource[] = [];
let seq = 0;

beforeEach(async () => {
  [home, trap] = await Promise.all([upstream(), upstream()]);
  agent = new Agent({ connect: { timeout: 1_000 } });
  dir = await mkdtemp(join(tmpdir(), 'hostile-test-'));
  lines = [];
  sink = new AckSink();
  token = `tok-${randomUUID()}`;
});

afterEach(async () => {
  await Promise.all(sources.splice(0).map((s) => s.stop()));
  await agent.destroy();
  for (const u of [home, trap]) {
    u.server.closeAllConnections();
    await new Promise<void>((r) => u.server.close(() => r()));
  }
  await rm(dir, { recursive: true, force: true });
});

function build(over: Record<string, unknown> = {}, deadLetters = new DeadLetterQueue(new MemLake())) {
  const config = HttpSourceSchema.parse({
    name: `hostile-${process.pid}-${++seq}`,
    type: 'http',
    url: `${home.origin}/items`,
    idField: 'id',
    auth: { type: 'bearer', tokenEnv: 'HOSTILE_TOKEN' },
    pagination: { type: 'linkHeader' },
    conditionalRequests: false,
    retry: { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 10 },
    ...over,
  });
  const logger = createLogger({ level: 'debug', destination: { write: (s: string) => void lines.push(s) } });
  const source = createHttpSource(config, {
    sink,
    state: new FileStateStore(dir),
    deadLetters,
    logger,
    dispatcher: agent,
    env: { HOSTILE_TOKEN: token, HOSTILE_KEY: token },
  });
  sources.push(source);
  return { source, config };
}

/** Requests (to any upstream) that carried the token in any header. */
const withToken = (u: Upstream): number => u.requests.filter((h) => JSON.stringify(h).includes(token)).length;

/** A first page of two records whose `Link` points at the trap. */
function linkToTrap(): void {
  home.handler = (_p, res) => {
    res.writeHead(200, { 'content-type': 'application/json', link: `<${trap.origin}/page2>; rel="next"` });
    res.end(JSON.stringify([{ id: 1 }, { id: 2 }]));
  };
  trap.handler = (_p, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify([{ id: 3 }]));
  };
}

describe('credentials stay home', () => {
  it('a Link to another origin is not followed: one warning, counted, the records so far kept', async () => {
    linkToTrap();
    const { source, config } = build();
    const result = await source.pollOnce();
    expect(result).toMatchObject({ pages: 1, emitted: 2 });
    expect(sink.records).toHaveLength(2);
    expect(trap.requests).toHaveLength(0);
    expect(withToken(home)).toBe(1);
    const warns = lines.map((l) => JSON.parse(l)).filter((l) => /another origin/.test(l.msg));
    expect(warns).toHaveLength(1);
    expect(warns[0]).toMatchObject({ level: 'warn', url: `${trap.origin}/page2`, home: home.origin });
    expect(await metric('ingest_source_offorigin_links_total', { source: config.name })).toBe(1);
  });

  it('an allowed origin is followed without credentials (bearer, a header auth and inline key headers)', async () => {
    linkToTrap();
    for (const auth of [
      { type: 'bearer', tokenEnv: 'HOSTILE_TOKEN' },
      { type: 'header', header: 'X-Custom-Auth', valueEnv: 'HOSTILE_KEY' },
    ]) {
      const { source } = build({
        auth,
        allowedOrigins: [trap.origin],
        headers: { 'X-Api-Key': `${token}-inline`, 'X-Trace': 'kept' },
      });
      expect(await source.pollOnce()).toMatchObject({ pages: 2 });
    }
    expect(trap.requests).toHaveLength(2);
    expect(withToken(trap)).toBe(0);
    expect(trap.requests.map((h) => h['x-trace'])).toEqual(['kept', 'kept']);
    expect(withToken(home)).toBe(2);
  });

  it('credentialOrigins opts an allowed origin in to receive credentials', async () => {
    linkToTrap();
    const { source } = build({ allowedOrigins: [trap.origin], credentialOrigins: [trap.origin] });
    await source.pollOnce();
    expect(trap.requests.map((h) => h.authorization)).toEqual([`Bearer ${token}`]);
  });

  it('a redirect to another origin is not followed: the poll fails and the trap gets nothing', async () => {
    home.handler = (_p, res) => {
      res.writeHead(302, { location: `${trap.origin}/steal` });
      res.end();
    };
    const { source } = build();
    const err = await source.pollOnce().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpStatusError);
    expect((err as HttpStatusError).status).toBe(302);
    expect(trap.requests).toHaveLength(0);
  });
});

describe('secrets are masked', () => {
  it('an upstream echoing Authorization in a 500 body puts the token in no log line and no error', async () => {
    // First attempt: the echo straddles the 200-character excerpt boundary; the retry: well inside it.
    home.handler = (_p, res, headers) => {
      const pad = 'p'.repeat(home.requests.length === 1 ? 178 : 10);
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ pad, echo: headers.authorization, again: headers.authorization }));
    };
    const { source } = build();
    const err = (await source.pollOnce().catch((e: unknown) => e)) as HttpStatusError;
    expect(err).toBeInstanceOf(HttpStatusError);
    expect(err.status).toBe(500);
    expect(home.requests).toHaveLength(2); // retried once: two echoes
    const excerpt = err.message.slice(err.message.indexOf(': "') + 2);
    expect(JSON.parse(excerpt).length).toBeLessThanOrEqual(201);
    expect(err.message).toContain('Bearer ***');
    for (const text of [err.message, String(err.url), ...lines]) {
      expect(text).not.toContain(token);
      expect(text).not.toContain(token.slice(0, 8));
    }
    expect(lines.some((l) => l.includes('"msg":"poll failed"') && l.includes('***'))).toBe(true);
    expect(lines.some((l) => l.includes('request failed; retrying'))).toBe(true);
  });

  it('any log line and any dead-letter reason that quotes the token is masked', async () => {
    const lake = new MemLake();
    const dlq = new DeadLetterQueue(lake);
    build({}, dlq); // registers the token, as every source with auth does
    const logger = createLogger({ destination: { write: (s: string) => void lines.push(s) } });
    logger.child({ component: 'x' }).warn({ detail: { deep: `Bearer ${token}` } }, `saw ${token}`);
    expect(lines.join('')).not.toContain(token);
    expect(lines.join('')).toContain('saw ***');
    await dlq.put([
      {
        component: 'k',
        source: 's',
        failureClass: 'sink',
        reason: `echoed ${token}`,
        data: Buffer.from('{}'),
      },
    ]);
    const written = [...lake.objects.values()].map((b) => gunzipSync(b).toString('utf8')).join('');
    expect(written).toContain('echoed ***');
    expect(written).not.toContain(token);
  });
});

describe('overall request deadline', () => {
  it('a 1-byte-per-second upstream fails the poll with class timeout after requestTimeoutMs, retried', async () => {
    home.handler = (_p, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('[');
      const timer = setInterval(() => (res.destroyed ? clearInterval(timer) : res.write(' ')), 1_000);
      res.on('close', () => clearInterval(timer));
    };
    const { source, config } = build({ requestTimeoutMs: 1_200, bodyTimeoutMs: 5_000 });
    const err = await source.pollOnce().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequestTimeoutError);
    expect((err as RequestTimeoutError).phase).toBe('total');
    expect(await metric('ingest_source_requests_total', { source: config.name, status: 'timeout' })).toBe(2);
    expect(await metric('ingest_source_retries_total', { source: config.name })).toBe(1);
    expect(await metric('ingest_source_errors_total', { source: config.name, class: 'timeout' })).toBe(1);
  });
});
