/**
 * What a config needs from its AWS endpoint, worked out from the config alone (no calls): the
 * Kinesis streams, S3 buckets, DynamoDB state table, Glue database, job scripts, jobs and crawlers,
 * and Athena workgroups. {@link planBootstrap} is pure so the rules are testable without an emulator.
 */
import type { Config } from '../config/schema.js';
import type { HourlySchedulerConfig } from '../consumers/hourly/index.js';
import { ConfigError } from '../errors.js';
import { sinkResources } from '../producers/registry.js';
import type { BootstrapService } from './endpoints.js';
import type { DeliveryStreamPlan } from './firehose.js';

/** Shards of a stream bootstrap creates, unless told otherwise (as `ingest local --shards`). */
export const DEFAULT_SHARDS = 2;

/** The Glue job scripts, in `src/glue/jobs/`, uploaded under `glue-scripts/` of the lake. */
export const JOB_SCRIPTS = {
  bronzeToSilver: 'bronze_to_silver.py',
  silverToGold: 'silver_to_gold.py',
} as const;

/** The module both job scripts import; given to Glue as `--extra-py-files`. */
export const SHARED_SCRIPT = 'lakelib.py';

/** Prefix, under an hourly consumer's `s3://` lake root, that receives the job scripts. */
export const SCRIPTS_PREFIX = 'glue-scripts/';

/** Prefix, under the lake root, of Athena results when the config names no `outputLocation`. */
export const ATHENA_RESULTS_PREFIX = 'athena-results/';

/** Glue version of the jobs: the line the PySpark scripts are pinned to (Spark 3.5, Python 3.11). */
export const GLUE_VERSION = '5.0';

/** A Kinesis stream to create. */
export interface StreamPlan {
  name: string;
  shards: number;
  /** The `endpoint` of a kinesis sink writing this stream, when its config sets one. */
  sinkEndpoint?: { url: string; sink: string };
}

/** One script upload: a file of `src/glue/jobs/` to an `s3://` key. */
export interface ScriptPlan {
  file: string;
  /** `s3://bucket/…/glue-scripts/<file>`. */
  uri: string;
}

/** A Glue job to create. */
export interface JobPlan {
  name: string;
  /** Which of the two scripts it runs. */
  role: keyof typeof JOB_SCRIPTS;
  /** `Command.ScriptLocation`. */
  scriptUri: string;
  /** `DefaultArguments['--extra-py-files']`: the shared module. */
  extraPyFilesUri: string;
  /** `ExecutionProperty.MaxConcurrentRuns`: the hourly consumer's `maxConcurrentRuns` for bronze_to_silver, 1 for silver_to_gold. */
  maxConcurrentRuns: number;
  /**
   * `DefaultArguments` for Iceberg (ADR 0015), as the CDK app sets them: `--datalake-formats iceberg`,
   * `--conf` with the Glue Data Catalog as Spark catalog `iceberg` (warehouse `<lake>/iceberg`) and
   * `--database` (`lake.database`).
   */
  icebergArguments: Record<string, string>;
}

/**
 * The Glue job arguments that make Spark's catalog `iceberg` the Glue Data Catalog with the
 * warehouse `warehouseUri` (Glue 5.0 ships the Iceberg runtime with `--datalake-formats iceberg`;
 * further settings follow ` --conf ` inside the one `--conf` value, as Glue passes it to spark-submit).
 * See https://docs.aws.amazon.com/glue/latest/dg/aws-glue-programming-etl-format-iceberg.html
 */
export function glueIcebergArguments(warehouseUri: string, database: string): Record<string, string> {
  const conf = [
    'spark.sql.extensions=org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions',
    'spark.sql.catalog.iceberg=org.apache.iceberg.spark.SparkCatalog',
    'spark.sql.catalog.iceberg.catalog-impl=org.apache.iceberg.aws.glue.GlueCatalog',
    'spark.sql.catalog.iceberg.io-impl=org.apache.iceberg.aws.s3.S3FileIO',
    `spark.sql.catalog.iceberg.warehouse=${warehouseUri}`,
  ];
  return { '--datalake-formats': 'iceberg', '--conf': conf.join(' --conf '), '--database': database };
}

/** A Glue crawler to create. */
export interface CrawlerPlan {
  name: string;
  database: string;
  /** S3 target paths: `<lake>/bronze/` (raw JSON; silver and gold are Iceberg tables the jobs keep in the catalog). */
  targets: string[];
}

/** An Athena workgroup to create. */
export interface WorkgroupPlan {
  name: string;
  /** `ResultConfiguration.OutputLocation`, when one can be given. */
  outputLocation?: string;
}

/** Everything bootstrap creates for one config, in creation order. */
export interface BootstrapPlan {
  streams: StreamPlan[];
  /** Firehose DirectPut delivery streams writing bronze into `lake.uri` (only when a firehose sink exists). */
  deliveryStreams?: DeliveryStreamPlan[];
  /** Bucket names, first seen first. */
  buckets: string[];
  /** The DynamoDB state table (`state.type: dynamodb`). */
  stateTable?: string;
  /**
   * The Glue side, when an hourly consumer uses the `aws` executor or the `athena` query engine:
   * the database always, scripts, jobs and crawlers for the `aws` executor.
   */
  glue?: {
    database: string;
    scripts: ScriptPlan[];
    jobs: JobPlan[];
    crawlers: CrawlerPlan[];
  };
  workgroups: WorkgroupPlan[];
}

/** Options of {@link planBootstrap}. */
export interface PlanOptions {
  /** Shards of each stream created. @default {@link DEFAULT_SHARDS} */
  shards?: number;
}

/** Splits `s3://bucket/prefix` into bucket and prefix (no slashes at either end); `undefined` for other schemes. */
export function parseS3Uri(uri: string): { bucket: string; prefix: string } | undefined {
  if (!uri.startsWith('s3://')) return undefined;
  const [bucket = '', ...rest] = uri.slice('s3://'.length).split('/');
  if (!bucket) throw new ConfigError(`S3 URI ${uri}: no bucket`);
  return { bucket, prefix: rest.filter(Boolean).join('/') };
}

/** `s3://bucket/prefix` + `name/` → `s3://bucket/prefix/name/`. */
export function s3Child(root: { bucket: string; prefix: string }, child: string): string {
  return `s3://${root.bucket}/${root.prefix ? `${root.prefix}/` : ''}${child}`;
}

/**
 * Works out what `config` needs from its endpoint.
 *
 * - Streams: every `kinesis-stream` a sink needs (`sinkResources`) and every bronze consumer's
 *   `streamName`, once each.
 * - Delivery streams: every `firehose-delivery-stream` a sink needs, writing bronze under
 *   `lake.uri` (whose bucket is then created too).
 * - Buckets: of every `s3://` URI in `consumers[].lakeUri`, `lake.uri`, `deadLetter.uri` and the
 *   Athena `outputLocation`s (and the lake bucket that receives the job scripts).
 * - State table: `state.tableName` when `state.type` is `dynamodb`.
 * - Glue, for hourly consumers with `executor.type: aws`: the scripts under
 *   `<lakeUri>/glue-scripts/`, the two jobs named in `jobs` and the `crawlerName` crawler over
 *   `<lakeUri>/bronze/` (silver and gold are Iceberg tables the jobs register themselves); the database `lake.database` also when only the Athena
 *   query engine is used.
 * - Athena: the `queryEngine.workgroup` of hourly consumers with `queryEngine.type: athena`, with
 *   `outputLocation` or `<lakeUri>/athena-results/` as its result location.
 *
 * @throws ConfigError when a firehose sink is configured and `lake.uri` is not `s3://`, when an
 *   hourly consumer with the `aws` executor has a lake that is not `s3://`
 *   (Glue jobs cannot read a local lake), or when `shards` is not a positive integer.
 */
export function planBootstrap(config: Config, options: PlanOptions = {}): BootstrapPlan {
  const shards = options.shards ?? DEFAULT_SHARDS;
  if (!Number.isInteger(shards) || shards < 1) {
    throw new ConfigError(`bootstrap: shards must be a positive integer, got ${shards}`);
  }
  const streams = new Map<string, StreamPlan>();
  const deliveryStreams = new Map<string, DeliveryStreamPlan>();
  for (const r of config.sinks.flatMap(sinkResources)) {
    if (r.kind === 'firehose-delivery-stream') {
      const lake = parseS3Uri(config.lake.uri);
      if (!lake) {
        throw new ConfigError(
          `bootstrap: sink "${r.sink}" delivers through Firehose, which writes bronze to S3, but lake.uri ${config.lake.uri} is not s3://`,
        );
      }
      if (!deliveryStreams.has(r.name))
        deliveryStreams.set(r.name, {
          name: r.name,
          ...lake,
          ...(r.endpoint ? { sinkEndpoint: { url: r.endpoint, sink: r.sink } } : {}),
        });
      continue;
    }
    // Kafka topics are created on the sink's own brokers, not planned with the AWS resources.
    if (r.kind !== 'kinesis-stream') continue;
    const prev = streams.get(r.name);
    if (prev && (prev.sinkEndpoint || !r.endpoint)) continue;
    streams.set(r.name, {
      name: r.name,
      shards,
      ...(r.endpoint ? { sinkEndpoint: { url: r.endpoint, sink: r.sink } } : {}),
    });
  }
  for (const c of config.consumers) {
    if (c.type === 'bronze' && !streams.has(c.streamName))
      streams.set(c.streamName, { name: c.streamName, shards });
  }

  const buckets = new Set<string>();
  const addBucket = (uri: string | undefined) => {
    const s3 = uri === undefined ? undefined : parseS3Uri(uri);
    if (s3) buckets.add(s3.bucket);
  };
  for (const c of config.consumers) addBucket(c.lakeUri);
  addBucket(config.lake.uri);
  addBucket(config.deadLetter.uri);

  const hourly = config.consumers.filter((c): c is HourlySchedulerConfig => c.type === 'hourly');
  const scripts = new Map<string, ScriptPlan>();
  const jobs = new Map<string, JobPlan>();
  const crawlers = new Map<string, CrawlerPlan>();
  const workgroups = new Map<string, WorkgroupPlan>();
  let needsGlue = false;
  for (const h of hourly) {
    const lake = parseS3Uri(h.lakeUri) ?? parseS3Uri(config.lake.uri);
    if (h.executor.type === 'aws') {
      needsGlue = true;
      const own = parseS3Uri(h.lakeUri);
      if (!own) {
        throw new ConfigError(
          `bootstrap: hourly consumer "${h.name}" runs its jobs in Glue (executor: aws) but its lakeUri ${h.lakeUri} is not s3://; Glue jobs cannot read a local lake`,
        );
      }
      const scriptUri = (file: string) => s3Child(own, `${SCRIPTS_PREFIX}${file}`);
      for (const file of [JOB_SCRIPTS.bronzeToSilver, JOB_SCRIPTS.silverToGold, SHARED_SCRIPT]) {
        const uri = scriptUri(file);
        if (!scripts.has(uri)) scripts.set(uri, { file, uri });
      }
      for (const role of ['bronzeToSilver', 'silverToGold'] as const) {
        const name = h.jobs[role];
        if (jobs.has(name)) continue;
        jobs.set(name, {
          name,
          role,
          scriptUri: scriptUri(JOB_SCRIPTS[role]),
          extraPyFilesUri: scriptUri(SHARED_SCRIPT),
          maxConcurrentRuns: role === 'bronzeToSilver' ? h.maxConcurrentRuns : 1,
          icebergArguments: glueIcebergArguments(s3Child(own, 'iceberg'), config.lake.database),
        });
      }
      if (h.crawlerName !== undefined && !crawlers.has(h.crawlerName)) {
        crawlers.set(h.crawlerName, {
          name: h.crawlerName,
          database: config.lake.database,
          targets: [s3Child(own, 'bronze/')],
        });
      }
    }
    if (h.queryEngine.type === 'athena') {
      needsGlue = true;
      const outputLocation =
        h.queryEngine.outputLocation ?? (lake ? s3Child(lake, ATHENA_RESULTS_PREFIX) : undefined);
      addBucket(outputLocation);
      if (!workgroups.has(h.queryEngine.workgroup)) {
        workgroups.set(h.queryEngine.workgroup, {
          name: h.queryEngine.workgroup,
          ...(outputLocation ? { outputLocation } : {}),
        });
      }
    }
  }

  return {
    streams: [...streams.values()],
    ...(deliveryStreams.size > 0 ? { deliveryStreams: [...deliveryStreams.values()] } : {}),
    buckets: [...buckets],
    ...(config.state.type === 'dynamodb' ? { stateTable: config.state.tableName } : {}),
    ...(needsGlue
      ? {
          glue: {
            database: config.lake.database,
            scripts: [...scripts.values()],
            jobs: [...jobs.values()],
            crawlers: [...crawlers.values()],
          },
        }
      : {}),
    workgroups: [...workgroups.values()],
  };
}

/**
 * The services a plan calls, in a fixed order. Kinesis is left out when every stream names its
 * endpoint in its sink and no `--endpoint` is given (`endpointFlag`).
 */
export function servicesOf(plan: BootstrapPlan, endpointFlag?: string): BootstrapService[] {
  const out: BootstrapService[] = [];
  if (plan.streams.some((s) => endpointFlag !== undefined || s.sinkEndpoint === undefined))
    out.push('kinesis');
  if (plan.deliveryStreams?.some((s) => endpointFlag !== undefined || s.sinkEndpoint === undefined))
    out.push('firehose');
  if (plan.buckets.length > 0 || (plan.glue?.scripts.length ?? 0) > 0) out.push('s3');
  if (plan.stateTable !== undefined) out.push('dynamodb');
  if (plan.glue) out.push('glue');
  if (plan.workgroups.length > 0) out.push('athena');
  return out;
}
