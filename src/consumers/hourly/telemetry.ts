/**
 * Metrics of the hourly scheduler. Every series carries the `scheduler` label (the scheduler's config
 * name) so several schedulers in one process stay apart.
 */
import { counter, gauge, histogram } from '../../telemetry/index.js';

/**
 * Glue job runs by job name and outcome: `started` (StartJobRun answered a run id), `succeeded`,
 * `failed` (the run ended FAILED/TIMEOUT/ERROR/STOPPED/EXPIRED, could not be started, or was not
 * terminal within `jobTimeoutSecs`), `retried` (a started run retries hours whose previous attempt
 * failed; also counted as `started`), `deferred` (StartJobRun answered
 * `ConcurrentRunsExceededException`: the hours wait for the next cycle), `kept` (a run recorded by a
 * previous owner of the hours had SUCCEEDED: not started again), `resumed` (a recorded run was still
 * going: waited for instead of starting a new one).
 */
export const schedulerJobRunsTotal = counter(
  'ingest_scheduler_job_runs_total',
  'Glue job runs of the hourly scheduler by job and outcome: started, succeeded, failed, retried, deferred, kept, resumed.',
  ['scheduler', 'job', 'outcome'],
);

/** Seconds from StartJobRun to a terminal state (Glue `ExecutionTime` when the executor knows it). */
export const schedulerJobDurationSeconds = histogram(
  'ingest_scheduler_job_duration_seconds',
  'Seconds a Glue job run took, from start to its terminal state.',
  ['scheduler', 'job'],
  [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200],
);

/** Hours that reached `done` (every step succeeded) or `failed` (after `maxAttempts`). */
export const schedulerHoursTotal = counter(
  'ingest_scheduler_hours_total',
  'Hours the scheduler finished, by status: done (every step succeeded) or failed (gave up after maxAttempts).',
  ['scheduler', 'status'],
);

/** Closed hours holding mapped bronze data that are not done (pending, running, failed or changed). */
export const schedulerHoursBehind = gauge(
  'ingest_scheduler_backlog_partitions',
  'Closed hours with bronze data that are not done (pending, running, failed, or changed since done).',
  ['scheduler'],
);

/** Now minus the end of the newest done hour, in seconds; set once an hour is done. */
export const schedulerLagSeconds = gauge(
  'ingest_scheduler_lag_seconds',
  'Seconds between now and the end of the newest done hour.',
  ['scheduler'],
);

/**
 * Crawler outcomes: `started` (StartCrawler accepted), `succeeded`, `failed` (last crawl FAILED or
 * CANCELLED, or a timeout), `busy` (found RUNNING/STOPPING, or `CrawlerRunningException`; waited).
 */
export const schedulerCrawlerRunsTotal = counter(
  'ingest_scheduler_crawler_runs_total',
  'Glue crawler runs started by the scheduler, by outcome: started, succeeded, failed, busy.',
  ['scheduler', 'outcome'],
);

/** Numeric columns of the first row of the quality query's last result, by column name. */
export const schedulerQualityCheckValue = gauge(
  'ingest_scheduler_quality_check_value',
  'Value of each numeric column of the first row of the last quality query, by column (check).',
  ['scheduler', 'check'],
);

/**
 * Failed operations by failure class: a start, poll, crawl, query or state write that failed (each
 * retry counts). Deferrals (`ConcurrentRunsExceededException`, `CrawlerRunningException`) are not errors.
 */
export const schedulerErrorsTotal = counter(
  'ingest_scheduler_errors_total',
  'Failed operations of the hourly scheduler (job starts and runs, polls, crawls, queries, state writes), by failure class.',
  ['scheduler', 'class'],
);
