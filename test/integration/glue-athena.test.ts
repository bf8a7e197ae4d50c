/**
 * AwsGlueExecutor and AthenaQueryEngine against moto (`startMoto()`).
 *
 * What moto emulates (moto 5.2.5, read from its source): Glue job runs and crawls only change state,
 * driven by moto's state manager (`/moto-api/state-manager/set-transition`, models `glue::job_run`
 * STARTING → RUNNING → SUCCEEDED, advanced by GetJobRun; `glue::crawl` RUNNING → COMPLETED, advanced
 * by ListCrawls, not by GetCrawler); StartJobRun enforces `MaxConcurrentRuns` over STARTING/RUNNING runs
 * and records the merged `--` arguments; StartCrawler raises CrawlerRunningException while the last
 * crawl is RUNNING. Athena runs no SQL: a query's state follows `athena::execution` (QUEUED → RUNNING →
 * SUCCEEDED, advanced by GetQueryExecution) and its rows come from a queue filled through
 * `/moto-api/static/athena/query-results`, taken at StartQueryExecution; GetQueryResults never pages.
 * So paging, FAILED queries and failed job runs are covered by the unit tests beside the code.
 */
import {
  AthenaClient,
  CreateWorkGroupCommand,
  GetQueryExecutionCommand,
  ListQueryExecutionsCommand,
  StopQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import {
  CreateCrawlerCommand,
  CreateDatabaseCommand,
  CreateJobCommand,
  GetJobRunCommand,
  GlueClient,
  ListCrawlsCommand,
} from '@aws-sdk/client-glue';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { AthenaQueryEngine } from '../../src/glue/aws/athena.js';
import { AwsGlueExecutor } from '../../src/glue/aws/executor.js';
import {
  ConcurrentRunsExceededError,
  CrawlerRunningError,
  GlueError,
  QueryFailedError,
} from '../../src/glue/errors.js';
import { ANALYTICS, QUALITY_CHECKS, runQualityChecks } from '../../src/glue/queries/index.js';
import { type Moto, startMoto } from '../support/moto.js';

const REGION = 'us-east-1';
const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };
const JOB = 'bronze_to_silver';
const CRAWLER = 'lake-silver';
const WORKGROUP = 'lake';
const OUTPUT = 's3://athena-results/engine/';
const WORKGROUP_OUTPUT = 's3://athena-results/workgroup/';

let moto: Moto;
let glue: GlueClient;
let athena: AthenaClient;
let executor: AwsGlueExecutor;

/** Sets how a moto model advances (`immediate`, or `manual` after `times` describe calls). */
async function setTransition(model: string, transition: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${moto.endpoint}/moto-api/state-manager/set-transition`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model_name: model, transition }),
  });
  expect(res.status).toBe(201);
  await res.arrayBuffer();
}

async function unsetTransition(model: string): Promise<void> {
  const res = await fetch(`${moto.endpoint}/moto-api/state-manager/unset-transition`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model_name: model }),
  });
  await res.arrayBuffer();
}

type Datum = { VarCharValue?: string };
/** Queues results for the next Athena queries (one entry per query, in order). */
async function queueAthenaResults(results: { columns: string[]; rows: Datum[][] }[]): Promise<void> {
  const res = await fetch(`${moto.endpoint}/moto-api/static/athena/query-results`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      region: REGION,
      results: results.map((r) => ({
        rows: r.rows.map((data) => ({ Data: data })),
        column_info: r.columns.map((name) => ({ Name: name, Label: name, Type: 'varchar' })),
      })),
    }),
  });
  expect(res.status).toBe(201);
  await res.arrayBuffer();
}

const text = (...values: (string | null)[]): Datum[] =>
  values.map((v) => (v === null ? {} : { VarCharValue: v }));

/** The query executions moto recorded for the workgroup, oldest first. */
async function recordedQueries(workgroup = WORKGROUP) {
  const { QueryExecutionIds = [] } = await athena.send(
    new ListQueryExecutionsCommand({ WorkGroup: workgroup }),
  );
  const executions = [];
  for (const id of QueryExecutionIds) {
    executions.push(
      (await athena.send(new GetQueryExecutionCommand({ QueryExecutionId: id }))).QueryExecution!,
    );
  }
  return executions;
}

function engine(
  overrides: Partial<ConstructorParameters<typeof AthenaQueryEngine>[0]> = {},
): AthenaQueryEngine {
  return new AthenaQueryEngine({
    workgroup: WORKGROUP,
    database: 'lake',
    outputLocation: OUTPUT,
    pollIntervalMs: 10,
    timeoutMs: 10_000,
    client: athena,
    ...overrides,
  });
}

beforeAll(async () => {
  moto = await startMoto();
  glue = new GlueClient({ endpoint: moto.endpoint, region: REGION, credentials: CREDENTIALS });
  athena = new AthenaClient({ endpoint: moto.endpoint, region: REGION, credentials: CREDENTIALS });
  executor = new AwsGlueExecutor({ client: glue });
  await glue.send(new CreateDatabaseCommand({ DatabaseInput: { Name: 'lake' } }));
  await glue.send(
    new CreateJobCommand({
      Name: JOB,
      Role: 'arn:aws:iam::123456789012:role/glue',
      Command: {
        Name: 'glueetl',
        ScriptLocation: 's3://lake-scripts/bronze_to_silver.py',
        PythonVersion: '3',
      },
      DefaultArguments: { '--lake_uri': 's3://lake', '--source': 'unset' },
      ExecutionProperty: { MaxConcurrentRuns: 1 },
      GlueVersion: '5.0',
    }),
  );
  await glue.send(
    new CreateCrawlerCommand({
      Name: CRAWLER,
      Role: 'arn:aws:iam::123456789012:role/glue',
      DatabaseName: 'lake',
      Targets: { S3Targets: [{ Path: 's3://lake/silver/' }] },
    }),
  );
  await athena.send(
    new CreateWorkGroupCommand({
      Name: WORKGROUP,
      Configuration: { ResultConfiguration: { OutputLocation: WORKGROUP_OUTPUT } },
    }),
  );
});

afterEach(async () => {
  for (const model of ['glue::job_run', 'glue::crawl', 'athena::execution']) await unsetTransition(model);
});

afterAll(async () => {
  await executor?.close();
  glue?.destroy();
  athena?.destroy();
  await moto?.stop();
});

describe('AwsGlueExecutor on moto', () => {
  it('starts a run with -- arguments, refuses a second one at MaxConcurrentRuns=1, and follows its states', async () => {
    // Each GetJobRun advances the run by one state.
    await setTransition('glue::job_run', { progression: 'manual', times: 1 });
    const runId = await executor.startJobRun(JOB, { source: 'fakestore.carts', hour: '2024-03-06T10' });
    expect(runId).toMatch(/^jr_[0-9a-f]+$/);

    // The first run is STARTING: Glue (and moto) refuse a second one.
    const refused = await executor.startJobRun(JOB, { source: 'fakestore.users' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConcurrentRunsExceededError);
    expect((refused as ConcurrentRunsExceededError).retriable).toBe(true);
    expect((refused as Error).message).toMatch(/ConcurrentRunsExceededException/);

    expect(await executor.getJobRun(JOB, runId)).toEqual({ runId, state: 'RUNNING', executionTimeSecs: 123 });
    expect(await executor.getJobRun(JOB, runId)).toEqual({
      runId,
      state: 'SUCCEEDED',
      executionTimeSecs: 123,
    });

    // What Glue recorded: the run's arguments override the job's DefaultArguments, with `--`.
    const { JobRun } = await glue.send(new GetJobRunCommand({ JobName: JOB, RunId: runId }));
    expect(JobRun?.Arguments).toEqual({
      '--lake_uri': 's3://lake',
      '--source': 'fakestore.carts',
      '--hour': '2024-03-06T10',
    });

    // Finished: the next run may start.
    const second = await executor.startJobRun(JOB, { source: 'fakestore.users' });
    expect(second).not.toBe(runId);
  });

  it('maps unknown jobs and runs to non-retriable GlueErrors', async () => {
    const noJob = await executor.startJobRun('no_such_job', {}).catch((e: unknown) => e);
    expect(noJob).toBeInstanceOf(GlueError);
    expect(noJob).not.toBeInstanceOf(ConcurrentRunsExceededError);
    expect((noJob as GlueError).retriable).toBe(false);
    expect((noJob as Error).message).toMatch(/StartJobRun no_such_job: EntityNotFoundException/);
    const noRun = await executor.getJobRun(JOB, 'jr_nope').catch((e: unknown) => e);
    expect(noRun).toBeInstanceOf(GlueError);
    expect((noRun as GlueError).retriable).toBe(false);
    await expect(executor.startJobRun(JOB, { '--source': 'x' })).rejects.toThrow(TypeError);
  });

  it('starts a crawl, refuses a second while it runs, and reports READY with the last crawl afterwards', async () => {
    // The crawl stays RUNNING until ListCrawls advances it once.
    await setTransition('glue::crawl', { progression: 'manual', times: 1 });
    expect(await executor.getCrawler(CRAWLER)).toEqual({ state: 'READY' });
    await executor.startCrawler(CRAWLER);
    // moto reports the running crawl itself as LastCrawl (AWS's LastCrawl is the last finished one).
    expect(await executor.getCrawler(CRAWLER)).toEqual({ state: 'RUNNING', lastCrawlStatus: 'RUNNING' });
    const running = await executor.startCrawler(CRAWLER).catch((e: unknown) => e);
    expect(running).toBeInstanceOf(CrawlerRunningError);
    expect((running as CrawlerRunningError).retriable).toBe(true);

    await glue.send(new ListCrawlsCommand({ CrawlerName: CRAWLER }));
    // moto's finished crawl status is COMPLETED; AWS's LastCrawl.Status would be SUCCEEDED. Passed through.
    expect(await executor.getCrawler(CRAWLER)).toEqual({ state: 'READY', lastCrawlStatus: 'COMPLETED' });
    await executor.startCrawler(CRAWLER);

    const missing = await executor.getCrawler('no-such-crawler').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(GlueError);
    expect((missing as GlueError).retriable).toBe(false);
  });

  it('builds its client from AWS_REGION and AWS_ENDPOINT_URL_GLUE when none is injected', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_REGION: REGION,
      AWS_ENDPOINT_URL_GLUE: moto.endpoint,
      AWS_ENDPOINT_URL: 'http://127.0.0.1:1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    });
    const fromEnv = new AwsGlueExecutor();
    try {
      expect((await fromEnv.getCrawler(CRAWLER)).state).toMatch(/^(READY|RUNNING)$/);
    } finally {
      await fromEnv.close();
      for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
      Object.assign(process.env, saved);
    }
  });
});

describe('AthenaQueryEngine on moto', () => {
  it('sends workgroup, database and output location, polls to SUCCEEDED and drops the header row', async () => {
    await setTransition('athena::execution', { progression: 'manual', times: 1 });
    await queueAthenaResults([
      {
        columns: ['year', 'month', 'revenue'],
        rows: [text('year', 'month', 'revenue'), text('2024', '1', '229.89'), text('2024', '2', null)],
      },
    ]);
    const counted = new AthenaClient({ endpoint: moto.endpoint, region: REGION, credentials: CREDENTIALS });
    const send = vi.spyOn(counted, 'send');
    const e = engine({ client: counted });
    const sql = ANALYTICS[0]!.sql;
    expect(await e.query(sql)).toEqual({
      columns: ['year', 'month', 'revenue'],
      rows: [
        ['2024', '1', '229.89'],
        ['2024', '2', null],
      ],
    });
    // QUEUED → RUNNING on the first poll, RUNNING → SUCCEEDED on the second.
    const calls = send.mock.calls.map(([command]) => command.constructor.name);
    expect(calls).toEqual([
      'StartQueryExecutionCommand',
      'GetQueryExecutionCommand',
      'GetQueryExecutionCommand',
      'GetQueryResultsCommand',
    ]);
    counted.destroy();
    const [recorded] = (await recordedQueries()).slice(-1);
    expect(recorded).toMatchObject({
      Query: sql,
      StatementType: 'DML',
      WorkGroup: WORKGROUP,
      QueryExecutionContext: { Database: 'lake' },
      Status: { State: 'SUCCEEDED' },
    });
    // Our OutputLocation, not the workgroup's; Athena (and moto) report the result file inside it.
    expect(recorded?.ResultConfiguration?.OutputLocation).toBe(`${OUTPUT}${recorded?.QueryExecutionId}.csv`);
  });

  it('keeps the first row of a DDL statement (no header row)', async () => {
    await queueAthenaResults([
      { columns: ['tab_name'], rows: [text('fact_order_lines'), text('silver_carts')] },
    ]);
    expect(await engine().query('SHOW TABLES')).toEqual({
      columns: ['tab_name'],
      rows: [['fact_order_lines'], ['silver_carts']],
    });
  });

  it('runs the quality checks through Athena and evaluates their value', async () => {
    const header = text('value');
    await queueAthenaResults([
      { columns: ['value'], rows: [header, text('0')] },
      { columns: ['value'], rows: [header, text('2')] },
      { columns: ['value'], rows: [header] },
      { columns: ['value'], rows: [header, text('0')] },
      { columns: ['value'], rows: [header, text('1')] },
    ]);
    const before = (await recordedQueries()).length;
    const results = await runQualityChecks(engine());
    expect(results.map((r) => [r.name, r.value, r.passed])).toEqual([
      ['dq_null_keys', 0, true],
      ['dq_duplicate_ids', 2, false],
      ['dq_silver_vs_gold_lines', null, false],
      ['dq_duplicate_keys', 0, true],
      ['dq_stale_silver_rows', 1, false],
    ]);
    expect(results[2]?.error).toMatch(/expected one row, got 0/);
    const sent = (await recordedQueries()).slice(before).map((q) => q.Query);
    expect(sent).toEqual(QUALITY_CHECKS.map((c) => c.sql));
  });

  it('throws a non-retriable QueryFailedError when the query is cancelled', async () => {
    await setTransition('athena::execution', { progression: 'manual', times: 1_000_000 });
    const before = new Set((await recordedQueries()).map((q) => q.QueryExecutionId));
    const pending = engine({ pollIntervalMs: 20 })
      .query('SELECT 1')
      .catch((e: unknown) => e);
    let id: string | undefined;
    for (let i = 0; i < 100 && !id; i++) {
      await new Promise((r) => setTimeout(r, 20));
      id = (await recordedQueries()).map((q) => q.QueryExecutionId!).find((q) => !before.has(q));
    }
    expect(id).toBeDefined();
    await athena.send(new StopQueryExecutionCommand({ QueryExecutionId: id }));
    const err = await pending;
    expect(err).toBeInstanceOf(QueryFailedError);
    expect((err as QueryFailedError).retriable).toBe(false);
    expect((err as Error).message).toMatch(/cancelled/);
  });

  it('stops a query that outlives timeoutMs and throws a retriable QueryFailedError', async () => {
    await setTransition('athena::execution', { progression: 'manual', times: 1_000_000 });
    const err = await engine({ timeoutMs: 200, pollIntervalMs: 20 })
      .query('SELECT 1')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QueryFailedError);
    expect((err as QueryFailedError).retriable).toBe(true);
    expect((err as Error).message).toMatch(/did not finish within 200 ms \(last state QUEUED\)/);
    const [last] = (await recordedQueries()).slice(-1);
    expect(last?.Status?.State).toBe('CANCELLED');
  });

  it('maps an unknown workgroup to a non-retriable GlueError', async () => {
    const err = await engine({ workgroup: 'no-such-workgroup' })
      .query('SELECT 1')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GlueError);
    expect((err as GlueError).retriable).toBe(false);
    expect((err as Error).message).toMatch(/InvalidRequestException: WorkGroup does not exist/);
  });
});
