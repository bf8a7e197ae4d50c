import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writePidFile } from '../runtime/children.js';
import { ListenError } from '../telemetry/listen.js';
import { PERSIST_FILE, startKinesisLocal } from './kinesis-local.js';

const root = mkdtempSync(join(tmpdir(), 'kinesis-local-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('kinesis-local with a persist folder', () => {
  it('persists atomically, keeps a pid file while it runs, and removes it on stop', async () => {
    const dir = join(root, 'a');
    const k = await startKinesisLocal({ streams: [{ name: 's', shards: 1 }], persistDir: dir });
    try {
      expect(JSON.parse(readFileSync(`${dir}.pid`, 'utf8'))).toMatchObject({ pid: k.process.pid });
      const file = join(dir, PERSIST_FILE);
      const until = Date.now() + 10_000;
      while (!existsSync(file) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      expect(JSON.parse(readFileSync(file, 'utf8'))).toBeTypeOf('object');
    } finally {
      await k.stop();
    }
    expect(existsSync(`${dir}.pid`)).toBe(false);
    expect(existsSync(join(dir, `${PERSIST_FILE}.tmp`))).toBe(false);
  }, 60_000);

  it('refuses a damaged data file and an emulator of an earlier run still alive, with one clear line', async () => {
    const damaged = join(root, 'b');
    mkdirSync(damaged, { recursive: true });
    writeFileSync(join(damaged, PERSIST_FILE), '');
    await expect(startKinesisLocal({ persistDir: damaged })).rejects.toThrow(/is damaged .* --fresh/);

    const held = join(root, 'c');
    writePidFile(`${held}.pid`, { pid: process.ppid, port: 4567, what: 'kinesis-local' });
    const err = await startKinesisLocal({ persistDir: held }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ListenError);
    expect((err as Error).message).toMatch(
      new RegExp(`earlier run \\(pid ${process.ppid},.*holds port 4567 .*kill ${process.ppid}`),
    );
  });
});
