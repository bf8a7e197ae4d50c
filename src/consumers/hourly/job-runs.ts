/**
 * Resume, don't restart: what a new owner of an hour does with the job runs its predecessor recorded.
 */
import { describeError } from '../../errors.js';
import { type GlueExecutor, type JobRun, TERMINAL_JOB_STATES } from '../../glue/types.js';

/** What to do with a recorded run. */
export type RecordedRunVerdict =
  /** It SUCCEEDED: keep its output, do not start the job again. */
  | { action: 'keep'; run: JobRun }
  /** Still going (STARTING, RUNNING, WAITING, STOPPING): wait for it like for a run of our own. */
  | { action: 'wait'; run: JobRun }
  /** It failed, was stopped, or cannot be found: start the job again (the jobs are idempotent). */
  | { action: 'rerun'; why: string };

/**
 * The one run id every hour of `recorded` shares, or `undefined` when an hour has none or they
 * differ (a run started for another set of hours: start a new one, which is always safe).
 */
export function sharedRunId(recorded: (string | undefined)[]): string | undefined {
  const ids = new Set(recorded);
  if (ids.size !== 1) return undefined;
  return [...ids][0];
}

/**
 * Looks a recorded run up (Glue GetJobRun; the local executor reads its run record) and says whether
 * to keep it, wait for it, or run the job again. Never throws: a run that cannot be read is run again.
 */
export async function judgeRecordedRun(
  executor: GlueExecutor,
  jobName: string,
  runId: string,
): Promise<RecordedRunVerdict> {
  let run: JobRun;
  try {
    run = await executor.getJobRun(jobName, runId);
  } catch (err) {
    return { action: 'rerun', why: `GetJobRun failed: ${describeError(err)}` };
  }
  if (run.state === 'SUCCEEDED') return { action: 'keep', run };
  if (!TERMINAL_JOB_STATES.has(run.state)) return { action: 'wait', run };
  return {
    action: 'rerun',
    why: `ended ${run.state}${run.errorMessage ? `: ${run.errorMessage.slice(0, 300)}` : ''}`,
  };
}
