/**
 * Shared state of one run of the integration suite against one backend: the started backend, its
 * environment applied to `process.env` (the service code builds its AWS clients from it), the
 * fixture API server, the suite's config, raw SDK clients for checking what happened, and the
 * bootstrap that every scenario relies on (run once, by whichever scenario needs it first).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { AthenaClient } from '@aws-sdk/client-athena';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GlueClient } from '@aws-sdk/client-glue';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { parse } from 'yaml';
import { type BootstrapResult, bootstrap } from '../../../src/bootstrap/index.js';
import { interpolateEnv } from '../../../src/config/interpolate.js';
import { type Config, ConfigSchema } from '../../../src/config/schema.js';
import type { Envelope } from '../../../src/envelope.js';
import { type FixtureServer, startFixtureServer } from '../../../src/local/fixture-server.js';
import type { Backend, StartedBackend } from '../backends.js';

/** Names of everything the suite's config asks bootstrap for. */
export const NAMES = {
  stream: 'it-ingest',
  lakeBucket: 'it-lake',
  deadLetterBucket: 'it-dead-letter',
  athenaBucket: 'it-athena-results',
  stateTable: 'it-ingest-state',
  database: 'it_lake',
  crawler: 'it-lake-crawler',
  workgroup: 'it-analytics',
  bronzeToSilver: 'it_bronze_to_silver',
  silverToGold: 'it_silver_to_gold',
  hourly: 'it-hourly',
  shards: 2,
} as const;

/** The lake root of the suite. */
export const LAKE_URI = `s3://${NAMES.lakeBucket}`;

/** Athena result location named in the config. */
export const ATHENA_OUTPUT = `s3://${NAMES.athenaBucket}/results/`;

/**
 * The quality query of the hourly consumer: the number of hours of the cycle, so a backend that
 * runs SQL (LocalStack) and one that returns injected rows (moto) give the same answer.
 */
export const QUALITY_QUERY = 'SELECT cardinality(ARRAY[{{hours}}]) AS value';

/** Envelopes the recorded fixture APIs give on one poll of each source (283 in all). */
export const FIXTURE_ENVELOPES: Readonly<Record<string, number>> = {
  'fakestore.carts': 7,
  'fakestore.products': 20,
  'fakestore.users': 10,
  'github.issues': 13,
  'usgs.earthquakes': 233,
};

const ROOT = join(import.meta.dirname, '../../..');

/**
 * The suite's config: the sources and silver mappings of `config/local.yaml` (pointed at the
 * fixture server), everything else on the backend: a Kinesis sink and bronze writer on
 * {@link NAMES.stream}, an `s3://` lake, DynamoDB state, an S3 dead-letter location, and an hourly
 * consumer on Glue (executor `aws`) and Athena with a crawler and a quality query.
 */
export function suiteConfig(fixtureOrigin: string): Config {
  const local = parse(
    interpolateEnv(readFileSync(join(ROOT, 'config/local.yaml'), 'utf8'), { FIXTURE_ORIGIN: fixtureOrigin }),
  ) as { sources: unknown[]; lake: { entities: unknown[] } };
  return ConfigSchema.parse({
    sources: local.sources,
    sinks: [{ name: 'kinesis', type: 'kinesis', streamName: NAMES.stream }],
    consumers: [
      {
        name: 'bronze',
        type: 'bronze',
        streamName: NAMES.stream,
        lakeUri: LAKE_URI,
        bufferIntervalSecs: 1,
        pollIntervalMs: 100,
      },
      {
        name: NAMES.hourly,
        type: 'hourly',
        lakeUri: LAKE_URI,
        graceSecs: 300,
        // The consume role runs one cycle at start; the suite drives the others with runOnce().
        checkIntervalSecs: 3600,
        jobPollIntervalSecs: 0.05,
        jobPollMaxIntervalSecs: 0.2,
        leaseSecs: 60,
        retryBaseDelaySecs: 1,
        retryMaxDelaySecs: 2,
        crawlerName: NAMES.crawler,
        crawlerTimeoutSecs: 120,
        jobs: { bronzeToSilver: NAMES.bronzeToSilver, silverToGold: NAMES.silverToGold },
        qualityQuery: QUALITY_QUERY,
        executor: { type: 'aws' },
        queryEngine: {
          type: 'athena',
          workgroup: NAMES.workgroup,
          outputLocation: ATHENA_OUTPUT,
          timeoutMs: 60_000,
        },
      },
    ],
    state: { type: 'dynamodb', tableName: NAMES.stateTable },
    deadLetter: { uri: `s3://${NAMES.deadLetterBucket}` },
    telemetry: { host: '127.0.0.1', runPort: 0, consumePort: 0 },
    logging: { level: 'warn' },
    lake: {
      uri: LAKE_URI,
      database: NAMES.database,
      piiKeyEnv: 'INGEST_PII_KEY',
      entities: local.lake.entities,
    },
  });
}

/** Waits until `check` holds, polling every 100 ms. @throws Error naming `what` on timeout. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One bronze object read back from S3. */
export interface BronzeObjectRead {
  key: string;
  envelopes: Envelope[];
}

/** The running suite: see the module comment. */
export class SuiteContext {
  started?: StartedBackend;
  fixtures?: FixtureServer;
  config!: Config;
  s3!: S3Client;
  glue!: GlueClient;
  athena!: AthenaClient;
  dynamodb!: DynamoDBClient;
  kinesis!: KinesisClient;
  private savedEnv = new Map<string, string | undefined>();
  private bootstrapping?: Promise<BootstrapResult>;

  constructor(readonly backend: Backend) {}

  /** The backend's environment (after {@link start}). */
  get env(): Record<string, string> {
    if (!this.started) throw new Error('the backend is not started');
    return this.started.env;
  }

  /** Starts the backend and the fixture server, applies the environment, builds the config and clients. */
  async start(): Promise<void> {
    this.started = await this.backend.start();
    for (const [key, value] of Object.entries(this.started.env)) {
      this.savedEnv.set(key, process.env[key]);
      process.env[key] = value;
    }
    this.fixtures = await startFixtureServer({ port: 0 });
    this.config = suiteConfig(this.fixtures.origin);
    const env = this.started.env;
    const common = {
      region: env.AWS_REGION,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    };
    const endpoint = (service: string) => env[`AWS_ENDPOINT_URL_${service}`] ?? env.AWS_ENDPOINT_URL;
    this.s3 = new S3Client({ ...common, endpoint: endpoint('S3'), forcePathStyle: true });
    this.glue = new GlueClient({ ...common, endpoint: endpoint('GLUE') });
    this.athena = new AthenaClient({ ...common, endpoint: endpoint('ATHENA') });
    this.dynamodb = new DynamoDBClient({ ...common, endpoint: endpoint('DYNAMODB') });
    this.kinesis = new KinesisClient({
      ...common,
      endpoint: endpoint('KINESIS'),
      requestHandler: new NodeHttpHandler({ connectionTimeout: 5_000, requestTimeout: 30_000 }),
    });
  }

  /** Stops everything {@link start} started and restores `process.env`. Safe after a failed start. */
  async stop(): Promise<void> {
    for (const c of [this.s3, this.glue, this.athena, this.dynamodb, this.kinesis]) c?.destroy();
    await this.fixtures?.close();
    await this.started?.stop();
    for (const [key, value] of this.savedEnv) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    this.savedEnv.clear();
  }

  /**
   * The first bootstrap of the backend for the suite's config (run on first call, then shared), with
   * the environment as the only source of endpoints, as in `ingest bootstrap --config FILE`.
   */
  bootstrapped(): Promise<BootstrapResult> {
    this.bootstrapping ??= bootstrap(this.config, { env: this.env, shards: NAMES.shards, waitSecs: 60 });
    return this.bootstrapping;
  }

  /** Every key under `prefix` in `bucket`, paging through ListObjectsV2. */
  async listKeys(bucket: string, prefix = ''): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.s3.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
      token = page.NextContinuationToken;
    } while (token);
    return keys.sort();
  }

  /** Reads an object's bytes. */
  async getObject(bucket: string, key: string): Promise<Uint8Array> {
    const res = await this.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return res.Body ? res.Body.transformToByteArray() : new Uint8Array();
  }

  /** Every bronze object of the lake, gunzipped and parsed one envelope per line. */
  async readBronze(): Promise<BronzeObjectRead[]> {
    const out: BronzeObjectRead[] = [];
    for (const key of await this.listKeys(NAMES.lakeBucket, 'bronze/')) {
      const text = gunzipSync(await this.getObject(NAMES.lakeBucket, key)).toString('utf8');
      const envelopes = text
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as Envelope);
      out.push({ key, envelopes });
    }
    return out;
  }
}
