import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalSummary } from '../../src/local/index.js';
import { FIXTURE_SILVER_ROWS, requireBuiltCli, type Spawned, spawnCli, tempDir } from '../support/cli.js';

/**
 * Crash safety end to end: `ingest local` is SIGKILLed (no handler runs) during each stage in turn,
 * on one lake, and run again without --fresh. Every process the killed run started must die with it,
 * the rerun must take the dead owner's hour over at once and keep the job runs that had succeeded,
 * and the final gold and silver must be exactly those of an uninterrupted run.
 *
 * Stages are recognised from the run's log lines on stderr (LOG_LEVEL=info).
 */

interface Stage {
  name: string;
  /** The log line that says the stage is under way. */
  reached: (line: string) => boolean;
  /** Wait this long after it before the kill (lets Spark's JVM start). */
  delayMs?: number;
}

const msg = (text: string) => (line: string) => line.includes(`"msg":"${text}"`);
const jobStarted = (job: string) => (line: string) =>
  msg('job run started')(line) && line.includes(`"job":"${job}"`);

const POLLING: Stage = { name: 'polling', reached: msg('run role started') };
const LANDING: Stage = { name: 'landing', reached: msg('bronze buffer flushed') };
const BRONZE_TO_SILVER: Stage = {
  name: 'bronze_to_silver',
  reached: jobStarted('bronze_to_silver'),
  delayMs: 4_000,
};
const SILVER_TO_GOLD: Stage = {
  name: 'silver_to_gold',
  reached: jobStarted('silver_to_gold'),
  // The job takes ~3 s on the warm job server: kill while it runs, not after the hour is done.
  delayMs: 1_000,
};
const QUALITY: Stage = {
  name: 'quality query',
  reached: msg('running the gold analytics and the data-quality queries'),
};

/** pid → start time (clock ticks since boot, /proc/<pid>/stat field 22) of the process tree under `root`. */
function processTree(root: number): Map<number, string> {
  const table = execFileSync('ps', ['-eo', 'pid=,ppid='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number) as [number, number]);
  const tree = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, ppid] of table) {
      if (tree.has(ppid) && !tree.has(pid)) {
        tree.add(pid);
        grew = true;
      }
    }
  }
  const out = new Map<number, string>();
  for (const pid of tree) {
    const start = startTime(pid);
    if (start !== undefined) out.set(pid, start);
  }
  return out;
}

/** Start time of a live (not zombie) process, `undefined` when it is gone. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' ? undefined : fields[19];
  } catch {
    return undefined;
  }
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').slice(0, 160);
  } catch {
    return '?';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('ingest local survives a SIGKILL in every stage', () => {
  beforeAll(() => requireBuiltCli());

  const dir = tempDir('e2e-crash');
  const env = {
    INGEST_STATE_DIR: join(dir, 'state'),
    INGEST_LAKE_URI: `file://${join(dir, 'lake')}`,
    INGEST_RUN_PORT: '0',
    INGEST_CONSUME_PORT: '0',
    LOG_LEVEL: 'info',
  };
  const summaryFile = join(dir, 'summary.json');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /**
   * Starts a run, waits for the stage's log line, SIGKILLs the CLI alone (not its group) and checks
   * that every process it had started is gone within 15 s.
   */
  async function killDuring(stage: Stage): Promise<Spawned> {
    const run = spawnCli(['local', '--fixture-port', '0'], env);
    let exited: { code: number | null } | undefined;
    void run.exited.then((e) => {
      exited = e;
    });
    const deadline = Date.now() + 600_000;
    while (!run.stderr().split('\n').some(stage.reached)) {
      if (exited) {
        throw new Error(
          `run exited (${exited.code}) before ${stage.name}:\n${run.stderr().slice(-3000)}\n${run.stdout()}`,
        );
      }
      if (Date.now() > deadline) throw new Error(`${stage.name} not reached in 600 s`);
      await sleep(100);
    }
    if (stage.delayMs) await sleep(stage.delayMs);
    const tree = processTree(run.child.pid!);
    expect(exited, `the run ended before it could be killed during ${stage.name}`).toBeUndefined();
    run.child.kill('SIGKILL');
    await run.exited;
    const until = Date.now() + 15_000;
    let alive: number[] = [];
    do {
      await sleep(200);
      alive = [...tree].filter(([pid, start]) => startTime(pid) === start).map(([pid]) => pid);
    } while (alive.length > 0 && Date.now() < until);
    expect(
      alive.map((pid) => `${pid} ${commandOf(pid)}`),
      `processes of the run killed during ${stage.name} still alive`,
    ).toEqual([]);
    return run;
  }

  /** A run to its end: exit 0, and gold and silver exactly those of an uninterrupted run. */
  async function runToEnd(): Promise<Spawned> {
    const run = spawnCli(['local', '--fixture-port', '0', '--summary-json', summaryFile], env);
    const { code } = await run.exited;
    expect(code, `${run.stdout()}\n${run.stderr().slice(-3000)}`).toBe(0);
    expect(run.stdout()).toContain('gold: monthly_sales_trend');
    const summary = JSON.parse(readFileSync(summaryFile, 'utf8')) as LocalSummary;
    expect(summary.complete).toBe(true);
    expect(summary.lake?.notDone).toEqual([]);
    // Each key once in silver: as many rows as the fixtures have records, and no duplicate id.
    expect(summary.lake?.silverRows).toEqual(FIXTURE_SILVER_ROWS);
    expect(summary.lake?.quality.find((q) => q.name === 'dq_duplicate_ids')).toMatchObject({
      value: 0,
      passed: true,
    });
    const trend = summary.lake!.analytics.find((a) => a.name === 'monthly_sales_trend')!.result;
    const col = (name: string) => trend.columns.indexOf(name);
    const gold = Object.fromEntries(
      trend.rows.map((r) => [
        `${r[col('year')]}-${String(r[col('month')]).padStart(2, '0')}`,
        Number(r[col('revenue')]),
      ]),
    );
    expect(gold).toMatchObject({ '2020-01': 3018.5, '2020-03': 1672.77 });
    return run;
  }

  it('polling, landing, bronze_to_silver, silver_to_gold: the rerun takes the hour over and resumes', async () => {
    await killDuring(POLLING);
    await killDuring(LANDING);
    await killDuring(BRONZE_TO_SILVER);
    await killDuring(SILVER_TO_GOLD);
    const rerun = await runToEnd();
    // The dead owner's hour was taken over at once (not after its lease), and the bronze_to_silver
    // runs that had succeeded before the kill were kept, not run again.
    expect(rerun.stderr()).toContain('took over an hour whose owner process on this host is gone');
    expect(rerun.stderr()).toContain('recorded job run had succeeded: kept');
    expect(rerun.stdout()).toMatch(/took over \d+ hour\(s\) from a dead or expired owner/);
  }, 1_800_000);

  it('the quality query: the rerun reports the same gold', async () => {
    await killDuring(QUALITY);
    await runToEnd();
  }, 900_000);
});
