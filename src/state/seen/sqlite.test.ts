import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileStateStore } from '../file.js';
import { loadSqlite, SqliteSeenStore } from './sqlite.js';
import { boundedSeenKey } from './types.js';

const dir = () => mkdtempSync(join(tmpdir(), 'seen-'));

describe('SqliteSeenStore', () => {
  it('loads node:sqlite without printing its ExperimentalWarning, and leaves other warnings alone', async () => {
    // This Node does print the warning on a plain load (so the check below can fail) ...
    const plain = spawnSync(process.execPath, ['-e', "require('node:sqlite')"], { encoding: 'utf8' });
    expect(plain.stderr).toMatch(/ExperimentalWarning: SQLite is an experimental feature/);
    // ... and this test file's process has not loaded node:sqlite before this line.
    const warnings: Error[] = [];
    const listener = (w: Error) => warnings.push(w);
    process.on('warning', listener);
    const emitWarning = process.emitWarning;
    try {
      loadSqlite();
      expect(process.emitWarning).toBe(emitWarning);
      process.emitWarning('something else', 'TestWarning');
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('warning', listener);
    }
    expect(warnings.map((w) => w.message)).toEqual(['something else']);
  });

  it('round-trips entries per source, upserts deltas, and survives a new instance (WAL mode)', async () => {
    const file = join(dir(), 'state', 'seen.sqlite');
    const a = new SqliteSeenStore(file);
    expect(await a.getMany('s', ['1'])).toEqual(new Map());
    await a.putMany('s', [
      { entity: '1', id: '1@a' },
      { entity: '2', id: '2@a' },
    ]);
    await a.putMany('t', [{ entity: '1', id: 'other' }]);
    await a.putMany('s', [
      { entity: '2', id: '2@b' },
      { entity: '2', id: '2@c' }, // last wins
    ]);
    expect(await a.getMany('s', ['1', '2', '3'])).toEqual(
      new Map([
        ['1', '1@a'],
        ['2', '2@c'],
      ]),
    );
    expect(a.count('s')).toBe(2);
    await a.close();
    expect(existsSync(file)).toBe(true);
    const b = new SqliteSeenStore(file);
    expect(await b.getMany('t', ['1', '2'])).toEqual(new Map([['1', 'other']]));
    const { DatabaseSync } = loadSqlite();
    const raw = new DatabaseSync(file);
    expect(raw.prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' });
    raw.close();
    await b.close();
  });

  it('getMany reads many entities (whole chunks in one statement, the rest one by one), absent ones left out', async () => {
    const store = new SqliteSeenStore(join(mkdtempSync(join(tmpdir(), 'seen-')), 'seen.sqlite'));
    const entries = Array.from({ length: 120 }, (_, i) => ({ entity: `e${i}`, id: `e${i}@1` }));
    await store.putMany('s', entries);
    await store.putMany('other', [{ entity: 'e1', id: 'other@1' }]);
    const asked = Array.from({ length: 137 }, (_, i) => `e${i}`);
    const got = await store.getMany('s', asked);
    expect(got.size).toBe(120);
    expect(got.get('e0')).toBe('e0@1');
    expect(got.get('e1')).toBe('e1@1');
    expect(got.get('e119')).toBe('e119@1');
    expect(got.has('e120')).toBe(false);
    await store.close();
  });

  it('is the file state store’s seen store, in <dir>/seen.sqlite, closed with it', async () => {
    const d = dir();
    const state = new FileStateStore(d);
    await state.seen.putMany('s', [{ entity: 'k', id: 'v' }]);
    await state.close();
    expect(existsSync(join(d, 'seen.sqlite'))).toBe(true);
    const again = new FileStateStore(d);
    expect(await again.seen.getMany('s', ['k'])).toEqual(new Map([['k', 'v']]));
    await again.close();
  });

  it('bounds keys and ids: over 512 bytes they are tracked as their SHA-256', () => {
    expect(boundedSeenKey('x'.repeat(512))).toBe('x'.repeat(512));
    expect(boundedSeenKey('x'.repeat(513))).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(boundedSeenKey('é'.repeat(257))).toMatch(/^sha256:/); // 514 bytes
  });
});
