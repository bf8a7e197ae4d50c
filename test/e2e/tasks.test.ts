/**
 * Issue 10: three `run` and two `consume` processes (`ingest local --run-tasks 3 --consume-tasks 2`)
 * on the fixtures, one of each killed (SIGKILL) midway: the run task while it polls
 * usgs.earthquakes, the consume task while it holds unflushed records. Every source and shard has
 * one owner at a time (fencing tokens rise by one per owner; no two tasks' polls of a source
 * overlap), the dead task's sources and shards are taken over within one lease period, and every
 * fixture record lands in bronze (distinct ids; duplicates from re-reads are allowed).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatTasksSummary, type LocalTask, runLocalTasks } from '../../src/local/tasks.js';
import { CLI, requireBuiltCli, tempDir } from '../support/cli.js';

const LEASE_SECS = 10;
/** Records the fixture server serves across the five sources of config/local.yaml. */
const FIXTURE_RECORDS = 283;

let dir: string;
beforeAll(() => {
  requireBuiltCli();
  dir = tempDir('tasks');
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Kills a run task 1 s into its lease of usgs.earthquakes and a consume task 1.5 s into reading a shard. */
function killer(tasks: LocalTask[]): void {
  const kill = (role: 'run' | 'consume', holds: (t: LocalTask) => number | undefined, afterMs: number) => {
    const timer = setInterval(() => {
      if (tasks.some((t) => t.role === role && t.killedAtMs !== undefined)) return clearInterval(timer);
      for (const t of tasks.filter((x) => x.role === role)) {
        const since = holds(t);
        if (since !== undefined && Date.now() - since >= afterMs) {
          t.kill();
          clearInterval(timer);
          return;
        }
      }
    }, 25);
  };
  kill(
    'run',
    (t) => t.lines.find((l) => l.event === 'lease_acquired' && l.resource === 'usgs.earthquakes')?.time,
    1_000,
  );
  kill('consume', (t) => t.lines.find((l) => l.msg === 'bronze writer reading shard')?.time, 1_500);
}

describe('ingest local --run-tasks 3 --consume-tasks 2', () => {
  it('survives one run and one consume task killed midway: one owner at a time, takeover within a lease, every record lands', async () => {
    process.env.INGEST_LAKE_URI = `file://${join(dir, 'lake')}`;
    process.env.INGEST_STATE_DIR = join(dir, 'state');
    const summary = await runLocalTasks({
      configFile: 'config/local.yaml',
      runTasks: 3,
      consumeTasks: 2,
      leaseSecs: LEASE_SECS,
      durationSecs: 240,
      fixturePort: 0,
      logger: pino({ level: 'silent' }),
      cliPath: CLI,
      onTasks: killer,
    });
    console.log(formatTasksSummary(summary));
    const killed = summary.tasks.filter((t) => t.killed);
    expect(killed.map((t) => t.role).sort()).toEqual(['consume', 'run']);

    // Every record landed (distinct ids), nothing lost.
    expect(summary.sources.reduce((n, s) => n + s.inBronze, 0)).toBe(FIXTURE_RECORDS);
    for (const s of summary.sources) expect(s.inBronze).toBe(s.expected);
    expect(summary.complete).toBe(true);

    // One owner at a time: per resource, each acquisition's fencing token is the previous one + 1,
    // and no two tasks' polls of one source overlap in time.
    const byResource = new Map<string, number[]>();
    for (const c of summary.leaseChanges) {
      const key = `${c.group}/${c.resource}`;
      byResource.set(key, [...(byResource.get(key) ?? []), c.token]);
    }
    for (const tokens of byResource.values()) expect(tokens).toEqual(tokens.map((_, i) => tokens[0]! + i));
    expect(summary.overlaps).toBe(0);

    // Takeover of what each killed task held, within one lease period of the kill.
    for (const k of killed) {
      const takeovers = summary.leaseChanges.filter((c) => c.fromTask === k.name && c.atMs >= k.killedAtMs!);
      expect(takeovers.length).toBeGreaterThan(0);
      for (const c of takeovers) {
        expect(['dead_process', 'lease_expired']).toContain(c.reason);
        expect(c.atMs - k.killedAtMs!).toBeLessThanOrEqual(LEASE_SECS * 1000);
      }
      console.log(
        `${k.name} killed; taken over: ${takeovers.map((c) => `${c.resource} by ${c.task} after ${c.atMs - k.killedAtMs!} ms (${c.reason})`).join(', ')}`,
      );
    }
  }, 300_000);
});
