/**
 * A {@link GlueExecutor} that runs the lake's PySpark job scripts (`src/glue/jobs/*.py`) on this
 * machine with the project venv's Python, so the scheduler drives local runs exactly like Glue runs:
 * same job names, same `--name value` arguments, same run states and the same errors.
 *
 * How a run maps to Glue:
 * - `startJobRun` (Glue StartJobRun) spawns `.venv/bin/python <script> --JOB_NAME <job> --k v ...`; the
 *   script finds no `awsglue` and starts a local SparkSession (see `src/glue/jobs/lakelib.py`);
 * - `getJobRun` (Glue GetJobRun) reports `RUNNING`, then `SUCCEEDED` (exit 0), `FAILED` (any other exit,
 *   `errorMessage` = the tail of stderr), `TIMEOUT` (killed after `timeoutSecs`) or `STOPPED` (killed by
 *   {@link LocalGlueExecutor.close}); `executionTimeSecs` is the wall time;
 * - at most `maxConcurrentRuns` runs of one job at a time (Glue job property `MaxConcurrentRuns`, default 1):
 *   one more throws {@link ConcurrentRunsExceededError} (Glue `ConcurrentRunsExceededException`), which is
 *   retriable ("start it later");
 * - with `runsDir`, every run also has a run record `<runsDir>/<runId>.json` (written at start and at its
 *   end), so another process, such as a scheduler taking over an hour after a crash, can still ask
 *   `getJobRun` what became of a run it did not start: a record still `RUNNING` whose process is gone
 *   reads as `ERROR`;
 * - a run dies with this process, even on SIGKILL: it runs in its own process group and the job
 *   wrapper sets a parent-death signal (`LAKE_PARENT_PID`, `prctl(PR_SET_PDEATHSIG)` in `lakelib.py`);
 *   Spark's JVM exits when its Python driver dies;
 * - crawlers are no-ops: in local mode the query engine reads the Parquet files directly, so there is no
 *   catalog to update. A crawler still goes READY → RUNNING → READY (`lastCrawlStatus` `SUCCEEDED`) and a
 *   second start while RUNNING throws {@link CrawlerRunningError} (Glue `CrawlerRunningException`).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { access, constants } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pidAlive } from '../../runtime/children.js';
import { ConcurrentRunsExceededError, CrawlerRunningError, GlueError } from '../errors.js';
import type { CrawlerStatus, GlueExecutor, JobRun, JobRunState } from '../types.js';

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
   * Job name → script (relative to `jobsDir`, or absolute). Default {@link DEFAULT_JOB_SCRIPTS}.
   * Map your Glue job names here when they differ (e.g. `{ 'lake-bronze-to-silver': 'bronze_to_silver.py' }`).
   */
  scripts?: Record<string, string>;
  /** `MaxConcurrentRuns`: one number for every job, or per job name. Default 1 (Glue's default). */
  maxConcurrentRuns?: number | Record<string, number>;
  /**
   * Extra environment of the runs, over `process.env` (e.g. `{ INGEST_PII_KEY: '...' }`); a key set to
   * `undefined` removes that variable.
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
  /** A run still going after this many seconds is killed and ends in `TIMEOUT`. Default 2880 min. */
  timeoutSecs?: number;
  /** How much of the end of stderr becomes `errorMessage`, in characters. Default 4000. */
  errorTailChars?: number;
  /** How long a local crawl stays RUNNING, in milliseconds. Default 50. */
  crawlerDurationMs?: number;
  /** After SIGTERM, how long to wait before SIGKILL when stopping a run, in milliseconds. Default 5000. */
  killGraceMs?: number;
  /**
   * Folder of the run records (`<runId>.json`), so runs can be looked up from another process. Default:
   * none (runs are known only to this executor). See {@link runsDirForLake}.
   */
  runsDir?: string;
}

/** What a run record file holds. */
interface RunRecordFile {
  runId: string;
  jobName: string;
  state: JobRunState;
  host: string;
  /** Pid of the run's process (its process group leader). */
  pid?: number;
  startedOn: string;
  completedOn?: string;
  executionTimeSecs?: number;
  errorMessage?: string;
}

/** The run-record folder of a `file://` lake (`<lake>/_glue_runs`); `undefined` for other lakes. */
export function runsDirForLake(lakeUri: string): string | undefined {
  if (!lakeUri.startsWith('file://')) return undefined;
  return resolve(lakeUri.slice('file://'.length), '_glue_runs');
}

/** A local job run: the Glue {@link JobRun} fields plus what only a local run knows. */
export interface LocalJobRun extends JobRun {
  jobName: string;
  startedOn: Date;
  completedOn?: Date;
  /** The process exit code, once it exited by itself. */
  exitCode?: number | null;
  /** The job's one-line JSON summary (last stdout line starting with `{`), when it printed one. */
  summary?: Record<string, unknown>;
}

interface RunRecord {
  run: LocalJobRun;
  child?: ChildProcess;
  done: Promise<void>;
  stdout: string;
  stderr: string;
  stopReason?: 'STOPPED' | 'TIMEOUT';
}

interface CrawlerRecord {
  status: CrawlerStatus;
  timer?: NodeJS.Timeout;
}

const KEEP_OUTPUT_CHARS = 64 * 1024;

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

function tail(text: string, chars: number): string {
  const t = text.trimEnd();
  return t.length <= chars ? t : `…${t.slice(t.length - chars)}`;
}

function lastJsonLine(stdout: string): Record<string, unknown> | undefined {
  const lines = stdout.split('\n').filter((l) => l.startsWith('{'));
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      const v: unknown = JSON.parse(lines[i]!);
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {
      // not the summary line
    }
  }
  return undefined;
}

/** Runs the Glue job scripts with the project venv's PySpark; see the module docs. */
export class LocalGlueExecutor implements GlueExecutor {
  readonly kind = 'local' as const;
  readonly projectRoot: string;
  readonly jobsDir: string;
  readonly python: string;
  private readonly scripts: Record<string, string>;
  private readonly runs = new Map<string, RunRecord>();
  private readonly crawlers = new Map<string, CrawlerRecord>();
  private pythonChecked?: Promise<void>;
  private closed = false;

  constructor(private readonly options: LocalGlueExecutorOptions = {}) {
    this.projectRoot = options.projectRoot ?? findProjectRoot();
    this.jobsDir = options.jobsDir ?? join(this.projectRoot, 'src', 'glue', 'jobs');
    this.python = options.python ?? join(this.projectRoot, '.venv', 'bin', 'python');
    this.scripts = { ...(options.scripts ?? DEFAULT_JOB_SCRIPTS) };
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
   * Checks once that the venv's Python exists and imports pyspark.
   * @throws GlueError (not retriable) saying to run `make venv`.
   */
  private checkPython(): Promise<void> {
    this.pythonChecked ??= (async () => {
      try {
        await access(this.python, constants.X_OK);
      } catch (err) {
        throw new GlueError(`local Glue jobs need ${this.python}: run make venv`, { cause: err });
      }
      await new Promise<void>((ok, fail) => {
        execFile(this.python, ['-c', 'import pyspark'], { timeout: 60_000 }, (err, _out, stderr) => {
          if (err) {
            fail(
              new GlueError(
                `pyspark is not installed for ${this.python}: run make venv (${tail(String(stderr), 300)})`,
                { cause: err },
              ),
            );
          } else ok();
        });
      });
    })();
    // A failed check is retried next time (after `make venv`).
    this.pythonChecked.catch(() => {
      this.pythonChecked = undefined;
    });
    return this.pythonChecked;
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
   *   GlueError (not retriable) for an unknown job, a missing venv or pyspark, or after {@link close}.
   */
  async startJobRun(jobName: string, args: Record<string, string>): Promise<string> {
    if (this.closed) throw new GlueError('LocalGlueExecutor is closed');
    const script = this.scriptOf(jobName);
    if (!existsSync(script)) throw new GlueError(`job ${jobName}: script ${script} does not exist`);
    await this.checkPython();
    // From here on everything is synchronous, so two concurrent starts cannot both pass the limit.
    const max = this.maxConcurrentRuns(jobName);
    if (this.running(jobName) >= max) {
      throw new ConcurrentRunsExceededError(
        `Concurrent runs exceeded for ${jobName}: MaxConcurrentRuns is ${max}`,
      );
    }
    const argv = [script, '--JOB_NAME', jobName];
    for (const [k, v] of Object.entries(args)) {
      const name = k.replace(/^--/, '');
      if (name === 'JOB_NAME') continue;
      argv.push(`--${name}`, v);
    }
    const runId = `jr_${randomBytes(32).toString('hex')}`;
    const rec = this.spawnRun(jobName, runId, argv);
    this.runs.set(runId, rec);
    return runId;
  }

  private runEnv(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const [k, v] of Object.entries(this.options.env ?? {})) {
      if (v === undefined) delete env[k];
      else env[k] = v;
    }
    return {
      ...env,
      PYSPARK_PYTHON: this.python,
      PYSPARK_DRIVER_PYTHON: this.python,
      PYTHONUNBUFFERED: '1',
      SPARK_LOCAL_IP: env.SPARK_LOCAL_IP ?? '127.0.0.1',
      LAKE_SPARK_MASTER: this.options.sparkMaster ?? 'local[2]',
      LAKE_SPARK_SHUFFLE_PARTITIONS: String(this.options.shufflePartitions ?? 2),
      LAKE_SPARK_LOG_LEVEL: this.options.sparkLogLevel ?? 'WARN',
      LAKE_PARENT_PID: String(process.pid),
    };
  }

  private spawnRun(jobName: string, runId: string, argv: string[]): RunRecord {
    const run: LocalJobRun = { runId, jobName, state: 'RUNNING', startedOn: new Date() };
    const started = performance.now();
    const rec: RunRecord = { run, stdout: '', stderr: '', done: Promise.resolve() };
    const finish = (state: JobRunState, exitCode: number | null | undefined, error?: string): void => {
      if (run.state !== 'RUNNING') return;
      run.state = state;
      run.completedOn = new Date();
      run.executionTimeSecs = Math.round(performance.now() - started) / 1000;
      if (exitCode !== undefined) run.exitCode = exitCode;
      const summary = lastJsonLine(rec.stdout);
      if (summary) run.summary = summary;
      if (state !== 'SUCCEEDED') {
        const why = error ?? tail(rec.stderr, this.options.errorTailChars ?? 4000);
        run.errorMessage = why === '' ? `exit code ${exitCode}` : why;
      }
      this.writeRunRecord(run, rec.child?.pid);
    };
    rec.done = new Promise<void>((done) => {
      let child: ChildProcess;
      try {
        // Own process group (detached), so stopping a run also stops the JVM that PySpark starts.
        child = spawn(this.python, argv, {
          cwd: this.options.cwd ?? process.cwd(),
          env: this.runEnv(),
          stdio: ['ignore', 'pipe', 'pipe'],
          detached: true,
        });
      } catch (err) {
        finish('FAILED', undefined, `cannot start ${this.python}: ${String(err)}`);
        done();
        return;
      }
      rec.child = child;
      this.writeRunRecord(run, child.pid);
      child.stdout?.setEncoding('utf8').on('data', (s: string) => {
        rec.stdout = (rec.stdout + s).slice(-KEEP_OUTPUT_CHARS);
      });
      child.stderr?.setEncoding('utf8').on('data', (s: string) => {
        rec.stderr = (rec.stderr + s).slice(-KEEP_OUTPUT_CHARS);
      });
      const timeoutSecs = this.options.timeoutSecs ?? GLUE_DEFAULT_TIMEOUT_SECS;
      const timer = setTimeout(() => {
        rec.stopReason = 'TIMEOUT';
        void this.kill(rec);
      }, timeoutSecs * 1000);
      timer.unref();
      child.on('error', (err) => {
        clearTimeout(timer);
        finish('FAILED', undefined, `cannot run ${this.python}: ${err.message}`);
        done();
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (rec.stopReason === 'TIMEOUT') {
          finish('TIMEOUT', code, `timed out after ${timeoutSecs} s; ${tail(rec.stderr, 1000)}`);
        } else if (rec.stopReason === 'STOPPED') {
          finish('STOPPED', code, 'stopped: the executor was closed');
        } else if (code === 0) {
          finish('SUCCEEDED', 0);
        } else {
          const tailText = tail(rec.stderr, this.options.errorTailChars ?? 4000);
          finish('FAILED', code, `exit ${code ?? signal}: ${tailText}`);
        }
        done();
      });
    });
    return rec;
  }

  /** SIGTERM to the run's process group, SIGKILL after `killGraceMs`; resolves when it exited. */
  private async kill(rec: RunRecord): Promise<void> {
    const pid = rec.child?.pid;
    if (pid === undefined || rec.run.state !== 'RUNNING') return rec.done;
    const signal = (sig: NodeJS.Signals): void => {
      try {
        process.kill(-pid, sig);
      } catch {
        // already gone
      }
    };
    signal('SIGTERM');
    const grace = setTimeout(() => signal('SIGKILL'), this.options.killGraceMs ?? 5000);
    await rec.done;
    clearTimeout(grace);
  }

  /** Writes a run's record file (atomically: temp file + rename), when `runsDir` is set. */
  private writeRunRecord(run: LocalJobRun, pid: number | undefined): void {
    const dir = this.options.runsDir;
    if (dir === undefined) return;
    const file: RunRecordFile = {
      runId: run.runId,
      jobName: run.jobName,
      state: run.state,
      host: hostname(),
      ...(pid === undefined ? {} : { pid }),
      startedOn: run.startedOn.toISOString(),
      ...(run.completedOn ? { completedOn: run.completedOn.toISOString() } : {}),
      ...(run.executionTimeSecs === undefined ? {} : { executionTimeSecs: run.executionTimeSecs }),
      ...(run.errorMessage === undefined ? {} : { errorMessage: tail(run.errorMessage, 1000) }),
    };
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `${run.runId}.json`);
    writeFileSync(`${path}.tmp`, JSON.stringify(file));
    renameSync(`${path}.tmp`, path);
  }

  /** A run of another process, from its record file; `RUNNING` with its process gone reads as `ERROR`. */
  private readRunRecord(jobName: string, runId: string): LocalJobRun | undefined {
    const dir = this.options.runsDir;
    if (dir === undefined || !/^jr_[0-9a-f]+$/.test(runId)) return undefined;
    let file: RunRecordFile;
    try {
      file = JSON.parse(readFileSync(join(dir, `${runId}.json`), 'utf8')) as RunRecordFile;
    } catch {
      return undefined;
    }
    if (file.jobName !== jobName) return undefined;
    const run: LocalJobRun = { runId, jobName, state: file.state, startedOn: new Date(file.startedOn) };
    if (file.completedOn) run.completedOn = new Date(file.completedOn);
    if (file.executionTimeSecs !== undefined) run.executionTimeSecs = file.executionTimeSecs;
    if (file.errorMessage !== undefined) run.errorMessage = file.errorMessage;
    const gone = file.host === hostname() && (file.pid === undefined || !pidAlive(file.pid));
    if (run.state === 'RUNNING' && gone) {
      run.state = 'ERROR';
      run.errorMessage = `the run's process (pid ${file.pid ?? '?'}) is gone: its executor died before it ended`;
    }
    return run;
  }

  /**
   * Reads a run (Glue GetJobRun): a snapshot of its {@link LocalJobRun}; a run of another executor
   * (another process) from its run record in `runsDir`.
   * @throws GlueError (not retriable) for an unknown run id or a run of another job.
   */
  async getJobRun(jobName: string, runId: string): Promise<LocalJobRun> {
    const rec = this.runs.get(runId);
    if (!rec || rec.run.jobName !== jobName) {
      const other = rec ? undefined : this.readRunRecord(jobName, runId);
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

  /** Stops every run still going (its state becomes STOPPED) and cancels crawls. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.crawlers.values()) {
      if (c.timer) clearTimeout(c.timer);
      c.timer = undefined;
      c.status = { state: 'READY', lastCrawlStatus: 'CANCELLED' };
    }
    const going = [...this.runs.values()].filter((r) => r.run.state === 'RUNNING');
    for (const r of going) r.stopReason = 'STOPPED';
    await Promise.all(going.map((r) => this.kill(r)));
  }
}
