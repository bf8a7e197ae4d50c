import { IngestError, type IngestErrorOptions } from '../errors.js';

/** Base error of the Glue/Athena control code. */
export class GlueError extends IngestError {
  constructor(message: string, options: IngestErrorOptions = {}) {
    super(message, 'sink', options);
  }
}

/** Glue `ConcurrentRunsExceededException`: the job is at `MaxConcurrentRuns`; start it later. */
export class ConcurrentRunsExceededError extends GlueError {
  constructor(message: string, options: Omit<IngestErrorOptions, 'retriable'> = {}) {
    super(message, { ...options, retriable: true });
  }
}

/** Glue `CrawlerRunningException`: the crawler is already running; wait until READY, then start. */
export class CrawlerRunningError extends GlueError {
  constructor(message: string, options: Omit<IngestErrorOptions, 'retriable'> = {}) {
    super(message, { ...options, retriable: true });
  }
}

/** A job run ended in FAILED, TIMEOUT, ERROR, STOPPED or EXPIRED. */
export class JobRunFailedError extends GlueError {
  constructor(
    message: string,
    readonly state: string,
    options: Omit<IngestErrorOptions, 'retriable'> = {},
  ) {
    super(message, { ...options, retriable: true });
  }
}

/** An Athena (or DuckDB) query failed. */
export class QueryFailedError extends GlueError {}
