import { type FailureClass, IngestError, type IngestErrorOptions } from '../../errors.js';

/**
 * Base error of the hourly scheduler. Like every {@link IngestError} it says whether it may be
 * retried (`retriable`) and its failure class (the `class` label of `ingest_scheduler_errors_total`).
 * Errors of the Glue executor itself (`ConcurrentRunsExceededError`, `CrawlerRunningError`,
 * `JobRunFailedError`) come from `src/glue/errors.ts` and are not wrapped.
 */
export class SchedulerError extends IngestError {
  constructor(message: string, failureClass: FailureClass, options: IngestErrorOptions = {}) {
    super(message, failureClass, options);
  }
}

/**
 * A job run did not reach a terminal state within `jobTimeoutSecs`. Retriable: the hour's attempt
 * counts as failed and is tried again after the retry delay (until `maxAttempts`).
 */
export class JobWaitTimeoutError extends SchedulerError {
  constructor(message: string, options: Omit<IngestErrorOptions, 'retriable'> = {}) {
    super(message, 'timeout', { ...options, retriable: true });
  }
}

/**
 * StartJobRun failed for a reason other than `ConcurrentRunsExceededException` (which only defers
 * the hour). Retriable unless the cause says otherwise; the hour's attempt counts as failed.
 */
export class JobStartError extends SchedulerError {
  constructor(message: string, options: IngestErrorOptions = {}) {
    super(message, 'sink', { retriable: true, ...options });
  }
}

/**
 * The crawler's last crawl ended `FAILED` or `CANCELLED` (GetCrawler `LastCrawl.Status`). Retriable:
 * the hours of the cycle count a failed attempt.
 */
export class CrawlerFailedError extends SchedulerError {
  constructor(message: string, options: Omit<IngestErrorOptions, 'retriable'> = {}) {
    super(message, 'sink', { ...options, retriable: true });
  }
}

/**
 * The crawler did not become READY, start and finish within `crawlerTimeoutSecs`. Retriable: the hours
 * of the cycle count a failed attempt.
 */
export class CrawlerTimeoutError extends SchedulerError {
  constructor(message: string, options: Omit<IngestErrorOptions, 'retriable'> = {}) {
    super(message, 'timeout', { ...options, retriable: true });
  }
}

/** The quality query failed (Athena / DuckDB error). Retriable: the hours count a failed attempt. */
export class QualityCheckError extends SchedulerError {
  constructor(message: string, options: IngestErrorOptions = {}) {
    super(message, 'sink', { retriable: true, ...options });
  }
}

/**
 * Another scheduler wrote an hour's record since this one claimed it (a conditional write lost,
 * typically after this scheduler's lease expired). Not retriable: this scheduler drops the hour.
 */
export class HourOwnershipLostError extends SchedulerError {
  constructor(message: string, options: Omit<IngestErrorOptions, 'retriable'> = {}) {
    super(message, 'state_conflict', { ...options, retriable: false });
  }
}

/**
 * The scheduler is stopping: waits are cut short and the hours it owns are released (status
 * `pending`, lease expired). Not retriable; `runOnce()` after `stop()` throws it too.
 */
export class SchedulerStoppedError extends SchedulerError {
  constructor(message: string, options: Omit<IngestErrorOptions, 'retriable'> = {}) {
    super(message, 'internal', { ...options, retriable: false });
  }
}
