/**
 * Run records of the local Glue executor: one `<runsDir>/<runId>.json` per run, written when it starts
 * and when it ends, so another process (a scheduler taking an hour over after a crash) can still ask
 * what became of a run it did not start. A record still `RUNNING` whose process is gone reads as
 * `ERROR`.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { pidAlive } from '../../runtime/children.js';
import type { JobRun, JobRunState } from '../types.js';

/** A local job run: the Glue {@link JobRun} fields plus what only a local run knows. */
export interface LocalJobRun extends JobRun {
  jobName: string;
  startedOn: Date;
  completedOn?: Date;
  /** The job's summary (what its `main(argv, spark)` returned), when it succeeded with one. */
  summary?: Record<string, unknown>;
}

/** What a run record file holds. */
interface RunRecordFile {
  runId: string;
  jobName: string;
  state: JobRunState;
  host: string;
  /** Pid of the process running it (the job server's). */
  pid?: number;
  startedOn: string;
  completedOn?: string;
  executionTimeSecs?: number;
  errorMessage?: string;
}

/** Longest `errorMessage` kept in a record file, in characters. */
const RECORD_ERROR_CHARS = 1000;

/** The run-record folder of a `file://` lake (`<lake>/_glue_runs`); `undefined` for other lakes. */
export function runsDirForLake(lakeUri: string): string | undefined {
  if (!lakeUri.startsWith('file://')) return undefined;
  return resolve(lakeUri.slice('file://'.length), '_glue_runs');
}

/** The end of a text, at most `chars` characters (with a leading `…` when cut). */
export function tail(text: string, chars: number): string {
  const t = text.trimEnd();
  return t.length <= chars ? t : `…${t.slice(t.length - chars)}`;
}

/** Writes a run's record file in `dir` (atomically: temp file + rename). */
export function writeRunRecord(dir: string, run: LocalJobRun, pid: number | undefined): void {
  const file: RunRecordFile = {
    runId: run.runId,
    jobName: run.jobName,
    state: run.state,
    host: hostname(),
    ...(pid === undefined ? {} : { pid }),
    startedOn: run.startedOn.toISOString(),
    ...(run.completedOn ? { completedOn: run.completedOn.toISOString() } : {}),
    ...(run.executionTimeSecs === undefined ? {} : { executionTimeSecs: run.executionTimeSecs }),
    ...(run.errorMessage === undefined ? {} : { errorMessage: tail(run.errorMessage, RECORD_ERROR_CHARS) }),
  };
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${run.runId}.json`);
  writeFileSync(`${path}.tmp`, JSON.stringify(file));
  renameSync(`${path}.tmp`, path);
}

/**
 * A run of another process, from its record file in `dir`; `undefined` when there is none (or it is of
 * another job). `RUNNING` with its process gone reads as `ERROR`.
 */
export function readRunRecord(dir: string, jobName: string, runId: string): LocalJobRun | undefined {
  if (!/^jr_[0-9a-f]+$/.test(runId)) return undefined;
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
