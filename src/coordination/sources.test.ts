/**
 * LeasedSourceGroup on the local (file) state store: a source polls only while its lease is held,
 * through a fenced state store, and `ingest_source_lease_owner{source, owner}` names the holder.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, expect, it } from 'vitest';
import type { PollResult, Source, SourceStats } from '../pollers/types.js';
import { FileStateStore, type StateStore } from '../state/index.js';
import { sourceLeaseOwner } from '../telemetry/sources.js';
import { COORDINATION_DEFAULTS } from './config.js';
import { LeaseLostError } from './errors.js';
import { FencedStateStore } from './fenced.js';
import { LeasedSourceGroup } from './sources.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A source that records its lifecycle and the store it was built on. */
function fakeSource(name: string, events: string[], stores: StateStore[], state: StateStore): Source {
  stores.push(state);
  const stats: SourceStats = {
    polls: 1,
    completedPolls: 1,
    polled: 3,
    emitted: 3,
    unchanged: 0,
    deadLettered: 0,
    errors: 0,
    failedPolls: 0,
    notModifiedPages: 0,
  };
  return {
    name,
    start: () => events.push(`start ${name}`),
    stop: async () => {
      events.push(`stop ${name}`);
    },
    pollOnce: async () => ({ source: name }) as PollResult,
    stats: () => stats,
  };
}

async function ownerSeries(): Promise<{ source?: string | number; owner?: string | number }[]> {
  return ((await sourceLeaseOwner.get()).values ?? []).map((v) => v.labels);
}

it('starts a source on a fenced store when its lease is taken, names the owner, stops it on release', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'leased-sources-'));
  dirs.push(dir);
  const state = new FileStateStore(dir);
  const events: string[] = [];
  const stores: StateStore[] = [];
  const group = new LeasedSourceGroup({
    names: ['api.one', 'api.two'],
    build: (name, fenced) => fakeSource(name, events, stores, fenced),
    state,
    config: { ...COORDINATION_DEFAULTS, enabled: true },
    me: { instanceId: 'task-a', host: 'host-a', pid: 1 },
    logger: pino({ level: 'silent' }),
  });
  await group.start();
  expect(group.held()).toEqual(['api.one', 'api.two']);
  expect(events.sort()).toEqual(['start api.one', 'start api.two']);
  expect(stores.every((s) => s instanceof FencedStateStore)).toBe(true);
  expect(await ownerSeries()).toEqual(
    expect.arrayContaining([
      { source: 'api.one', owner: 'task-a' },
      { source: 'api.two', owner: 'task-a' },
    ]),
  );
  await expect(group.sources[0]!.pollOnce()).resolves.toMatchObject({ source: 'api.one' });
  await stores[0]!.put('cursor/api.one', 1);

  await group.stop();
  expect(events.filter((e) => e.startsWith('stop')).sort()).toEqual(['stop api.one', 'stop api.two']);
  expect((await ownerSeries()).filter((l) => l.owner === 'task-a')).toEqual([]);
  await expect(group.sources[0]!.pollOnce()).rejects.toBeInstanceOf(LeaseLostError);
  // Released: the old fence no longer lets a write through.
  await expect(stores[0]!.put('cursor/api.one', 2)).rejects.toBeInstanceOf(LeaseLostError);
  expect(group.sources[0]!.stats().emitted).toBe(3);
});
