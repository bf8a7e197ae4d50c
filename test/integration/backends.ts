/**
 * The AWS backends the integration suite (`test/integration/suite`) runs against. Each is started by
 * the test harness and stopped by it:
 *
 * - `emulators` (no Docker): kinesis-local (kinesis-mock, the emulator LocalStack itself runs) for
 *   Kinesis through `AWS_ENDPOINT_URL_KINESIS`, and moto's server (`make venv`) for S3, DynamoDB,
 *   Glue and Athena through `AWS_ENDPOINT_URL`. moto runs no job script, crawl or SQL: its Glue job
 *   runs (`glue::job_run`: STARTING → RUNNING → SUCCEEDED, one step per GetJobRun/GetJobRuns) and
 *   crawls (`glue::crawl`: RUNNING → COMPLETED, one step per ListCrawls) are driven through its state
 *   manager, and its Athena answers with results queued by {@link StartedBackend.injectAthena}.
 * - `localstack`: LocalStack in a container through testcontainers (`@testcontainers/localstack`),
 *   image `localstack/localstack:${LOCALSTACK_VERSION:-latest}` as in deploy/docker-compose.yml.
 *   Available only when a Docker engine answers and `LOCALSTACK_AUTH_TOKEN` is set (LocalStack's
 *   images require one). Its Glue and Athena do their own work: no state driving, no injection.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import {
  GetJobRunsCommand,
  GlueClient,
  ListCrawlersCommand,
  ListCrawlsCommand,
  ListJobsCommand,
} from '@aws-sdk/client-glue';
import { startKinesisLocal } from '../../src/local/kinesis-local.js';
import { MOTO_SERVER, startMoto } from '../support/moto.js';

/** Region and dummy credentials every backend is used with. */
export const REGION = 'us-east-1';
const CREDENTIALS_ENV = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' };

/** One result queued for the next Athena query: column names and every row `GetQueryResults` returns. */
export interface AthenaResult {
  columns: string[];
  /** Rows as Athena returns them: for a SELECT, the first row holds the column labels. `null` is SQL NULL. */
  rows: (string | null)[][];
}

/** A running backend. */
export interface StartedBackend {
  /**
   * What to put in `process.env` for the service code to use this backend: `AWS_ENDPOINT_URL` and
   * per-service `AWS_ENDPOINT_URL_*`, `AWS_REGION`, dummy credentials.
   */
  env: Record<string, string>;
  /**
   * Moves every in-flight Glue job run and crawl one state forward, for backends whose Glue only
   * changes state when told (moto). Absent where Glue progresses on its own (LocalStack).
   */
  advanceGlue?(): Promise<void>;
  /** Queues results for the next Athena queries, in order, where the backend runs no SQL (moto). */
  injectAthena?(results: AthenaResult[]): Promise<void>;
  /** Stops everything the backend started. Safe to call twice. */
  stop(): Promise<void>;
}

/** A backend the suite can run against. */
export interface Backend {
  name: string;
  /** `true`, or why the backend cannot run here (printed as the skip reason). Never throws. */
  available(): Promise<string | true>;
  /** Starts the backend; nothing is created in it yet (the suite's bootstrap does that). */
  start(): Promise<StartedBackend>;
}

/** POSTs JSON to a moto API path and checks the status. */
async function motoApi(endpoint: string, path: string, body: unknown): Promise<void> {
  const res = await fetch(`${endpoint}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== 201 && res.status !== 200) throw new Error(`moto ${path}: HTTP ${res.status}: ${text}`);
}

/** kinesis-local for Kinesis, moto for S3, DynamoDB, Glue and Athena. No Docker. */
export const emulators: Backend = {
  name: 'emulators',
  async available() {
    if (!existsSync(MOTO_SERVER)) return `moto_server not found at ${MOTO_SERVER} (run \`make venv\`)`;
    try {
      createRequire(import.meta.url).resolve('kinesis-local/main.js');
    } catch {
      return 'the npm package kinesis-local is not installed (run `npm ci`)';
    }
    return true;
  },
  async start() {
    const [moto, kinesis] = await Promise.allSettled([startMoto(), startKinesisLocal()]);
    if (moto.status === 'rejected' || kinesis.status === 'rejected') {
      if (moto.status === 'fulfilled') await moto.value.stop();
      if (kinesis.status === 'fulfilled') await kinesis.value.stop();
      throw moto.status === 'rejected' ? moto.reason : (kinesis as PromiseRejectedResult).reason;
    }
    const endpoint = moto.value.endpoint;
    // Job runs take one step per GetJobRun, crawls one per ListCrawls: a caller that waits for them
    // really polls, and a crawl ends only when the harness says so (advanceGlue).
    await motoApi(endpoint, '/moto-api/state-manager/set-transition', {
      model_name: 'glue::job_run',
      transition: { progression: 'manual', times: 1 },
    });
    await motoApi(endpoint, '/moto-api/state-manager/set-transition', {
      model_name: 'glue::crawl',
      transition: { progression: 'manual', times: 1 },
    });
    const glue = new GlueClient({
      endpoint,
      region: REGION,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    let stopped: Promise<void> | undefined;
    return {
      env: {
        AWS_ENDPOINT_URL: endpoint,
        AWS_ENDPOINT_URL_KINESIS: kinesis.value.endpoint,
        AWS_REGION: REGION,
        ...CREDENTIALS_ENV,
      },
      async advanceGlue() {
        const { JobNames = [] } = await glue.send(new ListJobsCommand({}));
        // moto advances every run of the job on GetJobRuns, every crawl of the crawler on ListCrawls.
        for (const JobName of JobNames) await glue.send(new GetJobRunsCommand({ JobName }));
        const { CrawlerNames = [] } = await glue.send(new ListCrawlersCommand({}));
        for (const CrawlerName of CrawlerNames) await glue.send(new ListCrawlsCommand({ CrawlerName }));
      },
      async injectAthena(results) {
        await motoApi(endpoint, '/moto-api/static/athena/query-results', {
          region: REGION,
          results: results.map((r) => ({
            rows: r.rows.map((row) => ({ Data: row.map((v) => (v === null ? {} : { VarCharValue: v })) })),
            column_info: r.columns.map((name) => ({ Name: name, Label: name, Type: 'varchar' })),
          })),
        });
      },
      stop() {
        stopped ??= (async () => {
          glue.destroy();
          await Promise.all([moto.value.stop(), kinesis.value.stop()]);
        })();
        return stopped;
      },
    };
  },
};

/** The LocalStack image: the one deploy/docker-compose.yml runs. */
export function localstackImage(env: NodeJS.ProcessEnv = process.env): string {
  return `localstack/localstack:${env.LOCALSTACK_VERSION || 'latest'}`;
}

/** LocalStack in a container (testcontainers). Needs a Docker engine and `LOCALSTACK_AUTH_TOKEN`. */
export const localstack: Backend = {
  name: 'localstack',
  async available() {
    const reasons: string[] = [];
    try {
      const { getContainerRuntimeClient } = await import('testcontainers');
      await Promise.race([
        getContainerRuntimeClient(),
        new Promise((_, reject) =>
          setTimeout(() => reject(new Error('no answer within 10 s')), 10_000).unref(),
        ),
      ]);
    } catch (err) {
      const where = process.env.DOCKER_HOST
        ? `DOCKER_HOST=${process.env.DOCKER_HOST}`
        : '/var/run/docker.sock';
      reasons.push(`no Docker engine at ${where} (testcontainers: ${(err as Error).message})`);
    }
    if (!process.env.LOCALSTACK_AUTH_TOKEN) {
      reasons.push('LOCALSTACK_AUTH_TOKEN is not set (LocalStack images require an auth token)');
    }
    return reasons.length === 0 ? true : reasons.join('; ');
  },
  async start() {
    const { LocalstackContainer } = await import('@testcontainers/localstack');
    const container = await new LocalstackContainer(localstackImage())
      // Services load on first use; Glue and Athena need the license the token carries.
      .withEnvironment({ LOCALSTACK_AUTH_TOKEN: process.env.LOCALSTACK_AUTH_TOKEN ?? '' })
      .start();
    const endpoint = container.getConnectionUri();
    let stopped: Promise<void> | undefined;
    return {
      env: { AWS_ENDPOINT_URL: endpoint, AWS_REGION: REGION, ...CREDENTIALS_ENV },
      stop() {
        stopped ??= container.stop().then(() => undefined);
        return stopped;
      },
    };
  },
};

/** Every backend, for a runner that wants them all. */
export const BACKENDS: readonly Backend[] = [emulators, localstack];
