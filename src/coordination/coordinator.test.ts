/**
 * Lease coordination on the local (file) state store: several coordinators in one process share
 * resources with one owner each, rebalance when one joins or leaves, take a silent member's resources
 * once its lease runs out, and fence state writes of a lost lease.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { FileStateStore } from '../state/index.js';
import { LeaseCoordinator } from './coordinator.js';
import { LeaseLostError } from './errors.js';
import { FencedStateStore } from './fenced.js';
import { LeaseTable } from './lease.js';

const logger = pino({ level: 'silent' });
const RESOURCES = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
const dirs: string[] = [];

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function store(): FileStateStore {
  const dir = mkdtempSync(join(tmpdir(), 'leases-'));
  dirs.push(dir);
  return new FileStateStore(dir);
}

/** A coordinator recording which resources it works on; `host` differs so pid checks do not apply. */
function member(state: FileStateStore, id: string, working: Map<string, string>, leaseMs = 2_000) {
  return new LeaseCoordinator({
    state,
    group: 'sources',
    kind: 'source',
    me: { instanceId: id, host: `host-${id}`, pid: 1 },
    leaseMs,
    heartbeatMs: leaseMs / 4,
    resources: () => RESOURCES,
    onAcquired: (lease) => {
      const other = working.get(lease.resource);
      if (other !== undefined) throw new Error(`${lease.resource} worked on by ${other} and ${id}`);
      working.set(lease.resource, id);
    },
    onStopping: async (resource) => {
      if (working.get(resource) === id) working.delete(resource);
    },
    logger,
  });
}

async function rounds(cs: LeaseCoordinator[], n = 3): Promise<void> {
  for (let i = 0; i < n; i++) {
    for (const c of cs) await c.tick();
    for (const c of cs) await c.handOffsDone();
  }
}

describe('LeaseCoordinator', () => {
  it('gives every resource one owner, rebalances on join and leave', async () => {
    const state = store();
    const working = new Map<string, string>();
    const a = member(state, 'a', working);
    const b = member(state, 'b', working);
    await a.start();
    await rounds([a]);
    expect(a.heldResources()).toEqual(RESOURCES);
    await b.start();
    // a hands off what b should own (after stopping it), then b takes it.
    await rounds([a, b], 4);
    const union = [...a.heldResources(), ...b.heldResources()].sort();
    expect(union).toEqual(RESOURCES);
    expect(b.heldResources().length).toBeGreaterThan(0);
    expect(a.heldResources().length).toBeGreaterThan(0);
    expect(new Set(working.values())).toEqual(new Set(['a', 'b']));
    await b.stop();
    await rounds([a]);
    expect(a.heldResources()).toEqual(RESOURCES);
    await a.stop();
    expect(working.size).toBe(0);
  });

  it("takes a silent member's resources once its lease runs out, and fences its writes", async () => {
    const state = store();
    const working = new Map<string, string>();
    const a = member(state, 'a', working, 400);
    const b = member(state, 'b', working, 400);
    await a.start();
    await b.start();
    await rounds([a, b], 4);
    const ofB = b.heldResources();
    expect(ofB.length).toBeGreaterThan(0);
    const resource = ofB[0]!;
    const bLease = await new LeaseTable(
      state,
      'sources',
      { instanceId: 'b', host: 'host-b', pid: 1 },
      400,
    ).read(resource);
    const fenced = new FencedStateStore(state, () =>
      new LeaseTable(state, 'sources', { instanceId: 'b', host: 'host-b', pid: 1 }, 400).check(
        resource,
        bLease!.value.token,
      ),
    );
    await fenced.put(`cursor/${resource}`, 1);
    // b goes silent (as if killed): no heartbeat, no release.
    await (b as unknown as { heartbeat: { stop(): Promise<void> } }).heartbeat.stop();
    for (const r of ofB) working.delete(r);
    const silentAt = Date.now();
    while (a.heldResources().length < RESOURCES.length) {
      await a.tick();
      await new Promise((r) => setTimeout(r, 50));
      if (Date.now() - silentAt > 5_000) break;
    }
    expect(a.heldResources()).toEqual(RESOURCES);
    await expect(fenced.put(`cursor/${resource}`, 2)).rejects.toBeInstanceOf(LeaseLostError);
    await expect(fenced.seen.putMany(resource, [{ entity: 'x', id: 'y' }])).rejects.toBeInstanceOf(
      LeaseLostError,
    );
    expect((await state.get(`cursor/${resource}`))?.value).toBe(1);
    await a.stop();
  });
});
