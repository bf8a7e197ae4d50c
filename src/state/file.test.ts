import { mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { StateConflictError } from '../errors.js';
import { FileStateStore } from './file.js';

const dir = () => mkdtempSync(join(tmpdir(), 'state-'));

describe('FileStateStore', () => {
  it('round-trips values with increasing versions and survives a new instance', async () => {
    const d = dir();
    const a = new FileStateStore(d);
    expect(await a.get('x/y')).toBeUndefined();
    expect(await a.put('x/y', { n: 1 })).toBe(1);
    expect(await a.put('x/y', { n: 2 })).toBe(2);
    expect(await new FileStateStore(d).get('x/y')).toEqual({ value: { n: 2 }, version: 2 });
  });

  it('conditional writes: only the writer holding the expected version wins', async () => {
    const s = new FileStateStore(dir());
    expect(await s.put('k', 'a', { expectedVersion: 0 })).toBe(1);
    await expect(s.put('k', 'b', { expectedVersion: 0 })).rejects.toBeInstanceOf(StateConflictError);
    expect(await s.put('k', 'c', { expectedVersion: 1 })).toBe(2);
    const results = await Promise.allSettled([
      s.put('k', 'd', { expectedVersion: 2 }),
      s.put('k', 'e', { expectedVersion: 2 }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1);
  });

  it('takes over a lock left by a dead process, but not one held by a live one', async () => {
    const d = dir();
    const s = new FileStateStore(d);
    await s.put('k', 1);
    const lock = join(d, 'k.json.lock'); // key without '/'
    writeFileSync(lock, '999999999'); // no such process
    expect(await s.put('k', 2, { expectedVersion: 1 })).toBe(2);
    writeFileSync(lock, String(process.pid)); // our own pid: a previous incarnation's lock
    expect(await s.put('k', 3, { expectedVersion: 2 })).toBe(3);
    writeFileSync(lock, String(process.ppid)); // alive
    await expect(s.put('k', 4, { expectedVersion: 3 })).rejects.toThrow(/being written by process/);
    writeFileSync(lock, ''); // no pid, fresh: held
    await expect(s.put('k', 4, { expectedVersion: 3 })).rejects.toThrow(/being written/);
    utimesSync(lock, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000)); // no pid, old: stale
    expect(await s.put('k', 4, { expectedVersion: 3 })).toBe(4);
  });
});
