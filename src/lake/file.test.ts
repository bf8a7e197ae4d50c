import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openLake } from './index.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'file-lake-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('FileLake', () => {
  it('writes, reads and lists objects by prefix', async () => {
    const lake = openLake(`file://${dir}`);
    await lake.put('bronze/source=a/dt=2024-01-01/hour=00/x.json.gz', new Uint8Array([1, 2]));
    await lake.put('dead-letter/y.json.gz', new Uint8Array([3]));
    expect(await lake.list('bronze/')).toEqual(['bronze/source=a/dt=2024-01-01/hour=00/x.json.gz']);
    expect(await lake.get('bronze/source=a/dt=2024-01-01/hour=00/x.json.gz')).toEqual(Buffer.from([1, 2]));
    expect(await lake.get('nope')).toBeUndefined();
    expect(await lake.ping()).toBe(true);
  });

  it('survives concurrent writes of one key (no shared temp file) and leaves no temp file', async () => {
    const lake = openLake(`file://${dir}`);
    const bodies = Array.from({ length: 20 }, (_, i) => new Uint8Array([i]));
    await Promise.all(bodies.map((b) => lake.put('k/obj', b)));
    const got = await lake.get('k/obj');
    expect(bodies.some((b) => Buffer.from(b).equals(Buffer.from(got ?? [])))).toBe(true);
    expect(await readdir(join(dir, 'k'))).toEqual(['obj']);
  });
});
