/**
 * The fixture API server: development and test tooling, not product. It replays the real recorded
 * API responses in `fixtures/` (copied unchanged from the shared fixtures, see fixtures/README.md) the
 * way the real APIs answered, so `ingest local` and the tests run with no internet:
 *
 * - FakeStore: `GET /products`, `/carts`, `/users` (whole JSON arrays, the recorded bytes).
 * - GitHub: the five recorded `GET .../issues?per_page=3` pages, under both recorded paths
 *   (`/repos/octokit-fixture-org/.../issues` and `/repositories/515435940/issues`), with their
 *   recorded `ETag`, `X-RateLimit-*` and RFC 8288 `Link` headers, the `Link` origin rewritten to this
 *   server's, as HTTP replay tools do; `If-None-Match` with the recorded ETag answers 304.
 * - USGS: `GET /earthquakes/feed/v1.0/summary/all_day.geojson` (one GeoJSON FeatureCollection).
 * - Faults, for bad-input tests: `/faults/html`, `/faults/truncated`, `/faults/status/<code>`,
 *   `/faults/hang`, `/faults/huge?bytes=N`, `/faults/oversized-record?bytes=N`,
 *   `/faults/retry-after?secs=N` (503 with `Retry-After` once per client, then 200).
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listen } from '../telemetry/listen.js';

/** The project's fixtures folder (works from `src/` under vitest and from `dist/` when built). */
export function fixturesDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'fixtures');
    try {
      readFileSync(join(candidate, 'README.md'));
      return candidate;
    } catch {
      dir = resolve(dir, '..');
    }
  }
  throw new Error('fixtures/ not found next to the project');
}

interface RecordedPage {
  paths: string[];
  status: number;
  headers: [string, string][];
  body: string;
  etag?: string;
}

const DROPPED_HEADERS = new Set(['content-length', 'connection', 'transfer-encoding', 'date', 'server']);

/** Loads the recorded GitHub GET pairs of the paginate-issues scenario. */
function loadGithub(dir: string): RecordedPage[] {
  const pairs = JSON.parse(readFileSync(join(dir, 'github/paginate-issues.raw-fixture.json'), 'utf8')) as {
    method: string;
    path: string;
    status: number;
    rawHeaders: string[];
    response: unknown;
  }[];
  return pairs
    .filter((p) => p.method.toLowerCase() === 'get')
    .map((p) => {
      const headers: [string, string][] = [];
      for (let i = 0; i + 1 < p.rawHeaders.length; i += 2) {
        const name = p.rawHeaders[i]!;
        if (!DROPPED_HEADERS.has(name.toLowerCase())) headers.push([name, p.rawHeaders[i + 1]!]);
      }
      const etag = headers.find(([n]) => n.toLowerCase() === 'etag')?.[1];
      const paths = [p.path];
      // The first page was requested under /repos/<owner>/<repo>; the Link headers point at
      // /repositories/<id>: answer the first page under both.
      if (p.path.startsWith('/repos/'))
        paths.push(p.path.replace(/^\/repos\/[^/]+\/[^/]+/, '/repositories/515435940'));
      return {
        paths,
        status: p.status,
        headers,
        body: JSON.stringify(p.response),
        ...(etag ? { etag } : {}),
      };
    });
}

/** Path-and-query key with the query parameters sorted, so parameter order does not matter. */
function requestKey(url: URL): string {
  const params = [...url.searchParams.entries()].sort(([a], [b]) => a.localeCompare(b));
  return `${url.pathname}?${new URLSearchParams(params).toString()}`;
}

export interface FixtureServer {
  /** `http://127.0.0.1:PORT` */
  origin: string;
  port: number;
  /** Requests answered, by path. */
  hits: Map<string, number>;
  close(): Promise<void>;
}

/** The URLs of the recorded APIs on a running fixture server, used by the default local config. */
export function fixtureUrls(origin: string) {
  return {
    products: `${origin}/products`,
    carts: `${origin}/carts`,
    users: `${origin}/users`,
    githubIssues: `${origin}/repos/octokit-fixture-org/tmp-scenario-paginate-issues-20220719043836917-izyoe/issues?per_page=3`,
    usgs: `${origin}/earthquakes/feed/v1.0/summary/all_day.geojson`,
  };
}

/**
 * Starts the fixture server.
 * @param options.port - port; 0 (default) picks a free one.
 * @param options.host - address to bind. @default '127.0.0.1' (`0.0.0.0` in a container)
 * @param options.publicOrigin - origin written into rewritten `Link` headers, when clients reach the
 *   server under another name (e.g. `http://fixtures:8787` in docker compose). @default the bound origin
 * @throws ListenError (one line) when the port is taken.
 */
export async function startFixtureServer(
  options: { port?: number; host?: string; publicOrigin?: string; dir?: string } = {},
): Promise<FixtureServer> {
  const dir = options.dir ?? fixturesDir();
  const files: Record<string, Buffer> = {
    '/products': readFileSync(join(dir, 'fakestore/products_raw.json')),
    '/carts': readFileSync(join(dir, 'fakestore/carts_raw.json')),
    '/users': readFileSync(join(dir, 'fakestore/users_raw.json')),
    '/earthquakes/feed/v1.0/summary/all_day.geojson': readFileSync(
      join(dir, 'usgs/all_day_2019-01-30.geojson'),
    ),
  };
  const github = new Map<string, RecordedPage>();
  for (const page of loadGithub(dir)) {
    for (const p of page.paths) github.set(requestKey(new URL(p, 'http://x')), page);
  }
  const hits = new Map<string, number>();
  const retryAfterSeen = new Set<string>();
  let origin = '';

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    hits.set(url.pathname, (hits.get(url.pathname) ?? 0) + 1);
    const file = files[url.pathname];
    if (req.method === 'GET' && file) {
      const type = url.pathname.endsWith('.geojson')
        ? 'application/geo+json'
        : 'application/json; charset=utf-8';
      res.writeHead(200, { 'content-type': type, 'content-length': file.length });
      res.end(file);
      return;
    }
    const page = github.get(requestKey(url));
    if (req.method === 'GET' && page) {
      const headers = page.headers.map(([n, v]): [string, string] =>
        n.toLowerCase() === 'link' ? [n, v.replaceAll('https://api.github.com', origin)] : [n, v],
      );
      if (page.etag && req.headers['if-none-match'] === page.etag) {
        res.writeHead(304, headers.filter(([n]) => n.toLowerCase() !== 'content-type').flat());
        res.end();
        return;
      }
      res.writeHead(page.status, [...headers.flat(), 'Content-Length', String(Buffer.byteLength(page.body))]);
      res.end(page.body);
      return;
    }
    if (url.pathname.startsWith('/faults/')) {
      faults(url, req, res, retryAfterSeen);
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ message: 'Not Found', path: url.pathname }));
  };

  const server: Server = createServer(handle);
  const host = options.host ?? '127.0.0.1';
  const port = await listen(server, {
    port: options.port ?? 0,
    host,
    what: 'fixture server',
    hint: 'pass --fixture-port 0 for any free port',
  });
  origin = options.publicOrigin ?? `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  return {
    origin,
    port,
    hits,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function faults(url: URL, req: IncomingMessage, res: ServerResponse, retryAfterSeen: Set<string>): void {
  const kind = url.pathname.slice('/faults/'.length);
  const bytes = Number(url.searchParams.get('bytes') ?? 2 * 1024 * 1024);
  if (kind === 'html') {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><html><body><h1>502 Bad Gateway</h1></body></html>');
  } else if (kind === 'truncated') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('[{"id": 1, "title": "complete"}, {"id": 2, "tit');
  } else if (kind.startsWith('status/')) {
    res.writeHead(Number(kind.slice('status/'.length)), { 'content-type': 'application/json' });
    res.end('{"message":"injected failure"}');
  } else if (kind === 'hang') {
    // Never answers; the client's headers timeout must fire.
    req.on('close', () => res.destroy());
  } else if (kind === 'huge') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(`[${'"x",'.repeat(Math.ceil(bytes / 4))}"x"]`);
  } else if (kind === 'oversized-record') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify([
        { id: 'small-1', v: 1 },
        { id: 'big', blob: 'x'.repeat(bytes) },
        { id: 'small-2', v: 2 },
      ]),
    );
  } else if (kind === 'retry-after') {
    const key = `${req.socket.remoteAddress}:${url.search}`;
    if (!retryAfterSeen.has(key)) {
      retryAfterSeen.add(key);
      res.writeHead(503, {
        'retry-after': url.searchParams.get('secs') ?? '1',
        'content-type': 'application/json',
      });
      res.end('{"message":"slow down"}');
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('[{"id":"after-retry","v":1}]');
    }
  } else {
    res.writeHead(404);
    res.end();
  }
}
