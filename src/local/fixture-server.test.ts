import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FixtureServer, fixtureUrls, startFixtureServer } from './fixture-server.js';

describe('fixture server', () => {
  let srv: FixtureServer;
  beforeAll(async () => {
    srv = await startFixtureServer({ port: 0 });
  });
  afterAll(() => srv.close());

  it('replays the FakeStore and USGS responses byte for byte', async () => {
    const urls = fixtureUrls(srv.origin);
    const carts = Buffer.from(await (await fetch(urls.carts)).arrayBuffer());
    expect(carts.equals(readFileSync('fixtures/fakestore/carts_raw.json'))).toBe(true);
    const usgs = (await (await fetch(urls.usgs)).json()) as { features: unknown[] };
    expect(usgs.features).toHaveLength(233);
  });

  it('replays the GitHub pages with their ETag, rate-limit headers and Link rewritten to itself', async () => {
    let url: string | undefined = fixtureUrls(srv.origin).githubIssues;
    const counts: number[] = [];
    let first: Response | undefined;
    while (url) {
      const res: Response = await fetch(url);
      first ??= res;
      expect(res.status).toBe(200);
      expect(res.headers.get('x-ratelimit-limit')).toBe('5000');
      counts.push(((await res.json()) as unknown[]).length);
      const link = res.headers.get('link') ?? '';
      if (link) expect(link).not.toContain('api.github.com');
      url = /<([^>]+)>;\s*rel="next"/.exec(link)?.[1];
    }
    expect(counts).toEqual([3, 3, 3, 3, 1]);
    const etag = first!.headers.get('etag')!;
    const again = await fetch(fixtureUrls(srv.origin).githubIssues, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
  });

  it('answers 404 for unknown paths and serves the fault routes', async () => {
    expect((await fetch(`${srv.origin}/nope`)).status).toBe(404);
    expect((await fetch(`${srv.origin}/faults/status/503`)).status).toBe(503);
    expect((await fetch(`${srv.origin}/faults/html`)).headers.get('content-type')).toBe('text/html');
  });
});
