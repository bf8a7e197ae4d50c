import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EntitySchema } from '../config.js';
import { ConcurrentRunsExceededError, CrawlerRunningError, GlueError } from '../errors.js';
import { TERMINAL_JOB_STATES } from '../types.js';
import { DEFAULT_JOB_SCRIPTS, findProjectRoot, LocalGlueExecutor, runsDirForLake } from './executor.js';

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

  it('runs bronze_to_silver end to end on one job server; a failed run fails alone and leaves nothing behind', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'local-glue-iso-'));
    // A run that leaves a temporary view, a session conf and a cached table, then raises.
    const dirty = join(dir, 'dirty.py');
    await writeFile(
      dirty,
      [
        'def main(argv, spark):',
        '    spark.range(3).createOrReplaceTempView("leftover")',
        '    spark.conf.set("spark.sql.shuffle.partitions", "7")',
        '    spark.table("leftover").cache().count()',
        '    raise RuntimeError("dirty job failed on purpose")',
        '',
      ].join('\n'),
    );
    // A run that reports what it finds.
    const probe = join(dir, 'probe.py');
    await writeFile(
      probe,
      [
        'import os',
        'def main(argv, spark):',
        '    return {"views": [t.name for t in spark.catalog.listTables() if t.isTemporary],',
        '            "partitions": spark.conf.get("spark.sql.shuffle.partitions"),',
        '            "cached": spark.sparkContext._jsc.getPersistentRDDs().size(),',
        '            "argv": argv[1:], "pid": os.getpid()}',
        '',
      ].join('\n'),
    );
    const glue = new LocalGlueExecutor({
      env: { INGEST_PII_KEY: 'test-key' },
      scripts: { ...DEFAULT_JOB_SCRIPTS, dirty, probe },
      prestart: true,
    });
    try {
      expect(await glue.ready()).toBeGreaterThan(0);
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
      expect(run.executionTimeSecs).toBeGreaterThan(0);
      expect(run.summary).toMatchObject({
        job: 'bronze_to_silver',
        rows_read: 4,
        rows_merged: 3,
        rows_inserted: 3,
        duplicates_in_input: 1,
      });

      // The silver Iceberg table of the local catalog (ADR 0015).
      const files = await listFiles(join(lake, 'iceberg/lake/silver_users'));
      const parquet = files.filter((f) => f.endsWith('.parquet'));
      expect(parquet.length).toBeGreaterThan(0);
      for (const f of parquet) expect(f).toContain('/iceberg/lake/silver_users/data/');
      const bytes = Buffer.concat(await Promise.all(parquet.map((f) => readFile(f))));
      expect(bytes.subarray(0, 4).toString()).toBe('PAR1');
      for (const u of users) expect(bytes.includes(Buffer.from(u.email))).toBe(false);

      // A job that raises is FAILED with its exception and traceback (no key in that variable).
      const noKey = await glue.startJobRun('bronze_to_silver', {
        ...args(),
        pii_key_env: 'LAKE_TEST_NO_KEY',
      });
      const failed = await glue.waitForJobRun('bronze_to_silver', noKey);
      expect(failed.state).toBe('FAILED');
      expect(TERMINAL_JOB_STATES.has(failed.state)).toBe(true);
      expect(failed.errorMessage).toMatch(
        /PiiKeyError: PII key missing: environment variable LAKE_TEST_NO_KEY/,
      );
      expect(failed.errorMessage).toMatch(/Traceback/);

      const d = await glue.waitForJobRun('dirty', await glue.startJobRun('dirty', {}));
      expect(d.state).toBe('FAILED');
      expect(d.errorMessage).toMatch(/^RuntimeError: dirty job failed on purpose/);
      // The next run sees none of it, on the same server (one JVM for every run so far).
      const p = await glue.waitForJobRun('probe', await glue.startJobRun('probe', { k: 'v' }));
      expect(p.state).toBe('SUCCEEDED');
      expect(p.summary).toMatchObject({
        views: [],
        partitions: '2',
        cached: 0,
        argv: ['--JOB_NAME', 'probe', '--k', 'v'],
      });
      expect(glue.serverStarts).toBe(1);
    } finally {
      await glue.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 300_000);

  it('restarts a job server that crashed or whose JVM died: the run in flight FAILED, the next one runs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'local-glue-crash-'));
    const script = (name: string, body: string) => {
      const path = join(dir, `${name}.py`);
      return writeFile(path, `import os, time\ndef main(argv, spark):\n    ${body}\n`).then(() => path);
    };
    const glue = new LocalGlueExecutor({
      scripts: {
        exit: await script('exit', 'os._exit(9)'),
        jvm: await script('jvm', 'spark._jvm.java.lang.Runtime.getRuntime().halt(1)'),
        sleep: await script('sleep', 'time.sleep(60)'),
        ok: await script('ok', 'return {"n": spark.range(5).count(), "pid": os.getpid()}'),
      },
      timeoutSecs: { sleep: 3 },
    });
    const runOf = async (job: string) => glue.waitForJobRun(job, await glue.startJobRun(job, {}));
    try {
      const crashed = await runOf('exit');
      expect(crashed.state).toBe('FAILED');
      expect(crashed.errorMessage).toMatch(/local job server .* exited \(code 9\).*a new job server starts/s);
      const first = await runOf('ok');
      expect(first).toMatchObject({ state: 'SUCCEEDED', summary: { n: 5 } });
      expect(glue.serverStarts).toBe(2);

      // The JVM dies under a run: that run fails, the server exits, the next run gets a new one.
      const jvm = await runOf('jvm');
      expect(jvm.state).toBe('FAILED');
      const second = await runOf('ok');
      expect(second).toMatchObject({ state: 'SUCCEEDED', summary: { n: 5 } });
      expect(second.summary?.pid).not.toBe(first.summary?.pid);
      expect(glue.serverStarts).toBe(3);

      const slow = await runOf('sleep');
      expect(slow.state).toBe('TIMEOUT');
      expect(slow.errorMessage).toMatch(/timed out after 3 s/);
      expect(await runOf('ok')).toMatchObject({ state: 'SUCCEEDED', summary: { n: 5 } });
      expect(glue.serverStarts).toBe(4);
    } finally {
      await glue.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 600_000);

  it('enforces a per-job MaxConcurrentRuns and stops running jobs on close()', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'local-glue-sleep-'));
    const sleeper = join(dir, 'sleeper.py');
    await writeFile(sleeper, 'import time\ndef main(argv, spark):\n    time.sleep(60)\n');
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
  }, 300_000);

  it('keeps run records so another executor (another process) can look a run up', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'local-glue-records-'));
    const sleeper = join(dir, 'sleeper.py');
    await writeFile(sleeper, 'import time\ndef main(argv, spark):\n    time.sleep(60)\n');
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
  }, 300_000);

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
