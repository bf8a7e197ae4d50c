/**
 * `ingest bootstrap`: creates what a **local** AWS endpoint (LocalStack, moto, kinesis-local) needs
 * before the `run` and `consume` roles can start against it, from the same config file:
 *
 * | resource          | from the config                                                            |
 * |-------------------|----------------------------------------------------------------------------|
 * | Kinesis streams   | kinesis sinks' and bronze consumers' `streamName` (`shards` each; waited for until ACTIVE) |
 * | Firehose streams  | firehose sinks' `deliveryStreamName`: DirectPut to bronze under `lake.uri` (`firehose.ts`) |
 * | S3 buckets        | every `s3://` URI: consumers' `lakeUri`, `lake.uri`, `deadLetter.uri`, Athena `outputLocation` |
 * | DynamoDB table    | `state.tableName` when `state.type: dynamodb` (see `createStateTable`)      |
 * | Glue database     | `lake.database`, when an hourly consumer uses Glue or Athena               |
 * | Glue job scripts  | `src/glue/jobs/*.py` uploaded to `<lakeUri>/glue-scripts/`                  |
 * | Glue jobs         | hourly consumers' `jobs` (executor `aws`): glueetl, GlueVersion 5.0, MaxConcurrentRuns |
 * | Glue crawler      | `crawlerName`, over `<lakeUri>/silver/` and `<lakeUri>/gold/`               |
 * | Athena workgroup  | `queryEngine.workgroup` of hourly consumers with `queryEngine.type: athena` |
 *
 * It refuses real AWS (see `endpoints.ts` for the rule): every service it calls needs an explicit
 * endpoint that is not an AWS domain. It is idempotent: a resource that already exists is reported
 * `exists` and left as it is (an existing job or crawler is not updated; a script whose content
 * changed is uploaded again, `updated`). A service the endpoint does not provide (HTTP 501 and
 * similar, e.g. Glue on a LocalStack without the license for it) is reported `skipped`, with the
 * resources that depend on it.
 *
 * Credentials: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`) of the
 * environment, else the SDK's default chain when `AWS_PROFILE` is set, else the dummy `test`/`test`
 * that emulators accept. Region: `region`, else `AWS_REGION`, else
 * `AWS_DEFAULT_REGION`, else `us-east-1`.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  AthenaClient,
  CreateWorkGroupCommand,
  GetWorkGroupCommand,
  type WorkGroup,
} from '@aws-sdk/client-athena';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { FirehoseClient } from '@aws-sdk/client-firehose';
import {
  CreateCrawlerCommand,
  CreateDatabaseCommand,
  CreateJobCommand,
  GetCrawlerCommand,
  GetDatabaseCommand,
  GetJobCommand,
  GlueClient,
} from '@aws-sdk/client-glue';
import { CreateStreamCommand, DescribeStreamSummaryCommand, KinesisClient } from '@aws-sdk/client-kinesis';
import {
  type BucketLocationConstraint,
  CreateBucketCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { sinkResources } from '../producers/registry.js';
import { createStateTable } from '../state/dynamodb.js';
import {
  type BootstrapService,
  checkEndpoint,
  type ResolvedEndpoint,
  refusal,
  resolveEndpoints,
} from './endpoints.js';
import { ensureActive, unsupportedDetail } from './ensure.js';
import { BootstrapError, errorNameOf, httpStatusOf, isUnsupported } from './errors.js';
import { ensureDeliveryStream } from './firehose.js';
import {
  GLUE_VERSION,
  type JobPlan,
  type PlanOptions,
  parseS3Uri,
  planBootstrap,
  type StreamPlan,
  servicesOf,
} from './plan.js';

export * from './endpoints.js';
export * from './errors.js';
export * from './plan.js';

/** What happened to one resource. */
export type ResourceStatus = 'created' | 'exists' | 'updated' | 'skipped';

/** Kinds of resources, as printed. */
export type ResourceKind =
  | 'kinesis stream'
  | 'firehose delivery stream'
  | 'kafka topic'
  | 's3 bucket'
  | 'dynamodb table'
  | 'glue database'
  | 'glue script'
  | 'glue job'
  | 'glue crawler'
  | 'athena workgroup';

/** One line of the bootstrap report. */
export interface ResourceResult {
  kind: ResourceKind;
  name: string;
  status: ResourceStatus;
  /** Shards, script location, or why it was skipped. */
  detail?: string;
}

/** Options of {@link bootstrap}. */
export interface BootstrapOptions extends PlanOptions {
  /** `--endpoint`: one endpoint for every service (wins over the environment). */
  endpoint?: string;
  /** Environment for endpoints, region and credentials. @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Region. @default env AWS_REGION ?? AWS_DEFAULT_REGION ?? 'us-east-1' */
  region?: string;
  /** IAM role Firehose assumes to write S3 (emulators do not check it). @default {@link DEFAULT_FIREHOSE_ROLE_ARN} */
  firehoseRoleArn?: string;
  /** IAM role of the Glue jobs and crawler (emulators do not check it). @default {@link DEFAULT_GLUE_ROLE_ARN} */
  glueRoleArn?: string;
  /** Directory holding the job scripts. @default {@link jobScriptsDir}() */
  scriptsDir?: string;
  /** How long to wait for a stream or table to become ACTIVE, in seconds. @default 60 */
  waitSecs?: number;
  /** Called with each resource as soon as it is done (the CLI prints it). */
  onResource?: (result: ResourceResult) => void;
  /** Called once the endpoints are resolved and accepted, before the first call. */
  onEndpoints?: (endpoints: Partial<Record<BootstrapService, ResolvedEndpoint>>) => void;
}

/** What {@link bootstrap} did. */
export interface BootstrapResult {
  /** The endpoint each service used. */
  endpoints: Partial<Record<BootstrapService, ResolvedEndpoint>>;
  /** Every resource, in creation order. */
  resources: ResourceResult[];
}

/** Role ARN given to Firehose by default: LocalStack's default account. */
export const DEFAULT_FIREHOSE_ROLE_ARN = 'arn:aws:iam::000000000000:role/ingest-firehose';

/** Role ARN given to the Glue jobs and crawler by default: LocalStack's default account. */
export const DEFAULT_GLUE_ROLE_ARN = 'arn:aws:iam::000000000000:role/ingest-glue';

/**
 * The directory of the Glue job scripts: `../glue/jobs` beside this module (running from `src/`),
 * else `src/glue/jobs` of the nearest ancestor (running from `dist/`, or an image shipping `src/glue/jobs`).
 * @throws Error when neither holds `bronze_to_silver.py`.
 */
export function jobScriptsDir(here: string = import.meta.dirname): string {
  const probe = 'bronze_to_silver.py';
  const beside = join(here, '..', 'glue', 'jobs');
  if (existsSync(join(beside, probe))) return beside;
  for (let dir = here; ; dir = dirname(dir)) {
    const candidate = join(dir, 'src', 'glue', 'jobs');
    if (existsSync(join(candidate, probe))) return candidate;
    if (dirname(dir) === dir) break;
  }
  throw new Error(
    `bootstrap: cannot find the Glue job scripts (${probe}) beside ${here} nor in src/glue/jobs`,
  );
}

/** One report line: `created  kinesis stream    ingest (2 shards, ACTIVE)`. */
export function formatResource(r: ResourceResult): string {
  return `${r.status.padEnd(8)}${r.kind.padEnd(18)}${r.name}${r.detail ? ` (${r.detail})` : ''}`;
}

/**
 * The credentials bootstrap uses: the keys in `env` when it has them, the SDK's default chain when
 * it names a profile, else the dummy test/test that emulators accept.
 */
function credentialsFor(env: NodeJS.ProcessEnv) {
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    return {
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
    };
  }
  return env.AWS_PROFILE ? undefined : { accessKeyId: 'test', secretAccessKey: 'test' };
}

/**
 * Creates every resource `config` needs on a local endpoint (see the module comment).
 * @throws ConfigError when an endpoint is missing or is real AWS (nothing is called then), or when the
 *   plan cannot be made (see {@link planBootstrap}).
 * @throws BootstrapError when a call fails for another reason than "exists" or "unsupported"; the
 *   resources done before it were reported through `onResource`.
 */
export async function bootstrap(config: Config, options: BootstrapOptions = {}): Promise<BootstrapResult> {
  const env = options.env ?? process.env;
  const plan = planBootstrap(config, options);
  const services = servicesOf(plan, options.endpoint);
  const resolved = resolveEndpoints({
    services,
    env,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
  });
  // Streams whose sink names its own endpoint use it (unless --endpoint overrides everything).
  const streamEndpoints = new Map<string, ResolvedEndpoint>();
  const problems: string[] = [];
  for (const s of [...plan.streams, ...(plan.deliveryStreams ?? [])]) {
    if (options.endpoint || !s.sinkEndpoint) continue;
    const checked = checkEndpoint(s.sinkEndpoint.url, `sink ${s.sinkEndpoint.sink}.endpoint`);
    if ('refused' in checked)
      problems.push(
        `${'shards' in s ? 'kinesis stream' : 'firehose delivery stream'} ${s.name}: ${checked.refused}`,
      );
    else streamEndpoints.set(s.name, checked);
  }
  if (problems.length > 0) throw refusal(problems);
  const endpoints: Partial<Record<BootstrapService, ResolvedEndpoint>> = Object.fromEntries(resolved);
  options.onEndpoints?.(endpoints);

  const region = options.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1';
  const credentials = credentialsFor(env);
  const common = { region, ...(credentials ? { credentials } : {}) };
  const resources: ResourceResult[] = [];
  const report = (r: ResourceResult) => {
    resources.push(r);
    options.onResource?.(r);
  };
  const endpointOf = (service: BootstrapService) => resolved.get(service)!.url;
  const clients: { destroy(): void }[] = [];
  const track = <T extends { destroy(): void }>(c: T): T => {
    clients.push(c);
    return c;
  };
  const waitMs = (options.waitSecs ?? 60) * 1000;

  try {
    // Kinesis streams.
    const kinesisClients = new Map<string, KinesisClient>();
    const kinesisFor = (url: string) => {
      let c = kinesisClients.get(url);
      if (!c) {
        c = track(
          new KinesisClient({
            ...common,
            endpoint: url,
            // kinesis-mock's plain port speaks HTTP/1.1 only; the Kinesis client defaults to HTTP/2.
            ...(url.startsWith('http:')
              ? { requestHandler: new NodeHttpHandler({ connectionTimeout: 5_000, requestTimeout: 30_000 }) }
              : {}),
          }),
        );
        kinesisClients.set(url, c);
      }
      return c;
    };
    for (const s of plan.streams) {
      const url = streamEndpoints.get(s.name)?.url ?? endpointOf('kinesis');
      report(await ensureStream(kinesisFor(url), s, url, waitMs));
    }

    // Kafka topics, on each Kafka sink's own brokers (with its TLS/SASL settings).
    for (const sink of config.sinks) {
      if (sink.type !== 'kafka') continue;
      for (const r of await ensureKafkaTopics(sink)) report(r);
    }

    // S3 buckets.
    const s3 = services.includes('s3')
      ? track(new S3Client({ ...common, endpoint: endpointOf('s3'), forcePathStyle: true }))
      : undefined;
    for (const bucket of plan.buckets) report(await ensureBucket(s3!, bucket, region, endpointOf('s3')));

    // Firehose delivery streams (after their bucket).
    for (const d of plan.deliveryStreams ?? []) {
      const url = streamEndpoints.get(d.name)?.url ?? endpointOf('firehose');
      const firehose = track(new FirehoseClient({ ...common, endpoint: url }));
      const roleArn = options.firehoseRoleArn ?? DEFAULT_FIREHOSE_ROLE_ARN;
      const done = await ensureDeliveryStream(firehose, d, { roleArn, url, waitMs });
      report({ kind: 'firehose delivery stream', name: d.name, ...done });
    }

    // DynamoDB state table.
    if (plan.stateTable !== undefined) {
      const ddb = track(new DynamoDBClient({ ...common, endpoint: endpointOf('dynamodb') }));
      report(await ensureTable(ddb, plan.stateTable, endpointOf('dynamodb'), waitMs));
    }

    // Glue: database, scripts, jobs, crawlers.
    if (plan.glue) {
      const glueUrl = endpointOf('glue');
      const glue = track(new GlueClient({ ...common, endpoint: glueUrl }));
      const role = options.glueRoleArn ?? DEFAULT_GLUE_ROLE_ARN;
      const db = await ensureGlueDatabase(glue, plan.glue.database, glueUrl);
      report(db);
      const glueSkipped = db.status === 'skipped';
      const skipReason = 'skipped: Glue is unsupported by the endpoint';
      const scriptsDir = plan.glue.scripts.length > 0 ? (options.scriptsDir ?? jobScriptsDir()) : '';
      for (const script of plan.glue.scripts) {
        if (glueSkipped) {
          report({ kind: 'glue script', name: script.uri, status: 'skipped', detail: skipReason });
          continue;
        }
        const body = await readFile(join(scriptsDir, script.file));
        report(await ensureObject(s3!, script.uri, body, endpointOf('s3')));
      }
      for (const job of plan.glue.jobs) {
        if (glueSkipped) report({ kind: 'glue job', name: job.name, status: 'skipped', detail: skipReason });
        else report(await ensureJob(glue, job, role, glueUrl));
      }
      for (const crawler of plan.glue.crawlers) {
        if (glueSkipped)
          report({ kind: 'glue crawler', name: crawler.name, status: 'skipped', detail: skipReason });
        else report(await ensureCrawler(glue, crawler, role, glueUrl));
      }
    }

    // Athena workgroups.
    if (plan.workgroups.length > 0) {
      const athenaUrl = endpointOf('athena');
      const athena = track(new AthenaClient({ ...common, endpoint: athenaUrl }));
      for (const wg of plan.workgroups) report(await ensureWorkgroup(athena, wg, athenaUrl));
    }
  } finally {
    for (const c of clients) c.destroy();
  }
  return { endpoints, resources };
}

/**
 * Creates a Kafka sink's topic when it is missing (partitions and replication factor from the sink's
 * `topicPartitions`/`topicReplicationFactor`), connecting with the sink's own brokers, TLS and SASL.
 * An existing topic is left as it is. kafkajs is loaded only when a Kafka sink is configured.
 * @throws what kafkajs throws when the brokers cannot be reached or refuse (e.g. no CreateTopics ACL).
 */
async function ensureKafkaTopics(
  sink: Extract<Config['sinks'][number], { type: 'kafka' }>,
): Promise<ResourceResult[]> {
  const [{ createKafkaClient }, { ensureTopics }, { silentLogger }] = await Promise.all([
    import('../kafka/client.js'),
    import('../kafka/topics.js'),
    import('../log.js'),
  ]);
  const topics = sinkResources(sink).flatMap((r) =>
    r.kind === 'kafka-topic'
      ? [
          {
            topic: r.name,
            partitions: r.partitions,
            ...(r.replicationFactor === undefined ? {} : { replicationFactor: r.replicationFactor }),
          },
        ]
      : [],
  );
  const created = new Set(await ensureTopics(createKafkaClient(sink, silentLogger), topics));
  return topics.map((t) => ({
    kind: 'kafka topic' as const,
    name: t.topic,
    status: created.has(t.topic) ? ('created' as const) : ('exists' as const),
    detail: `${t.partitions ?? 'default'} partitions on ${sink.brokers.join(',')}`,
  }));
}

/** `skipped` with the endpoint's own words. */
function skipped(kind: ResourceKind, name: string, err: unknown): ResourceResult {
  return { kind, name, status: 'skipped', detail: unsupportedDetail(err) };
}

async function ensureStream(
  client: KinesisClient,
  s: StreamPlan,
  url: string,
  waitMs: number,
): Promise<ResourceResult> {
  const done = await ensureActive({
    what: `kinesis stream ${s.name}`,
    url,
    describe: async () =>
      (await client.send(new DescribeStreamSummaryCommand({ StreamName: s.name }))).StreamDescriptionSummary,
    create: () => client.send(new CreateStreamCommand({ StreamName: s.name, ShardCount: s.shards })),
    stateOf: (summary) => summary?.StreamStatus,
    readyStates: ['ACTIVE', 'UPDATING'],
    waitMs,
  });
  if (done.status === 'skipped') return { kind: 'kinesis stream', name: s.name, ...done };
  return {
    kind: 'kinesis stream',
    name: s.name,
    status: done.status,
    detail: `${done.description?.OpenShardCount ?? '?'} shards, ${done.state}`,
  };
}

async function ensureBucket(
  client: S3Client,
  bucket: string,
  region: string,
  url: string,
): Promise<ResourceResult> {
  const result = (status: ResourceStatus): ResourceResult => ({ kind: 's3 bucket', name: bucket, status });
  try {
    try {
      await client.send(new HeadBucketCommand({ Bucket: bucket }));
      return result('exists');
    } catch (err) {
      const status = httpStatusOf(err);
      if (status !== 404 && errorNameOf(err) !== 'NotFound' && errorNameOf(err) !== 'NoSuchBucket') throw err;
    }
    try {
      await client.send(
        new CreateBucketCommand({
          Bucket: bucket,
          ...(region === 'us-east-1'
            ? {}
            : { CreateBucketConfiguration: { LocationConstraint: region as BucketLocationConstraint } }),
        }),
      );
      return result('created');
    } catch (err) {
      if (errorNameOf(err) === 'BucketAlreadyOwnedByYou') return result('exists');
      throw err;
    }
  } catch (err) {
    if (isUnsupported(err)) return skipped('s3 bucket', bucket, err);
    throw BootstrapError.from(err, `s3 bucket ${bucket}`, url);
  }
}

async function ensureObject(
  client: S3Client,
  uri: string,
  body: Uint8Array,
  url: string,
): Promise<ResourceResult> {
  const { bucket, prefix: key } = parseS3Uri(uri)!;
  const md5 = createHash('md5').update(body).digest('hex');
  try {
    let status: ResourceStatus = 'created';
    try {
      const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      if (head.ETag?.replaceAll('"', '') === md5) return { kind: 'glue script', name: uri, status: 'exists' };
      status = 'updated';
    } catch (err) {
      if (httpStatusOf(err) !== 404 && errorNameOf(err) !== 'NotFound') throw err;
    }
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'text/x-python' }),
    );
    return { kind: 'glue script', name: uri, status, detail: `${body.length} bytes` };
  } catch (err) {
    if (isUnsupported(err)) return skipped('glue script', uri, err);
    throw BootstrapError.from(err, `glue script ${uri}`, url);
  }
}

async function ensureTable(
  client: DynamoDBClient,
  table: string,
  url: string,
  waitMs: number,
): Promise<ResourceResult> {
  try {
    try {
      const out = await client.send(new DescribeTableCommand({ TableName: table }));
      return {
        kind: 'dynamodb table',
        name: table,
        status: 'exists',
        detail: out.Table?.TableStatus ?? 'UNKNOWN',
      };
    } catch (err) {
      if (errorNameOf(err) !== 'ResourceNotFoundException') throw err;
    }
    try {
      await createStateTable(client, table, { waitSecs: Math.max(1, Math.round(waitMs / 1000)) });
    } catch (err) {
      if (errorNameOf(err) !== 'ResourceInUseException') throw err;
      return { kind: 'dynamodb table', name: table, status: 'exists' };
    }
    // Confirm it is there (createStateTable waited for it).
    await client.send(new DescribeTableCommand({ TableName: table }));
    return {
      kind: 'dynamodb table',
      name: table,
      status: 'created',
      detail: 'key pk (S), on-demand, TTL on expiresAt',
    };
  } catch (err) {
    if (isUnsupported(err)) return skipped('dynamodb table', table, err);
    throw BootstrapError.from(err, `dynamodb table ${table}`, url);
  }
}

async function ensureGlueDatabase(client: GlueClient, name: string, url: string): Promise<ResourceResult> {
  try {
    try {
      await client.send(new GetDatabaseCommand({ Name: name }));
      return { kind: 'glue database', name, status: 'exists' };
    } catch (err) {
      if (errorNameOf(err) !== 'EntityNotFoundException') throw err;
    }
    try {
      await client.send(
        new CreateDatabaseCommand({
          DatabaseInput: { Name: name, Description: 'Silver and gold tables of the ingest lake' },
        }),
      );
      return { kind: 'glue database', name, status: 'created' };
    } catch (err) {
      if (errorNameOf(err) === 'AlreadyExistsException')
        return { kind: 'glue database', name, status: 'exists' };
      throw err;
    }
  } catch (err) {
    if (isUnsupported(err)) return skipped('glue database', name, err);
    throw BootstrapError.from(err, `glue database ${name}`, url);
  }
}

async function ensureJob(
  client: GlueClient,
  job: JobPlan,
  role: string,
  url: string,
): Promise<ResourceResult> {
  try {
    try {
      const out = await client.send(new GetJobCommand({ JobName: job.name }));
      return {
        kind: 'glue job',
        name: job.name,
        status: 'exists',
        detail: `script ${out.Job?.Command?.ScriptLocation ?? 'unknown'}`,
      };
    } catch (err) {
      if (errorNameOf(err) !== 'EntityNotFoundException') throw err;
    }
    try {
      await client.send(
        new CreateJobCommand({
          Name: job.name,
          Description:
            job.role === 'bronzeToSilver'
              ? 'ingest: bronze gzip NDJSON of one source merged by key into the silver Iceberg table'
              : 'ingest: silver to the gold facts',
          Role: role,
          Command: { Name: 'glueetl', ScriptLocation: job.scriptUri, PythonVersion: '3' },
          GlueVersion: GLUE_VERSION,
          WorkerType: 'G.1X',
          NumberOfWorkers: 2,
          ExecutionProperty: { MaxConcurrentRuns: job.maxConcurrentRuns },
          DefaultArguments: {
            ...job.icebergArguments,
            '--extra-py-files': job.extraPyFilesUri,
            '--job-language': 'python',
          },
        }),
      );
    } catch (err) {
      const name = errorNameOf(err);
      if (name === 'AlreadyExistsException' || name === 'IdempotentParameterMismatchException') {
        return { kind: 'glue job', name: job.name, status: 'exists' };
      }
      throw err;
    }
    return {
      kind: 'glue job',
      name: job.name,
      status: 'created',
      detail: `script ${job.scriptUri}, Glue ${GLUE_VERSION}, MaxConcurrentRuns ${job.maxConcurrentRuns}`,
    };
  } catch (err) {
    if (isUnsupported(err)) return skipped('glue job', job.name, err);
    throw BootstrapError.from(err, `glue job ${job.name}`, url);
  }
}

async function ensureCrawler(
  client: GlueClient,
  crawler: { name: string; database: string; targets: string[] },
  role: string,
  url: string,
): Promise<ResourceResult> {
  try {
    try {
      await client.send(new GetCrawlerCommand({ Name: crawler.name }));
      return { kind: 'glue crawler', name: crawler.name, status: 'exists' };
    } catch (err) {
      if (errorNameOf(err) !== 'EntityNotFoundException') throw err;
    }
    try {
      await client.send(
        new CreateCrawlerCommand({
          Name: crawler.name,
          Role: role,
          DatabaseName: crawler.database,
          Description: 'ingest: silver and gold partitions into the Data Catalog',
          Targets: { S3Targets: crawler.targets.map((Path) => ({ Path })) },
        }),
      );
    } catch (err) {
      if (errorNameOf(err) === 'AlreadyExistsException')
        return { kind: 'glue crawler', name: crawler.name, status: 'exists' };
      throw err;
    }
    return {
      kind: 'glue crawler',
      name: crawler.name,
      status: 'created',
      detail: `database ${crawler.database}, ${crawler.targets.join(' ')}`,
    };
  } catch (err) {
    if (isUnsupported(err)) return skipped('glue crawler', crawler.name, err);
    throw BootstrapError.from(err, `glue crawler ${crawler.name}`, url);
  }
}

async function ensureWorkgroup(
  client: AthenaClient,
  wg: { name: string; outputLocation?: string },
  url: string,
): Promise<ResourceResult> {
  try {
    let existing: WorkGroup | undefined;
    try {
      existing = (await client.send(new GetWorkGroupCommand({ WorkGroup: wg.name }))).WorkGroup;
    } catch (err) {
      // Athena answers InvalidRequestException "WorkGroup … is not found" for a missing workgroup.
      if (errorNameOf(err) !== 'InvalidRequestException') throw err;
    }
    if (existing) return { kind: 'athena workgroup', name: wg.name, status: 'exists' };
    try {
      await client.send(
        new CreateWorkGroupCommand({
          Name: wg.name,
          Description: 'ingest: analytics and data-quality queries',
          ...(wg.outputLocation
            ? { Configuration: { ResultConfiguration: { OutputLocation: wg.outputLocation } } }
            : {}),
        }),
      );
    } catch (err) {
      if (/already exists/i.test((err as Error).message ?? ''))
        return { kind: 'athena workgroup', name: wg.name, status: 'exists' };
      throw err;
    }
    return {
      kind: 'athena workgroup',
      name: wg.name,
      status: 'created',
      ...(wg.outputLocation ? { detail: `results in ${wg.outputLocation}` } : {}),
    };
  } catch (err) {
    if (isUnsupported(err)) return skipped('athena workgroup', wg.name, err);
    throw BootstrapError.from(err, `athena workgroup ${wg.name}`, url);
  }
}

/** Options of the `ingest bootstrap` command. */
export interface BootstrapCommandOptions {
  config: string;
  endpoint?: string;
  shards?: number;
}

/**
 * The `ingest bootstrap` command: loads the config, prints where each service goes (stderr) before
 * the first call, then one line per resource (stdout) as it is done.
 * @throws ConfigError (invalid config, refusal) or BootstrapError, for the CLI to report.
 */
export async function runBootstrapCommand(
  opts: BootstrapCommandOptions,
  io: { out: (line: string) => void; err: (line: string) => void } = {
    out: (l) => process.stdout.write(`${l}\n`),
    err: (l) => process.stderr.write(`${l}\n`),
  },
): Promise<BootstrapResult> {
  const config = await loadConfig(opts.config);
  return bootstrap(config, {
    ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
    ...(opts.shards !== undefined ? { shards: opts.shards } : {}),
    onEndpoints: (endpoints) => {
      for (const [service, e] of Object.entries(endpoints)) {
        io.err(`ingest bootstrap: ${service} at ${e.url} (${e.kind}, from ${e.from})`);
      }
    },
    onResource: (r) => io.out(formatResource(r)),
  });
}
