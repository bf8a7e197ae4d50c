import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { Agent, MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  HttpStatusError,
  MalformedResponseError,
  NetworkError,
  PollAbortedError,
  RequestTimeoutError,
  ResponseTooLargeError,
} from './errors.js';
import {
  backoffDelayMs,
  fetchJson,
  parseRetryAfter,
  type RetryPolicy,
  retryDelayMs,
  withRetry,
} from './fetch.js';

const policy: RetryPolicy = { maxAttempts: 5, baseDelayMs: 200, maxDelayMs: 30_000 };
const ORIGIN = 'https://api.test';
const opts = (dispatcher: MockAgent | Agent, over: Partial<Parameters<typeof fetchJson>[1]> = {}) => ({
  dispatcher,
  headersTimeoutMs: 1_000,
  bodyTimeoutMs: 1_000,
  requestTimeoutMs: 10_000,
  maxResponseBytes: 1_000,
  source: 'test.fetch',
  ...over,
});
const get = (path: string, etag?: string) => ({
  url: ORIGIN + path,
  method: 'GET' as const,
  headers: {},
  etag,
});

describe('backoff', () => {
  it('full jitter stays within [0, min(maxDelayMs, base * 2^n)] (property)', () => {
    fc.assert(
      fc.property(
        fc.nat(40),
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 1, max: 120_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (n, base, max, r) => {
          const d = backoffDelayMs(n, { maxAttempts: 3, baseDelayMs: base, maxDelayMs: max }, () => r);
          expect(d).toBeGreaterThanOrEqual(0);
          expect(d).toBeLessThanOrEqual(Math.min(max, base * 2 ** n));
          expect(Number.isInteger(d)).toBe(true);
        },
      ),
    );
  });

  it('uses the random draw over the whole exponential ceiling', () => {
    expect(backoffDelayMs(0, policy, () => 0.5)).toBe(100);
    expect(backoffDelayMs(3, policy, () => 0.5)).toBe(800);
    expect(backoffDelayMs(20, policy, () => 0.999999)).toBe(29_999);
    expect(backoffDelayMs(2, policy, () => 0)).toBe(0);
  });
});

describe('Retry-After', () => {
  const now = Date.parse('2024-05-01T12:00:00Z');
  it('parses delay-seconds and HTTP-dates (RFC 9110 §10.2.3)', () => {
    expect(parseRetryAfter('7', now)).toBe(7_000);
    expect(parseRetryAfter('Wed, 01 May 2024 12:00:42 GMT', now)).toBe(42_000);
    expect(parseRetryAfter('Wed, 01 May 2024 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter(['3', '9'], now)).toBe(3_000);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('-1', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });

  it('is honoured on 429 and 503 only, and capped at maxDelayMs', () => {
    const r = () => 0.5;
    expect(retryDelayMs(new HttpStatusError(429, 'x', { retryAfterMs: 4_000 }), 0, policy, r)).toBe(4_000);
    expect(retryDelayMs(new HttpStatusError(503, 'x', { retryAfterMs: 9_000 }), 3, policy, r)).toBe(9_000);
    expect(retryDelayMs(new HttpStatusError(503, 'x', { retryAfterMs: 120_000 }), 0, policy, r)).toBe(30_000);
    // 500 with Retry-After: backoff, not the header.
    expect(retryDelayMs(new HttpStatusError(500, 'x', { retryAfterMs: 9_000 }), 0, policy, r)).toBe(100);
    expect(retryDelayMs(new HttpStatusError(429, 'x'), 1, policy, r)).toBe(200);
  });
});

describe('withRetry', () => {
  it('retries retriable errors up to maxAttempts, with the chosen delays', async () => {
    const delays: number[] = [];
    let calls = 0;
    const err = await withRetry(
      async () => {
        calls++;
        throw new NetworkError('reset');
      },
      { policy: { ...policy, maxAttempts: 3 }, random: () => 0.5, sleep: async (ms) => void delays.push(ms) },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect(calls).toBe(3);
    expect(delays).toEqual([100, 200]);
  });

  it('does not retry a non-retriable error', async () => {
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw new HttpStatusError(404, 'not found');
        },
        { policy, sleep: async () => undefined },
      ),
    ).rejects.toBeInstanceOf(HttpStatusError);
    expect(calls).toBe(1);
  });

  it('returns the first success', async () => {
    let calls = 0;
    const v = await withRetry(
      async (attempt) => {
        calls++;
        if (attempt < 2) throw new HttpStatusError(503, 'busy');
        return 'ok';
      },
      { policy, sleep: async () => undefined },
    );
    expect(v).toBe('ok');
    expect(calls).toBe(2);
  });
});

describe('fetchJson (MockAgent)', () => {
  let agent: MockAgent;
  beforeEach(() => {
    agent = new MockAgent();
    agent.disableNetConnect();
  });
  afterEach(async () => {
    await agent.close();
  });

  it('parses JSON and reports ETag and Link', async () => {
    agent
      .get(ORIGIN)
      .intercept({ path: '/items', method: 'GET' })
      .reply(200, '[{"id":1}]', {
        headers: { 'content-type': 'application/json', etag: '"v1"', link: '</p2>; rel=next' },
      });
    const page = await fetchJson(get('/items'), opts(agent));
    expect(page).toMatchObject({
      status: 200,
      notModified: false,
      body: [{ id: 1 }],
      etag: '"v1"',
      bytes: 10,
    });
    expect(page.link).toBe('</p2>; rel=next');
  });

  it('sends If-None-Match and reports a 304 as not modified', async () => {
    agent
      .get(ORIGIN)
      .intercept({ path: '/items', method: 'GET', headers: { 'if-none-match': '"v1"' } })
      .reply(304, '');
    const page = await fetchJson(get('/items', '"v1"'), opts(agent));
    expect(page).toMatchObject({ status: 304, notModified: true, body: undefined });
  });

  it('rejects an HTML body with MalformedResponseError naming the content-type and first bytes', async () => {
    agent
      .get(ORIGIN)
      .intercept({ path: '/items' })
      .reply(200, '<!DOCTYPE html><html><body>Please log in</body></html>', {
        headers: { 'content-type': 'text/html; charset=utf-8' },
      });
    const err = await fetchJson(get('/items'), opts(agent)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedResponseError);
    expect((err as Error).message).toContain('text/html; charset=utf-8');
    expect((err as Error).message).toContain('<!DOCTYPE html><html><body>Please log in');
    expect((err as MalformedResponseError).retriable).toBe(false);
    expect((err as MalformedResponseError).failureClass).toBe('malformed_response');
  });

  it('rejects HTML served as application/json too (leading "<")', async () => {
    agent
      .get(ORIGIN)
      .intercept({ path: '/items' })
      .reply(200, '  <html>502 Bad Gateway</html>', { headers: { 'content-type': 'application/json' } });
    await expect(fetchJson(get('/items'), opts(agent))).rejects.toThrow(/HTML.*application\/json/);
  });

  it('rejects truncated JSON with MalformedResponseError', async () => {
    agent
      .get(ORIGIN)
      .intercept({ path: '/items' })
      .reply(200, '[{"id":1},{"id":2,"name":"tru', { headers: { 'content-type': 'application/json' } });
    const err = await fetchJson(get('/items'), opts(agent)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedResponseError);
    expect((err as Error).message).toMatch(/invalid JSON \(truncated\?\)/);
    expect((err as Error).message).toContain('"name\\":\\"tru');
  });

  it('rejects an empty 200 body', async () => {
    agent.get(ORIGIN).intercept({ path: '/items' }).reply(200, '');
    await expect(fetchJson(get('/items'), opts(agent))).rejects.toThrow(/empty response body/);
  });

  it('rejects a body whose Content-Length exceeds the cap before reading it', async () => {
    const body = JSON.stringify([{ pad: 'x'.repeat(2_000) }]);
    agent
      .get(ORIGIN)
      .intercept({ path: '/big' })
      .reply(200, body, { headers: { 'content-length': String(body.length) } });
    const err = await fetchJson(get('/big'), opts(agent)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ResponseTooLargeError);
    expect((err as Error).message).toMatch(/Content-Length 2\d{3} exceeds maxResponseBytes 1000/);
  });

  it('rejects a body without Content-Length once the streamed bytes exceed the cap', async () => {
    const body = JSON.stringify([{ pad: 'x'.repeat(2_000) }]);
    agent.get(ORIGIN).intercept({ path: '/big' }).reply(200, body);
    const err = await fetchJson(get('/big'), opts(agent)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ResponseTooLargeError);
    expect((err as Error).message).toMatch(/exceeds maxResponseBytes 1000 .*aborted/);
  });

  it('maps statuses to HttpStatusError with retriable and Retry-After', async () => {
    const pool = agent.get(ORIGIN);
    pool.intercept({ path: '/a' }).reply(429, 'slow down', { headers: { 'retry-after': '12' } });
    pool.intercept({ path: '/b' }).reply(404, 'nope');
    pool.intercept({ path: '/c' }).reply(502, 'bad gateway');
    const e429 = (await fetchJson(get('/a'), opts(agent)).catch((e: unknown) => e)) as HttpStatusError;
    expect(e429).toBeInstanceOf(HttpStatusError);
    expect([e429.status, e429.retriable, e429.failureClass, e429.retryAfterMs]).toEqual([
      429,
      true,
      'throttled',
      12_000,
    ]);
    const e404 = (await fetchJson(get('/b'), opts(agent)).catch((e: unknown) => e)) as HttpStatusError;
    expect([e404.status, e404.retriable, e404.failureClass]).toEqual([404, false, 'http_4xx']);
    const e502 = (await fetchJson(get('/c'), opts(agent)).catch((e: unknown) => e)) as HttpStatusError;
    expect([e502.status, e502.retriable, e502.failureClass]).toEqual([502, true, 'http_5xx']);
    expect(e502.message).toContain('bad gateway');
  });

  it('maps a connection error to a retriable NetworkError', async () => {
    agent
      .get(ORIGIN)
      .intercept({ path: '/x' })
      .replyWithError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    const err = await fetchJson(get('/x'), opts(agent)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as NetworkError).retriable).toBe(true);
  });
});

describe('fetchJson against a hanging local server (loopback only)', () => {
  let server: Server;
  let base: string;
  let agent: Agent;
  let handler: (res: ServerResponse, onClose: (cb: () => void) => void) => void;
  let sentBytes = 0;
  let closed = false;

  beforeEach(async () => {
    sentBytes = 0;
    closed = false;
    server = createServer((req, res) => {
      res.on('close', () => {
        closed = true;
      });
      handler(res, (cb) => req.socket.on('close', cb));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    agent = new Agent({ connect: { timeout: 1_000 } });
  });
  afterEach(async () => {
    await agent.destroy();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('times out waiting for headers (headersTimeoutMs)', async () => {
    handler = () => undefined; // accepts, never answers
    const t0 = Date.now();
    const err = await fetchJson(
      { url: `${base}/hang`, method: 'GET', headers: {} },
      opts(agent, { headersTimeoutMs: 200 }),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequestTimeoutError);
    expect((err as RequestTimeoutError).phase).toBe('headers');
    expect((err as RequestTimeoutError).retriable).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect(Date.now() - t0).toBeLessThan(3_000);
  });

  it('times out when the body stalls (bodyTimeoutMs)', async () => {
    handler = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('[{"id":1},');
    };
    const err = await fetchJson(
      { url: `${base}/stall`, method: 'GET', headers: {} },
      opts(agent, { bodyTimeoutMs: 200 }),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequestTimeoutError);
    expect((err as RequestTimeoutError).phase).toBe('body');
  });

  it('fails a 1-byte-per-second upstream at requestTimeoutMs (phase total, class timeout, retriable)', async () => {
    // Each byte comes well within bodyTimeoutMs, so only the overall deadline can end this request.
    handler = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const body = `[${'1,'.repeat(1_000)}1]`;
      let i = 0;
      const timer = setInterval(() => {
        if (res.destroyed) return clearInterval(timer);
        res.write(body[i++]!);
        sentBytes++;
      }, 1_000);
      res.write(body[i++]!);
      res.on('close', () => clearInterval(timer));
    };
    const err = await fetchJson(
      { url: `${base}/trickle`, method: 'GET', headers: {} },
      opts(agent, { requestTimeoutMs: 1_500, bodyTimeoutMs: 5_000, headersTimeoutMs: 5_000 }),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequestTimeoutError);
    expect((err as RequestTimeoutError).phase).toBe('total');
    expect((err as RequestTimeoutError).failureClass).toBe('timeout');
    expect((err as RequestTimeoutError).retriable).toBe(true);
    expect((err as Error).message).toMatch(/requestTimeoutMs \(1500 ms/);
    // The client hung up on the trickle: the server sees the connection close long before the body ends.
    await expect.poll(() => closed, { timeout: 2_000 }).toBe(true);
    expect(sentBytes).toBeLessThan(10);
  });

  it('the deadline covers trickled response headers too (phase total before headersTimeoutMs)', async () => {
    handler = (res) => {
      // Raw bytes on the socket: a status line, then one header byte per second.
      const socket = res.socket!;
      socket.write('HTTP/1.1 200 OK\r\nx-slow: ');
      const timer = setInterval(() => (socket.destroyed ? clearInterval(timer) : socket.write('a')), 1_000);
      socket.on('close', () => clearInterval(timer));
    };
    const err = await fetchJson(
      { url: `${base}/slow-headers`, method: 'GET', headers: {} },
      opts(agent, { requestTimeoutMs: 1_200, headersTimeoutMs: 30_000, bodyTimeoutMs: 30_000 }),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequestTimeoutError);
    expect((err as RequestTimeoutError).phase).toBe('total');
  });

  it('a stop during a request is an abort, not a timeout', async () => {
    handler = () => undefined;
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 100);
    const err = await fetchJson(
      { url: `${base}/hang`, method: 'GET', headers: {} },
      opts(agent, { requestTimeoutMs: 5_000, headersTimeoutMs: 5_000, signal: stop.signal }),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PollAbortedError);
  });

  it('follows no redirect: a 302 is an error naming the Location, and nothing is sent there', async () => {
    let trapHits = 0;
    const trap = createServer((_req, res) => {
      trapHits++;
      res.end('[]');
    });
    await new Promise<void>((r) => trap.listen(0, '127.0.0.1', r));
    const trapUrl = `http://127.0.0.1:${(trap.address() as AddressInfo).port}/steal`;
    handler = (res) => {
      res.writeHead(302, { location: trapUrl });
      res.end();
    };
    try {
      const err = await fetchJson(
        { url: `${base}/moved`, method: 'GET', headers: { authorization: 'Bearer tok-redirect-1' } },
        opts(agent),
      ).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HttpStatusError);
      expect((err as HttpStatusError).status).toBe(302);
      expect((err as HttpStatusError).retriable).toBe(false);
      expect((err as Error).message).toContain(`redirect to ${trapUrl} not followed`);
      expect(trapHits).toBe(0);
    } finally {
      await new Promise<void>((r) => trap.close(() => r()));
    }
  });

  it('aborts an endless body as soon as the cap is crossed', async () => {
    handler = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('[');
      const chunk = `${JSON.stringify({ pad: 'y'.repeat(1_000) })},`;
      const timer = setInterval(() => {
        if (res.destroyed) return clearInterval(timer);
        res.write(chunk);
        sentBytes += chunk.length;
      }, 2);
      res.on('close', () => clearInterval(timer));
    };
    const err = await fetchJson(
      { url: `${base}/endless`, method: 'GET', headers: {} },
      opts(agent, { maxResponseBytes: 20_000, bodyTimeoutMs: 5_000 }),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ResponseTooLargeError);
    // The client hung up: the server sees the connection close, having sent little more than the cap.
    await expect.poll(() => closed, { timeout: 2_000 }).toBe(true);
    expect(sentBytes).toBeLessThan(200_000);
  });
});
