/**
 * Contracts between the hourly scheduler and what runs the Glue jobs, the crawler and the Athena
 * queries. Two implementations of each: `aws` (AWS SDK v3: Glue, Athena) and `local` (the same PySpark
 * scripts through the project venv's Spark on a `file://` lake; DuckDB for the SQL).
 */

/** Glue job run states (GetJobRun `JobRunState`). */
export type JobRunState =
  | 'STARTING'
  | 'RUNNING'
  | 'STOPPING'
  | 'STOPPED'
  | 'SUCCEEDED'
  | 'FAILED'
  | 'TIMEOUT'
  | 'ERROR'
  | 'WAITING'
  | 'EXPIRED';

/** Terminal states: the run will not change any more. */
export const TERMINAL_JOB_STATES: ReadonlySet<JobRunState> = new Set([
  'STOPPED',
  'SUCCEEDED',
  'FAILED',
  'TIMEOUT',
  'ERROR',
  'EXPIRED',
]);

export interface JobRun {
  runId: string;
  state: JobRunState;
  /** Glue's `ErrorMessage` for a failed run. */
  errorMessage?: string;
  /** Seconds the run took (Glue `ExecutionTime`), when known. */
  executionTimeSecs?: number;
}

/** Crawler states (GetCrawler `Crawler.State`). */
export type CrawlerState = 'READY' | 'RUNNING' | 'STOPPING';

export interface CrawlerStatus {
  state: CrawlerState;
  /** Status of the last finished crawl (`SUCCEEDED`, `CANCELLED`, `FAILED`), when any. */
  lastCrawlStatus?: string;
  lastCrawlError?: string;
}

/**
 * Runs Glue jobs and crawlers. Errors are {@link IngestError}s with `retriable` set:
 * - `ConcurrentRunsExceededError` (Glue `ConcurrentRunsExceededException`): retriable, means "later";
 * - `CrawlerRunningError` (Glue `CrawlerRunningException`): retriable, means "wait, then start";
 * - anything else as classified by the implementation.
 */
export interface GlueExecutor {
  /** `aws` or `local`. */
  readonly kind: 'aws' | 'local';
  /**
   * Starts a job run (Glue StartJobRun) and returns its run id.
   * @param args - job arguments without the leading `--` (e.g. `{ source: 'fakestore.carts' }`);
   *   the implementation adds `--` as Glue expects.
   */
  startJobRun(jobName: string, args: Record<string, string>): Promise<string>;
  /** Reads a job run's state (Glue GetJobRun). */
  getJobRun(jobName: string, runId: string): Promise<JobRun>;
  /** Starts a crawler (Glue StartCrawler). @throws CrawlerRunningError when it is already running. */
  startCrawler(name: string): Promise<void>;
  /** Reads a crawler's state (Glue GetCrawler). */
  getCrawler(name: string): Promise<CrawlerStatus>;
  /** Releases resources (kills local runs still going). */
  close(): Promise<void>;
}

/** A query result: column names and rows of strings (Athena returns every value as a string). */
export interface QueryResult {
  columns: string[];
  rows: (string | null)[][];
}

/** Runs SQL over the gold (and silver) tables: Athena in AWS, DuckDB over local Parquet. */
export interface QueryEngine {
  readonly kind: 'athena' | 'duckdb';
  /** Runs one statement and returns every row (paging through GetQueryResults in Athena). */
  query(sql: string): Promise<QueryResult>;
  close(): Promise<void>;
}
