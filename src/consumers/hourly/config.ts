import { z } from 'zod';

/**
 * Config of the hourly scheduler: which closed bronze hours to process, how often, with which Glue
 * jobs, crawler and quality query, and how to retry. Every duration carries its unit in its name.
 */
export const HourlySchedulerSchema = z
  .strictObject({
    name: z
      .string()
      .min(1)
      .regex(/^[A-Za-z0-9_.-]+$/)
      .default('hourly')
      .describe(
        'Scheduler name: the `scheduler` metric label and the state namespace (`hour/<name>/<YYYY-MM-DDTHH>`). Schedulers sharing a name share hours.',
      ),
    type: z
      .literal('hourly')
      .describe(
        'Runs the Glue jobs bronze→silver→gold, the crawler and a quality query for every closed bronze hour.',
      ),
    lakeUri: z
      .string()
      .default('file://./data/lake')
      .describe(
        'Lake root (`file://path` or `s3://bucket/prefix`) listed under `bronze/` for hours, and passed to the jobs as `--lake_uri`.',
      ),
    graceSecs: z
      .number()
      .int()
      .min(0)
      .max(24 * 3600)
      .default(300)
      .describe(
        "Seconds after an hour's end before it counts as closed; covers Firehose's buffer (up to 900 s) or the bronze writer's `bufferIntervalSecs`.",
      ),
    checkIntervalSecs: z
      .number()
      .positive()
      .default(60)
      .describe('Pause between two cycles (list bronze, claim hours, run the pipeline).'),
    lookbackHours: z
      .number()
      .int()
      .min(1)
      .max(24 * 366)
      .default(48)
      .describe(
        'Hours back from now whose bronze is listed each cycle: only the `dt=` day prefixes of this window, per mapped source, so listing cost follows the window, not the age of the lake. An hour whose data lands later than this is not seen; raise it to catch up an old backlog.',
      ),
    maxHoursPerCycle: z
      .number()
      .int()
      .min(1)
      .default(24)
      .describe('Most hours claimed in one cycle, oldest first, so catching up a backlog stays bounded.'),
    maxAttempts: z
      .number()
      .int()
      .min(1)
      .default(3)
      .describe(
        'Failed attempts (a run FAILED/TIMEOUT/ERROR/STOPPED/EXPIRED, a crawl or query that failed) before an hour is marked `failed`. Deferrals (ConcurrentRunsExceededException) do not count.',
      ),
    retryBaseDelaySecs: z
      .number()
      .min(0)
      .default(300)
      .describe('Wait before the first retry of a failed hour; doubled after each further failure.'),
    retryMaxDelaySecs: z
      .number()
      .min(0)
      .default(3600)
      .describe('Longest wait between two attempts of a failed hour.'),
    jobPollIntervalSecs: z
      .number()
      .positive()
      .default(15)
      .describe('First pause between two GetJobRun (and GetCrawler) calls while waiting; doubled each poll.'),
    jobPollMaxIntervalSecs: z
      .number()
      .positive()
      .default(60)
      .describe('Longest pause between two GetJobRun (and GetCrawler) calls.'),
    jobTimeoutSecs: z
      .number()
      .positive()
      .default(172_800)
      .describe(
        "Longest wait for one job run to reach a terminal state before the attempt counts as failed (Glue's default job Timeout is 2,880 minutes).",
      ),
    maxConcurrentRuns: z
      .number()
      .int()
      .min(1)
      .default(1)
      .describe(
        "`bronze_to_silver` runs (one per source) in flight at once; match the job's Glue `MaxConcurrentRuns` (default 1).",
      ),
    jobs: z
      .strictObject({
        bronzeToSilver: z
          .string()
          .min(1)
          .default('bronze_to_silver')
          .describe(
            'Glue job run per source with `--source`, `--hours`, `--lake_uri`, `--entity_json`, `--pii_key_env`.',
          ),
        silverToGold: z
          .string()
          .min(1)
          .default('silver_to_gold')
          .describe('Glue job run once per cycle with `--hours` and `--lake_uri`.'),
      })
      .default({ bronzeToSilver: 'bronze_to_silver', silverToGold: 'silver_to_gold' })
      .describe('Glue job names.'),
    crawlerName: z
      .string()
      .min(1)
      .optional()
      .describe('Glue crawler started once per cycle after the gold job; no crawl when absent.'),
    crawlerTimeoutSecs: z
      .number()
      .positive()
      .default(3600)
      .describe('Longest wait for the crawler to become READY, start, and finish its crawl.'),
    qualityQuery: z
      .string()
      .min(1)
      .optional()
      .describe(
        "SQL run through the query engine (Athena / DuckDB) after the crawl; every numeric column of its first row is exported as `ingest_scheduler_quality_check_value{check=<column>}`. `{{hours}}` becomes a quoted list of the hours (`'2024-01-01T00',…`), `{{database}}` the lake database. No check when absent.",
      ),
    leaseSecs: z
      .number()
      .positive()
      .default(60)
      .describe(
        "How long a claim on an hour lasts without a heartbeat. The owner renews it every `heartbeatIntervalSecs` while it works on the hour (like the KCL's shard leases), so a crashed owner's hours are taken over within one lease period; an owner on this host whose process is gone is taken over at once.",
      ),
    heartbeatIntervalSecs: z
      .number()
      .positive()
      .default(10)
      .describe(
        'Pause between two lease renewals of the hours this instance works on; at most a third of `leaseSecs`, so two renewals can fail before a lease expires.',
      ),
    executor: z
      .discriminatedUnion('type', [
        z
          .strictObject({
            type: z.literal('local'),
            maxConcurrentRuns: z
              .number()
              .int()
              .positive()
              .default(1)
              .describe('Runs of one job at once, like Glue `MaxConcurrentRuns`.'),
            prestart: z
              .boolean()
              .default(false)
              .describe(
                "Start the job server's Spark JVM when the consumer starts instead of at the first job run, so its start-up overlaps the wait for the first hour (`ingest local` lands bronze meanwhile). It stays up until the consumer stops.",
              ),
          })
          .describe(
            'Runs the PySpark job scripts with the project venv (`make venv`) on a `file://` lake, all in one long-lived SparkSession (one JVM).',
          ),
        z
          .strictObject({
            type: z.literal('aws'),
            region: z.string().optional().describe('AWS region. @default AWS_REGION'),
          })
          .describe('AWS Glue through the AWS SDK (StartJobRun, GetJobRun, StartCrawler, GetCrawler).'),
      ])
      .default({ type: 'local', maxConcurrentRuns: 1, prestart: false })
      .describe('What runs the Glue jobs and the crawler.'),
    queryEngine: z
      .discriminatedUnion('type', [
        z
          .strictObject({ type: z.literal('duckdb') })
          .describe('DuckDB over the local gold and silver Parquet.'),
        z
          .strictObject({
            type: z.literal('athena'),
            workgroup: z.string().default('primary').describe('Athena workgroup.'),
            outputLocation: z
              .string()
              .optional()
              .describe('`s3://` location of query results (a workgroup that enforces one wins).'),
            timeoutMs: z
              .number()
              .int()
              .positive()
              .default(300_000)
              .describe('Give up on a query after this long.'),
          })
          .describe('Amazon Athena over the Glue Data Catalog database `lake.database`.'),
      ])
      .default({ type: 'duckdb' })
      .describe('Where the data-quality query and the analytics run.'),
    shutdownTimeoutMs: z
      .number()
      .int()
      .positive()
      .max(60_000)
      .default(5_000)
      .describe(
        '`stop()` waits this long for the cycle to release its hours; leases that could not be released expire on their own.',
      ),
  })
  .superRefine((cfg, ctx) => {
    if (cfg.jobPollMaxIntervalSecs < cfg.jobPollIntervalSecs) {
      ctx.addIssue({
        code: 'custom',
        path: ['jobPollMaxIntervalSecs'],
        message: 'must be at least jobPollIntervalSecs',
      });
    }
    if (cfg.heartbeatIntervalSecs * 3 > cfg.leaseSecs) {
      ctx.addIssue({
        code: 'custom',
        path: ['leaseSecs'],
        message:
          'must be at least three times heartbeatIntervalSecs, so a lease survives two failed renewals',
      });
    }
    if (cfg.retryMaxDelaySecs < cfg.retryBaseDelaySecs) {
      ctx.addIssue({
        code: 'custom',
        path: ['retryMaxDelaySecs'],
        message: 'must be at least retryBaseDelaySecs',
      });
    }
  })
  .describe(
    'The hourly scheduler: for every closed hour in bronze, runs bronze→silver per source, silver→gold, the crawler and a quality query through Glue/Athena.',
  );

/** Parsed config (defaults applied). */
export type HourlySchedulerConfig = z.infer<typeof HourlySchedulerSchema>;
/** Config as written (defaults optional). */
export type HourlySchedulerInput = z.input<typeof HourlySchedulerSchema>;
