import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EntitySchema } from '../config.js';
import { ConcurrentRunsExceededError, CrawlerRunningError, GlueError } from '../errors.js';
import { TERMINAL_JOB_STATES } from '../types.js';
import { findProjectRoot, LocalGlueExecutor, runsDirForLake } from './executor.js';

const root = findProjectRoot();
const HOUR = { dt: '2026-11-25', hour: '06' };

/** The users mapping of config/local.yaml, through the zod contract (defaults filled in). */
const usersEntity = EntitySchema.parse({
  source: 'fakestore.users',
  entity: 'users',
  columns: [
    { name: 'user_id', path: 'id', type: 'bigint' },
    { name: 'username', path: 'username' },
    { name: 'email', path: 'email', pii: true },
    { name: 'city', path: 'address.city' },
  ],
});

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(join(e.parentPath, e.name));
  }
  return out;
}

describe('LocalGlueExecutor', () => {
  let lake: string;
  let users: { id: number; email: string; username: string }[];

  beforeAll(async () => {
    lake = await mkdtemp(join(tmpdir(), 'local-glue-'));
    users = JSON.parse(await readFile(join(root, 'fixtures/fakestore/users_raw.json'), 'utf8')).slice(0, 3);
    const lines = users.map((u, i) =>
      JSON.stringify({
        source: 'fakestore.users',
        id: `${u.id}@v1`,
        ingested_at: `2026-11-25T06:00:0${i}.000Z`,
        payload: u,
      }),
    );
    // The first user twice: at-least-once delivery; silver keeps it once.
    lines.push(lines[0]!.replace('06:00:00.000Z', '06:30:00.000Z'));
    const dir = join(lake, 'bronze/source=fakestore.users', `dt=${HOUR.dt}`, `hour=${HOUR.hour}`);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'ingest-shardId-000000000000-1.json.gz'), gzipSync(`${lines.join('\n')}\n`));
  });

  afterAll(async () => {
    await rm(lake, { recursive: true, force: true });
  });

  const args = () => ({
    source: 'fakestore.users',
    hours: `${HOUR.dt}T${HOUR.hour}`,
    lake_uri: `file://${lake}`,
    entity_json: JSON.stringify(usersEntity),
    pii_key_env: 'INGEST_PII_KEY',
  });

  it('runs bronze_to_silver end to end: RUNNING, then SUCCEEDED with silver Parquet; MaxConcurrentRuns 1', async () => {
    const glue = new LocalGlueExecutor({ env: { INGEST_PII_KEY: 'test-key' } });
    try {
      const runId = await glue.startJobRun('bronze_to_silver', args());
      expect(runId).toMatch(/^jr_[0-9a-f]{64}$/);
      expect((await glue.getJobRun('bronze_to_silver', runId)).state).toBe('RUNNING');

      // Glue's default MaxConcurrentRuns is 1: a second run of the same job is refused, retriably.
      const second = glue.startJobRun('bronze_to_silver', args());
      await expect(second).rejects.toBeInstanceOf(ConcurrentRunsExceededError);
      await expect(second).rejects.toMatchObject({ retriable: true });

      const run = await glue.waitForJobRun('bronze_to_silver', runId);
      expect(run.errorMessage).toBeUndefined();
      expect(run.state).toBe('SUCCEEDED');
      expect(run.exitCode).toBe(0);
      expect(run.executionTimeSecs).toBeGreaterThan(0);
      expect(run.summary).toMatchObject({
        job: 'bronze_to_silver',
        rows_read: 4,
        rows_written: 3,
        duplicates_dropped: 1,
        partitions_written: [[HOUR.dt, HOUR.hour]],
      });

      const files = await listFiles(join(lake, 'silver/users'));
      const parquet = files.filter((f) => f.endsWith('.parquet'));
      expect(parquet.length).toBeGreaterThan(0);
      for (const f of parquet) expect(f).toContain(`/silver/users/dt=${HOUR.dt}/hour=${HOUR.hour}/`);
      const bytes = Buffer.concat(await Promise.all(parquet.map((f) => readFile(f))));
      expect(bytes.subarray(0, 4).toString()).toBe('PAR1');
      for (const u of users) expect(bytes.includes(Buffer.from(u.email))).toBe(false);
    } finally {
      await glue.close();
    }
  });

  it('reports FAILED with the stderr tail when the job fails (missing PII key)', async () => {
    const glue = new LocalGlueExecutor({ env: { INGEST_PII_KEY: undefined } });
    try {
      const runId = await glue.startJobRun('bronze_to_silver', args());
      const run = await glue.waitForJobRun('bronze_to_silver', runId);
      expect(run.state).toBe('FAILED');
      expect(TERMINAL_JOB_STATES.has(run.state)).toBe(true);
      expect(run.errorMessage).toMatch(/PiiKeyError: PII key missing: environment variable INGEST_PII_KEY/);
      expect(run.exitCode).toBe(1);
    } finally {
      await glue.close();
    }
  });

  it('enforces a per-job MaxConcurrentRuns and stops running jobs on close()', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'local-glue-sleep-'));
    const sleeper = join(dir, 'sleeper.py');
    await writeFile(sleeper, 'import time\ntime.sleep(60)\n');
    const glue = new LocalGlueExecutor({
      scripts: { sleeper, other: sleeper },
      maxConcurrentRuns: { sleeper: 2 },
    });
    try {
      const a = await glue.startJobRun('sleeper', {});
      const b = await glue.startJobRun('sleeper', {});
      await expect(glue.startJobRun('sleeper', {})).rejects.toThrow(
        /Concurrent runs exceeded for sleeper: MaxConcurrentRuns is 2/,
      );
      // The limit is per job: another job (default 1) still starts.
      const c = await glue.startJobRun('other', {});
      await expect(glue.startJobRun('other', {})).rejects.toBeInstanceOf(ConcurrentRunsExceededError);
      await glue.close();
      for (const [job, id] of [
        ['sleeper', a],
        ['sleeper', b],
        ['other', c],
      ] as const) {
        const run = await glue.getJobRun(job, id);
        expect(run.state).toBe('STOPPED');
        expect(run.executionTimeSecs).toBeLessThan(30);
      }
      await expect(glue.startJobRun('sleeper', {})).rejects.toThrow(/closed/);
    } finally {
      await glue.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps run records so another executor (another process) can look a run up', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'local-glue-records-'));
    const sleeper = join(dir, 'sleeper.py');
    await writeFile(sleeper, 'import time\ntime.sleep(60)\n');
    const runsDir = join(dir, 'runs');
    const a = new LocalGlueExecutor({ scripts: { sleeper }, runsDir });
    const b = new LocalGlueExecutor({ scripts: { sleeper }, runsDir });
    try {
      const id = await a.startJobRun('sleeper', {});
      expect((await b.getJobRun('sleeper', id)).state).toBe('RUNNING');
      await a.close();
      expect((await b.getJobRun('sleeper', id)).state).toBe('STOPPED');
      await expect(b.getJobRun('other', id)).rejects.toBeInstanceOf(GlueError);

      // A record left RUNNING by an executor that died: its process is gone, so the run is ERROR.
      const orphan = `jr_${'ab'.repeat(32)}`;
      const dead = spawnSync('true').pid;
      await writeFile(
        join(runsDir, `${orphan}.json`),
        JSON.stringify({
          runId: orphan,
          jobName: 'sleeper',
          state: 'RUNNING',
          host: hostname(),
          pid: dead,
          startedOn: new Date().toISOString(),
        }),
      );
      const run = await b.getJobRun('sleeper', orphan);
      expect(run.state).toBe('ERROR');
      expect(run.errorMessage).toMatch(/process \(pid \d+\) is gone/);
      expect(runsDirForLake('file:///tmp/lake')).toBe('/tmp/lake/_glue_runs');
      expect(runsDirForLake('s3://bucket/lake')).toBeUndefined();
    } finally {
      await a.close();
      await b.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('fails clearly on an unknown job, an unknown run and a missing venv', async () => {
    const glue = new LocalGlueExecutor();
    await expect(glue.startJobRun('nope', {})).rejects.toThrow(/unknown job "nope"/);
    await expect(glue.getJobRun('bronze_to_silver', 'jr_x')).rejects.toBeInstanceOf(GlueError);
    const noVenv = new LocalGlueExecutor({ python: join(tmpdir(), 'no-such-venv/bin/python') });
    const err = await noVenv.startJobRun('bronze_to_silver', args()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GlueError);
    expect((err as GlueError).message).toMatch(/run make venv/);
    expect((err as GlueError).retriable).toBe(false);
    await glue.close();
    await noVenv.close();
  });

  it('treats crawlers as local no-ops: READY → RUNNING → READY, CrawlerRunningError while running', async () => {
    const glue = new LocalGlueExecutor({ crawlerDurationMs: 100 });
    try {
      expect(await glue.getCrawler('lake-silver')).toEqual({ state: 'READY' });
      await glue.startCrawler('lake-silver');
      expect((await glue.getCrawler('lake-silver')).state).toBe('RUNNING');
      const again = glue.startCrawler('lake-silver');
      await expect(again).rejects.toBeInstanceOf(CrawlerRunningError);
      await expect(again).rejects.toMatchObject({ retriable: true });
      await new Promise((r) => setTimeout(r, 200));
      expect(await glue.getCrawler('lake-silver')).toEqual({ state: 'READY', lastCrawlStatus: 'SUCCEEDED' });
      await glue.startCrawler('lake-silver');
    } finally {
      await glue.close();
    }
  });
});
