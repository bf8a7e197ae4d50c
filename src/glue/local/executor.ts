/**
 * A {@link GlueExecutor} that runs the lake's PySpark job scripts (`src/glue/jobs/*.py`) on this
 * machine with the project venv's Python, so the scheduler drives local runs exactly like Glue runs:
 * same job names, same `--name value` arguments, same run states and the same errors.
 *
 * How a run maps to Glue:
 * - `startJobRun` (Glue StartJobRun) sends the run to the local job server (`job_server.py`, see
 *   {@link JobServer}): one Python process with one SparkSession (one JVM) that runs every job of
 *   this executor, so an hour of jobs pays Spark's start-up once instead of once per job (Glue in AWS
 *   still starts each job on its own). The server calls the script's `main(argv, spark)` with
 *   `argv` = `<script> --JOB_NAME <job> --k v ...`, on a fresh `spark.newSession()`;
 * - `getJobRun` (Glue GetJobRun) reports `RUNNING`, then `SUCCEEDED`, `FAILED` (the job raised:
 *   `errorMessage` = `<ExceptionType>: <message>` and the traceback; or the server died under it),
 *   `TIMEOUT` (still going after `timeoutSecs`) or `STOPPED` ({@link LocalGlueExecutor.close});
 *   `executionTimeSecs` is the wall time from StartJobRun;
 * - a server that exited (crash, JVM gone, timeout) fails the runs in flight with its stderr tail,
 *   and the next `startJobRun` starts a new one. A timed-out run stops the server (a thread cannot be
 *   killed), so runs in flight beside it end `FAILED` saying so;
 * - at most `maxConcurrentRuns` runs of one job at a time (Glue job property `MaxConcurrentRuns`, default 1):
 *   one more throws {@link ConcurrentRunsExceededError} (Glue `ConcurrentRunsExceededException`), which is
 *   retriable ("start it later");
 * - with `runsDir`, every run also has a run record `<runsDir>/<runId>.json` (see `run-records.ts`);
 * - the server dies with this process, even on SIGKILL; Spark's JVM exits when its Python driver dies;
 * - crawlers are no-ops: in local mode the query engine reads the Parquet files directly, so there is no
 *   catalog to update. A crawler still goes READY → RUNNING → READY (`lastCrawlStatus` `SUCCEEDED`) and a
 *   second start while RUNNING throws {@link CrawlerRunningError} (Glue `CrawlerRunningException`).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { access, constants } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../log.js';
import { ConcurrentRunsExceededError, CrawlerRunningError, GlueError } from '../errors.js';
import type { CrawlerStatus, GlueExecutor, JobRunState } from '../types.js';
import { JobServer } from './job-server.js';
import { type LocalJobRun, readRunRecord, tail, writeRunRecord } from './run-records.js';

export { type LocalJobRun, runsDirForLake } from './run-records.js';

/** Job name → script file name in the jobs folder: the jobs this project ships. */
export const DEFAULT_JOB_SCRIPTS: Readonly<Record<string, string>> = {
  bronze_to_silver: 'bronze_to_silver.py',
  silver_to_gold: 'silver_to_gold.py',
};

/** Glue's default job `Timeout`: 2880 minutes (48 hours). */
export const GLUE_DEFAULT_TIMEOUT_SECS = 2880 * 60;

export interface LocalGlueExecutorOptions {
  /**
   * The project folder holding `src/glue/jobs` and `.venv`. Default: found by walking up from this
   * module's folder (works from `src/` and from `dist/`).
   */
  projectRoot?: string;
  /** Folder of the job scripts. Default `<projectRoot>/src/glue/jobs`. */
  jobsDir?: string;
  /** The Python interpreter. Default `<projectRoot>/.venv/bin/python` (created by `make venv`). */
  python?: string;
  /**
   * Job name → script (relative to `jobsDir`, or absolute); each defines `main(argv, spark)`. Default
   * {@link DEFAULT_JOB_SCRIPTS}. Map your Glue job names here when they differ (e.g.
   * `{ 'lake-bronze-to-silver': 'bronze_to_silver.py' }`).
   */
  scripts?: Record<string, string>;
  /** `MaxConcurrentRuns`: one number for every job, or per job name. Default 1 (Glue's default). */
  maxConcurrentRuns?: number | Record<string, number>;
  /**
   * Extra environment of the job server, over `process.env` (e.g. `{ INGEST_PII_KEY: '...' }`); a key
   * set to `undefined` removes that variable.
   */
  env?: Record<string, string | undefined>;
  /** Working folder of the runs (a relative `file://./lake` resolves against it). Default `process.cwd()`. */
  cwd?: string;
  /** Spark master of the local session (`LAKE_SPARK_MASTER`). Default `local[2]`. */
  sparkMaster?: string;
  /** `spark.sql.shuffle.partitions` of the local session (`LAKE_SPARK_SHUFFLE_PARTITIONS`). Default 2. */
  shufflePartitions?: number;
  /** Spark log level (`LAKE_SPARK_LOG_LEVEL`). Default `WARN`. */
  sparkLogLevel?: string;
  /** Heap of the driver JVM, a JVM size (`LAKE_SPARK_DRIVER_MEMORY`). Default `512m`. */
  driverMemory?: string;
  /**
   * Options of the driver JVM (`LAKE_SPARK_JAVA_OPTIONS`). Default
   * `-XX:TieredStopAtLevel=1 -XX:+UseSerialGC` (faster JVM start-up for small local data).
   */
  javaOptions?: string;
  /**
   * Start the job server (and its JVM) now rather than at the first run, so Spark's start-up overlaps
   * whatever comes before the first job (`ingest local` lands bronze meanwhile); it then also runs a
   * small warm-up job (see `job_server.py`), so the first real job finds the JVM's classes loaded.
   * Default false.
   */
  prestart?: boolean;
  /**
   * A run still going this many seconds after the server's session is up ends in `TIMEOUT` (and stops
   * the server); one number for every job, or per job name (Glue job property `Timeout`). Default
   * 2880 min (Glue's default).
   */
  timeoutSecs?: number | Record<string, number>;
  /** How much of a failure (traceback, server stderr) becomes `errorMessage`, in characters. Default 4000. */
  errorTailChars?: number;
  /** How long a local crawl stays RUNNING, in milliseconds. Default 50. */
  crawlerDurationMs?: number;
  /** After SIGTERM, how long to wait before SIGKILL when stopping the server, in milliseconds. Default 5000. */
  killGraceMs?: number;
  /** Logs the job server's start-up and exits. Default: none. */
  logger?: Logger;
  /**
   * Folder of the run records (`<runId>.json`), so runs can be looked up from another process. Default:
   * none (runs are known only to this executor). See {@link runsDirForLake}.
   */
  runsDir?: string;
}

interface RunRecord {
  run: LocalJobRun;
  done: Promise<void>;
  /** Why the executor ended it, when it did. */
  stopReason?: 'STOPPED' | 'TIMEOUT';
}

interface CrawlerRecord {
  status: CrawlerStatus;
  timer?: NodeJS.Timeout;
}

/**
 * The project root: the nearest folder at or above `from` that holds
 * `src/glue/jobs/bronze_to_silver.py`.
 * @throws GlueError when there is none.
 */
export function findProjectRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = resolve(from);
  for (;;) {
    if (existsSync(join(dir, 'src', 'glue', 'jobs', 'bronze_to_silver.py'))) return dir;
    const up = dirname(dir);
    if (up === dir) {
      throw new GlueError(`cannot find the project root (src/glue/jobs) above ${from}`);
    }
    dir = up;
  }
}

/** Runs the Glue job scripts on the local job server; see the module docs. */
export class LocalGlueExecutor implements GlueExecutor {
  readonly kind = 'local' as const;
  readonly projectRoot: string;
  readonly jobsDir: string;
  readonly python: string;
  private readonly scripts: Record<string, string>;
  private readonly runs = new Map<string, RunRecord>();
  private readonly crawlers = new Map<string, CrawlerRecord>();
  private server?: JobServer;
  /** Servers not yet exited (one taking runs, at most a few on their way out). */
  private readonly servers = new Set<JobServer>();
  private starts = 0;
  private closed = false;

  constructor(private readonly options: LocalGlueExecutorOptions = {}) {
    this.projectRoot = options.projectRoot ?? findProjectRoot();
    this.jobsDir = options.jobsDir ?? join(this.projectRoot, 'src', 'glue', 'jobs');
    this.python = options.python ?? join(this.projectRoot, '.venv', 'bin', 'python');
    this.scripts = { ...(options.scripts ?? DEFAULT_JOB_SCRIPTS) };
    if (options.prestart) {
      // A failure to start shows as the first run's failure (or startJobRun's error).
      void this.checkPython()
        .then(() => {
          if (!this.closed) this.jobServer();
        })
        .catch(() => {});
    }
  }

  /** Job servers started so far (the first and every restart). */
  get serverStarts(): number {
    return this.starts;
  }

  /** `MaxConcurrentRuns` of a job. */
  maxConcurrentRuns(jobName: string): number {
    const m = this.options.maxConcurrentRuns;
    if (typeof m === 'number') return m;
    return m?.[jobName] ?? 1;
  }

  /** The absolute script path of a job. @throws GlueError (not retriable) for an unknown job. */
  scriptOf(jobName: string): string {
    const script = this.scripts[jobName];
    if (script === undefined) {
      throw new GlueError(
        `unknown job ${JSON.stringify(jobName)} (Glue EntityNotFoundException); known: ${Object.keys(this.scripts).join(', ')}`,
      );
    }
    return isAbsolute(script) ? script : join(this.jobsDir, script);
  }

  /**
   * Resolves when the job server's SparkSession is up, with its start-up time in seconds (starting
   * the server when none is running).
   * @throws JobServerExitedError when it exits first (e.g. pyspark missing: run make venv).
   */
  async ready(): Promise<number> {
    await this.checkPython();
    return this.jobServer().ready;
  }

  /** @throws GlueError (not retriable) saying to run `make venv` when the venv's Python is missing. */
  private async checkPython(): Promise<void> {
    try {
      await access(this.python, constants.X_OK);
    } catch (err) {
      throw new GlueError(`local Glue jobs need ${this.python}: run make venv`, { cause: err });
    }
  }

  /** The running job server, started (again) when there is none. */
  private jobServer(): JobServer {
    if (this.server?.accepting) return this.server;
    this.starts += 1;
    const server = new JobServer({
      python: this.python,
      script: join(this.projectRoot, 'src', 'glue', 'local', 'job_server.py'),
      cwd: this.options.cwd ?? process.cwd(),
      env: this.serverEnv(),
      killGraceMs: this.options.killGraceMs ?? 5000,
      errorTailChars: this.options.errorTailChars ?? 4000,
    });
    this.servers.add(server);
    const log = this.options.logger;
    server.ready.then(
      (startupSecs) =>
        log?.info({ event: 'job_server_ready', pid: server.pid, startupSecs }, 'local job server ready'),
      () => {},
    );
    void server.exited.then((why) => {
      this.servers.delete(server);
      const fields = { event: 'job_server_exited', pid: server.pid, runsInFlight: server.inFlight, why };
      if (server.stopping) log?.info(fields, 'local job server stopped');
      else
        log?.warn(
          fields,
          'local job server exited by itself: its runs in flight failed; the next run starts a new one',
        );
    });
    this.server = server;
    return server;
  }

  private running(jobName: string): number {
    let n = 0;
    for (const r of this.runs.values()) if (r.run.jobName === jobName && r.run.state === 'RUNNING') n++;
    return n;
  }

  /**
   * Starts a run (Glue StartJobRun). `args` are job arguments without `--` (a leading `--` is accepted
   * and stripped); `--JOB_NAME <jobName>` is always passed first, as Glue does.
   * @returns the run id (`jr_` + 64 hex, like Glue's).
   * @throws ConcurrentRunsExceededError (retriable) when `maxConcurrentRuns` runs of the job are RUNNING;
   *   GlueError (not retriable) for an unknown job, a missing venv, or after {@link close}.
   */
  async startJobRun(jobName: string, args: Record<string, string>): Promise<string> {
    if (this.closed) throw new GlueError('LocalGlueExecutor is closed');
    const script = this.scriptOf(jobName);
    if (!existsSync(script)) throw new GlueError(`job ${jobName}: script ${script} does not exist`);
    await this.checkPython();
    if (this.closed) throw new GlueError('LocalGlueExecutor is closed');
    // From here on everything is synchronous, so two concurrent starts cannot both pass the limit.
    const max = this.maxConcurrentRuns(jobName);
    if (this.running(jobName) >= max) {
      throw new ConcurrentRunsExceededError(
        `Concurrent runs exceeded for ${jobName}: MaxConcurrentRuns is ${max}`,
      );
    }
    const argv = ['--JOB_NAME', jobName];
    for (const [k, v] of Object.entries(args)) {
      const name = k.replace(/^--/, '');
      if (name === 'JOB_NAME') continue;
      argv.push(`--${name}`, v);
    }
    const runId = `jr_${randomBytes(32).toString('hex')}`;
    this.runs.set(runId, this.sendRun(jobName, runId, script, argv));
    return runId;
  }

  private serverEnv(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const [k, v] of Object.entries(this.options.env ?? {})) {
      if (v === undefined) delete env[k];
      else env[k] = v;
    }
    const o = this.options;
    return {
      ...env,
      PYSPARK_PYTHON: this.python,
      PYSPARK_DRIVER_PYTHON: this.python,
      PYTHONUNBUFFERED: '1',
      SPARK_LOCAL_IP: env.SPARK_LOCAL_IP ?? '127.0.0.1',
      LAKE_SPARK_MASTER: o.sparkMaster ?? 'local[2]',
      LAKE_SPARK_SHUFFLE_PARTITIONS: String(o.shufflePartitions ?? 2),
      LAKE_SPARK_LOG_LEVEL: o.sparkLogLevel ?? 'WARN',
      ...(o.driverMemory === undefined ? {} : { LAKE_SPARK_DRIVER_MEMORY: o.driverMemory }),
      ...(o.javaOptions === undefined ? {} : { LAKE_SPARK_JAVA_OPTIONS: o.javaOptions }),
      ...(o.prestart ? { LAKE_JOB_SERVER_WARM_UP: '1' } : {}),
      LAKE_PARENT_PID: String(process.pid),
    };
  }

  private sendRun(jobName: string, runId: string, script: string, argv: string[]): RunRecord {
    const run: LocalJobRun = { runId, jobName, state: 'RUNNING', startedOn: new Date() };
    const started = performance.now();
    const server = this.jobServer();
    const rec: RunRecord = { run, done: Promise.resolve() };
    const chars = this.options.errorTailChars ?? 4000;
    const finish = (state: JobRunState, error?: string): void => {
      if (run.state !== 'RUNNING') return;
      run.state = state;
      run.completedOn = new Date();
      run.executionTimeSecs = Math.round(performance.now() - started) / 1000;
      if (error !== undefined) run.errorMessage = error;
      this.record(run, server.pid);
    };
    this.record(run, server.pid);
    const t = this.options.timeoutSecs;
    const timeoutSecs = (typeof t === 'number' ? t : t?.[jobName]) ?? GLUE_DEFAULT_TIMEOUT_SECS;
    // The clock starts once the server's session is up: its start-up is not the job's time.
    let timer: NodeJS.Timeout | undefined;
    server.ready.then(
      () => {
        if (run.state !== 'RUNNING') return;
        timer = setTimeout(() => {
          rec.stopReason = 'TIMEOUT';
          void server.stop();
        }, timeoutSecs * 1000);
        timer.unref();
      },
      () => {},
    );
    rec.done = server.run(runId, script, argv).then(
      (reply) => {
        clearTimeout(timer);
        if (reply.summary) run.summary = reply.summary;
        if (reply.ok) finish('SUCCEEDED');
        else finish('FAILED', tail(`${reply.error}\n${reply.traceback ?? ''}`, chars));
      },
      (err: Error) => {
        clearTimeout(timer);
        if (rec.stopReason === 'TIMEOUT') {
          finish('TIMEOUT', `timed out after ${timeoutSecs} s (the job server was stopped)`);
        } else if (rec.stopReason === 'STOPPED') {
          finish('STOPPED', 'stopped: the executor was closed');
        } else {
          const timedOut = [...this.runs.values()].find((r) => r.stopReason === 'TIMEOUT' && r !== rec);
          const why = timedOut ? ` (stopped because run ${timedOut.run.runId} timed out)` : '';
          finish('FAILED', `${err.message}${why}; a new job server starts with the next run`);
        }
      },
    );
    return rec;
  }

  private record(run: LocalJobRun, pid: number | undefined): void {
    if (this.options.runsDir !== undefined) writeRunRecord(this.options.runsDir, run, pid);
  }

  /**
   * Reads a run (Glue GetJobRun): a snapshot of its {@link LocalJobRun}; a run of another executor
   * (another process) from its run record in `runsDir`.
   * @throws GlueError (not retriable) for an unknown run id or a run of another job.
   */
  async getJobRun(jobName: string, runId: string): Promise<LocalJobRun> {
    const rec = this.runs.get(runId);
    if (!rec || rec.run.jobName !== jobName) {
      const dir = this.options.runsDir;
      const other = rec || dir === undefined ? undefined : readRunRecord(dir, jobName, runId);
      if (other) return other;
      throw new GlueError(`job run ${runId} of ${jobName} not found (Glue EntityNotFoundException)`);
    }
    return { ...rec.run };
  }

  /** Resolves with the run once it reached a terminal state (local convenience, not in Glue's API). */
  async waitForJobRun(jobName: string, runId: string): Promise<LocalJobRun> {
    await this.getJobRun(jobName, runId);
    await this.runs.get(runId)!.done;
    return this.getJobRun(jobName, runId);
  }

  /**
   * Starts a local crawl: a no-op that stays RUNNING for `crawlerDurationMs`, then READY with
   * `lastCrawlStatus` `SUCCEEDED`.
   * @throws CrawlerRunningError (retriable) when that crawler is RUNNING.
   */
  async startCrawler(name: string): Promise<void> {
    if (this.closed) throw new GlueError('LocalGlueExecutor is closed');
    const rec = this.crawlers.get(name) ?? { status: { state: 'READY' } };
    if (rec.status.state !== 'READY') {
      throw new CrawlerRunningError(`Crawler with name ${name} has already started`);
    }
    rec.status = { ...rec.status, state: 'RUNNING' };
    rec.timer = setTimeout(() => {
      rec.status = { state: 'READY', lastCrawlStatus: 'SUCCEEDED' };
      rec.timer = undefined;
    }, this.options.crawlerDurationMs ?? 50);
    rec.timer.unref();
    this.crawlers.set(name, rec);
  }

  /** Reads a crawler's state (Glue GetCrawler); a crawler never started is READY. */
  async getCrawler(name: string): Promise<CrawlerStatus> {
    return { ...(this.crawlers.get(name)?.status ?? { state: 'READY' }) };
  }

  /** Stops every run still going (its state becomes STOPPED), the job server and crawls. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.crawlers.values()) {
      if (c.timer) clearTimeout(c.timer);
      c.timer = undefined;
      c.status = { state: 'READY', lastCrawlStatus: 'CANCELLED' };
    }
    const going = [...this.runs.values()].filter((r) => r.run.state === 'RUNNING');
    for (const r of going) r.stopReason = 'STOPPED';
    await Promise.all([...this.servers].map((s) => s.stop()));
    await Promise.all(going.map((r) => r.done));
  }
}
