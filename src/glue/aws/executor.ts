/**
 * {@link GlueExecutor} over AWS Glue (AWS SDK v3 `@aws-sdk/client-glue`): StartJobRun, GetJobRun,
 * StartCrawler and GetCrawler. Errors are classified by {@link toGlueError}.
 */
import {
  GetCrawlerCommand,
  GetJobRunCommand,
  GlueClient,
  StartCrawlerCommand,
  StartJobRunCommand,
} from '@aws-sdk/client-glue';
import { GlueError } from '../errors.js';
import type { CrawlerState, CrawlerStatus, GlueExecutor, JobRun, JobRunState } from '../types.js';
import { toGlueError } from './errors.js';

export interface AwsGlueExecutorOptions {
  /**
   * A ready client (tests, or to share one). Not destroyed by {@link AwsGlueExecutor.close}: its owner
   * destroys it. When absent the executor creates one from {@link region}, {@link endpoint} and
   * {@link maxAttempts} and the SDK's usual chains (credentials, `AWS_REGION`, `AWS_ENDPOINT_URL_GLUE`,
   * then `AWS_ENDPOINT_URL`).
   */
  client?: GlueClient;
  /** AWS region. @default the SDK's region chain (`AWS_REGION`, profile) */
  region?: string;
  /**
   * Endpoint URL, e.g. moto's `http://127.0.0.1:5000`.
   * @default the SDK's resolution: env `AWS_ENDPOINT_URL_GLUE`, then `AWS_ENDPOINT_URL`, else the regional endpoint
   */
  endpoint?: string;
  /**
   * Attempts per SDK call, including the first. Defaults to 1 because StartJobRun has no idempotency
   * token: an SDK retry after a timeout can start a second run. Every error carries `retriable`, so
   * the caller (the hourly scheduler) owns retries. @default 1
   */
  maxAttempts?: number;
}

/** Runs Glue jobs and crawlers in AWS (or in an emulator such as moto). Kind `aws`. */
export class AwsGlueExecutor implements GlueExecutor {
  readonly kind = 'aws' as const;
  private readonly client: GlueClient;
  private readonly ownsClient: boolean;

  constructor(options: AwsGlueExecutorOptions = {}) {
    this.ownsClient = options.client === undefined;
    this.client =
      options.client ??
      new GlueClient({
        ...(options.region ? { region: options.region } : {}),
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
        maxAttempts: options.maxAttempts ?? 1,
      });
  }

  /**
   * Starts a run of `jobName` (Glue StartJobRun). Each argument becomes `--<key>` in `Arguments`, the
   * form Glue passes to the script (`getResolvedOptions(sys.argv, ['key'])`); run arguments override
   * the job's `DefaultArguments` for this run (Glue API reference, "Job parameters").
   * @param args - arguments without the leading `--`, e.g. `{ source: 'fakestore.carts', hour: '2024-01-01T10' }`.
   * @returns the run id (`jr_…`).
   * @throws TypeError when an argument key is empty or already starts with `-`.
   * @throws ConcurrentRunsExceededError when the job is at its `MaxConcurrentRuns` (retriable).
   * @throws GlueError for anything else (`EntityNotFoundException` non-retriable; throttling, 5xx,
   *   network retriable: note that after a timeout the run may have started).
   */
  async startJobRun(jobName: string, args: Record<string, string>): Promise<string> {
    const Arguments: Record<string, string> = {};
    for (const [key, value] of Object.entries(args)) {
      if (key === '' || key.startsWith('-')) {
        throw new TypeError(`startJobRun: argument key "${key}" must be non-empty and given without "--"`);
      }
      Arguments[`--${key}`] = value;
    }
    try {
      const out = await this.client.send(new StartJobRunCommand({ JobName: jobName, Arguments }));
      if (!out.JobRunId) throw new GlueError(`StartJobRun ${jobName}: the response has no JobRunId`);
      return out.JobRunId;
    } catch (err) {
      throw toGlueError(err, `StartJobRun ${jobName}`);
    }
  }

  /**
   * Reads a run (Glue GetJobRun, `PredecessorsIncluded: false`): `JobRunState`, `ErrorMessage` and
   * `ExecutionTime` (seconds).
   * @throws GlueError (`EntityNotFoundException` for an unknown job or run: non-retriable).
   */
  async getJobRun(jobName: string, runId: string): Promise<JobRun> {
    try {
      const out = await this.client.send(
        new GetJobRunCommand({ JobName: jobName, RunId: runId, PredecessorsIncluded: false }),
      );
      const run = out.JobRun;
      if (!run?.JobRunState) {
        throw new GlueError(`GetJobRun ${jobName} ${runId}: the response has no JobRun.JobRunState`);
      }
      return {
        runId: run.Id ?? runId,
        state: run.JobRunState as JobRunState,
        ...(run.ErrorMessage ? { errorMessage: run.ErrorMessage } : {}),
        ...(run.ExecutionTime !== undefined ? { executionTimeSecs: run.ExecutionTime } : {}),
      };
    } catch (err) {
      throw toGlueError(err, `GetJobRun ${jobName} ${runId}`);
    }
  }

  /**
   * Starts a crawl (Glue StartCrawler).
   * @throws CrawlerRunningError when a crawl is already running (retriable: wait until `READY`).
   * @throws GlueError for anything else (`EntityNotFoundException` non-retriable).
   */
  async startCrawler(name: string): Promise<void> {
    try {
      await this.client.send(new StartCrawlerCommand({ Name: name }));
    } catch (err) {
      throw toGlueError(err, `StartCrawler ${name}`);
    }
  }

  /**
   * Reads a crawler (Glue GetCrawler): `Crawler.State` and, when there was a crawl,
   * `Crawler.LastCrawl.Status` (`SUCCEEDED`, `CANCELLED`, `FAILED` in AWS) and `LastCrawl.ErrorMessage`,
   * passed through unchanged.
   * @throws GlueError (`EntityNotFoundException` non-retriable).
   */
  async getCrawler(name: string): Promise<CrawlerStatus> {
    try {
      const out = await this.client.send(new GetCrawlerCommand({ Name: name }));
      const crawler = out.Crawler;
      if (!crawler?.State) throw new GlueError(`GetCrawler ${name}: the response has no Crawler.State`);
      const last = crawler.LastCrawl;
      return {
        state: crawler.State as CrawlerState,
        ...(last?.Status ? { lastCrawlStatus: last.Status } : {}),
        ...(last?.ErrorMessage ? { lastCrawlError: last.ErrorMessage } : {}),
      };
    } catch (err) {
      throw toGlueError(err, `GetCrawler ${name}`);
    }
  }

  /** Destroys the client when the executor created it. Glue runs keep going: they are AWS's. */
  async close(): Promise<void> {
    if (this.ownsClient) this.client.destroy();
  }
}
