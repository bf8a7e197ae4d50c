import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/support/cli.js';
import { parseConfig } from '../config/load.js';
import { ListenError } from '../telemetry/index.js';
import { FIXTURE_PROBE_ORIGIN, loadWithFixtures, usesFixtureServer } from './startup.js';

const source = (url: string) =>
  `  - { name: s${Math.random().toString(36).slice(2, 8)}, type: http, url: "${url}" }`;
const config = (...urls: string[]) =>
  parseConfig(
    `sources:${urls.length ? '' : ' []'}\n${urls.map(source).join('\n')}\nsinks: [{ type: kinesis, streamName: s }]\n`,
    'c.yaml',
    {
      FIXTURE_ORIGIN: FIXTURE_PROBE_ORIGIN,
    },
  );

describe('whether `ingest local` needs the fixture server', () => {
  it('yes when a source URL comes from ${FIXTURE_ORIGIN} or names the fixture port on the loopback', () => {
    expect(usesFixtureServer(config('https://api.example.com/a', '${FIXTURE_ORIGIN}/products'), 8787)).toBe(
      true,
    );
    expect(usesFixtureServer(config('http://127.0.0.1:8787/products'), 8787)).toBe(true);
    expect(usesFixtureServer(config('http://localhost:8787/x'), 8787)).toBe(true);
  });

  it('no otherwise', () => {
    expect(usesFixtureServer(config(), 8787)).toBe(false);
    expect(usesFixtureServer(config('https://api.example.com/a', 'http://127.0.0.1:9000/x'), 8787)).toBe(
      false,
    );
    expect(usesFixtureServer(config('http://127.0.0.1:8787/x'), 0)).toBe(false);
    expect(usesFixtureServer(config('http://10.0.0.1:8787/x'), 8787)).toBe(false);
  });
});

describe('loadWithFixtures', () => {
  const dir = tempDir('local-startup');
  let holder: Server;
  let taken: number;
  const saved = process.env.FIXTURE_ORIGIN;
  beforeAll(async () => {
    holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    taken = (holder.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((r) => holder.close(() => r())));
  afterEach(() => {
    if (saved === undefined) delete process.env.FIXTURE_ORIGIN;
    else process.env.FIXTURE_ORIGIN = saved;
  });

  it('does not start the fixture server when no source uses it, even with its port taken', async () => {
    const file = join(dir, 'remote.yaml');
    writeFileSync(file, 'sources:\n  - { name: r, type: http, url: "https://api.example.com/r" }\n');
    const { config, fixtures } = await loadWithFixtures(file, taken);
    expect(fixtures).toBeUndefined();
    expect(config.sources[0]!.url).toBe('https://api.example.com/r');
  });

  it('starts it for config/local.yaml and points the sources at it', async () => {
    const { config, fixtures } = await loadWithFixtures('config/local.yaml', 0);
    try {
      expect(fixtures).toBeDefined();
      expect(config.sources.every((s) => s.url.startsWith(`${fixtures!.origin}/`))).toBe(true);
      expect((await fetch(`${fixtures!.origin}/products`)).status).toBe(200);
    } finally {
      await fixtures?.close();
    }
  });

  it('fails with a ListenError when a source uses it and its port is taken', async () => {
    await expect(loadWithFixtures('config/local.yaml', taken)).rejects.toBeInstanceOf(ListenError);
  });
});
