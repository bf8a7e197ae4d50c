/**
 * Context parameters of the CDK app (`cdk synth -c key=value`, or `context` in `cdk.json`), parsed
 * and validated once. Values given on the command line arrive as strings; `cdk.json` may hold
 * numbers and booleans: both are accepted.
 */

/** Which sink the `run` service writes: a Kinesis stream, or a Firehose DirectPut delivery stream. */
export type SinkName = 'kinesis' | 'firehose';

/** Kinesis capacity mode. */
export type StreamModeName = 'on-demand' | 'provisioned';

export interface IngestLakeContext {
  /** Environment name, part of every physical name (`ingest-<env>-...`). Lower-case letters, digits, `-`. */
  readonly envName: string;
  /**
   * The sink of the `run` service: `kinesis` (a stream; Firehose or the bronze writer lands it) or
   * `firehose` (DirectPut: no stream, the run service calls PutRecordBatch and Firehose lands bronze).
   */
  readonly sink: SinkName;
  /** Kinesis capacity mode. */
  readonly streamMode: StreamModeName;
  /** Shards of a provisioned stream (ignored on-demand). 1 MiB/s and 1000 records/s of writes each. */
  readonly shardCount: number;
  /** Firehose buffering interval, seconds (0-900). */
  readonly firehoseBufferSecs: number;
  /** Firehose buffering size, MiB (64-128: dynamic partitioning needs at least 64). */
  readonly firehoseBufferMiB: number;
  /** Firehose lands bronze (true), or the `consume` service's bronze writer does (false). */
  readonly useFirehose: boolean;
  /**
   * Source and shard leases (`coordination.enabled` in the tasks' config, ADR 0013): `run` tasks
   * share the sources, each polled by one task at a time.
   */
  readonly coordination: boolean;
  /**
   * Most `run` tasks CPU autoscaling may start: 1-50 with {@link coordination}, else 1-4 (without
   * leases every task polls every source, so above 1 the APIs are polled N times; ids deduplicate it).
   */
  readonly runMaxTasks: number;
  /** NAT gateways of the VPC (1 is cheaper, 2 survives the loss of an AZ). */
  readonly natGateways: number;
  /** Glue Data Catalog database the crawlers fill and Athena queries. */
  readonly databaseName: string;
  /** A pushed image (`<registry>/<repo>:<tag>`) instead of building the repo's Dockerfile at deploy. */
  readonly imageUri?: string;
  /** An e-mail address subscribed to the alarm topic. */
  readonly alarmEmail?: string;
  /**
   * A Valkey replication group (TLS, AUTH) for rate budgets shared across `run` tasks
   * (`rateLimit.shared`); the run tasks get its `rediss://` URL as the ECS secret `INGEST_REDIS_URL`.
   */
  readonly budgetsCache?: boolean;
  /**
   * Secrets Manager secrets the sources reference (`{ secretId, jsonKey }`) that the run task role
   * may read (`secretsmanager:GetSecretValue`): full ARNs, names, or name prefixes ending in `*`.
   */
  readonly sourceSecrets?: readonly string[];
}

export const DEFAULT_CONTEXT: IngestLakeContext = {
  envName: 'dev',
  sink: 'kinesis',
  streamMode: 'on-demand',
  shardCount: 2,
  firehoseBufferSecs: 300,
  firehoseBufferMiB: 64,
  useFirehose: true,
  coordination: false,
  runMaxTasks: 1,
  natGateways: 1,
  databaseName: 'lake',
};

/** The context keys this app reads. */
export const CONTEXT_KEYS = [
  'env',
  'sink',
  'streamMode',
  'shardCount',
  'firehoseBufferSecs',
  'firehoseBufferMiB',
  'useFirehose',
  'coordination',
  'runMaxTasks',
  'natGateways',
  'databaseName',
  'imageUri',
  'alarmEmail',
  'budgetsCache',
  'sourceSecrets',
] as const;

export class ContextError extends Error {
  override readonly name = 'ContextError';
}

function intIn(key: string, raw: unknown, fallback: number, min: number, max: number): number {
  if (raw === undefined || raw === '') return fallback;
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' ? Number(raw.trim()) : Number.NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ContextError(`context ${key}: expected an integer ${min}-${max}, found ${JSON.stringify(raw)}`);
  }
  return n;
}

function bool(key: string, raw: unknown, fallback: boolean): boolean {
  if (raw === undefined || raw === '') return fallback;
  if (typeof raw === 'boolean') return raw;
  if (typeof raw === 'string' && /^(true|false)$/i.test(raw.trim()))
    return raw.trim().toLowerCase() === 'true';
  throw new ContextError(`context ${key}: expected true or false, found ${JSON.stringify(raw)}`);
}

/** A secret ARN (`arn:<partition>:secretsmanager:...:secret:...`), a name, or a name prefix `name*`. */
const SECRET_ENTRY =
  /^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+|[A-Za-z0-9/_+=.@-]+\*?)$/;

/**
 * A comma-separated list (`-c sourceSecrets=a,b`) or a JSON array (cdk.json) of secret ARNs, names or
 * prefixes, none of which may cover `forbidden` (the stack's PII key: only the Glue job reads it).
 */
function secretList(key: string, raw: unknown, forbidden: string): string[] | undefined {
  if (raw === undefined || raw === '') return undefined;
  const items =
    typeof raw === 'string' ? raw.split(',').map((x) => x.trim()) : Array.isArray(raw) ? raw : undefined;
  const bad = items?.find((x) => typeof x !== 'string' || !SECRET_ENTRY.test(x));
  if (items === undefined || items.length === 0 || bad !== undefined) {
    throw new ContextError(
      `context ${key}: expected secret ARNs, names or name prefixes ending in *, separated by commas, found ${JSON.stringify(bad ?? raw)}`,
    );
  }
  const covers = (e: string) =>
    e.startsWith('arn:')
      ? e.includes(`:secret:${forbidden}`)
      : e.endsWith('*')
        ? forbidden.startsWith(e.slice(0, -1))
        : e === forbidden;
  const leak = (items as string[]).find(covers);
  if (leak !== undefined) {
    throw new ContextError(
      `context ${key}: ${leak} covers the stack's PII key ${forbidden}, which only the Glue job may read; name the sources' secrets or a narrower prefix`,
    );
  }
  return [...new Set(items as string[])];
}

function str(key: string, raw: unknown, pattern: RegExp, what: string): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (typeof raw !== 'string' || !pattern.test(raw)) {
    throw new ContextError(`context ${key}: expected ${what}, found ${JSON.stringify(raw)}`);
  }
  return raw;
}

/**
 * Reads and validates the context.
 * @param get - reads one context key (e.g. `(k) => app.node.tryGetContext(k)`).
 * @throws ContextError naming the key, what was expected and what was found.
 */
export function parseContext(get: (key: string) => unknown): IngestLakeContext {
  const d = DEFAULT_CONTEXT;
  const streamModeRaw = get('streamMode');
  let streamMode: StreamModeName = d.streamMode;
  if (streamModeRaw !== undefined && streamModeRaw !== '') {
    if (streamModeRaw !== 'on-demand' && streamModeRaw !== 'provisioned') {
      throw new ContextError(
        `context streamMode: expected on-demand or provisioned, found ${JSON.stringify(streamModeRaw)}`,
      );
    }
    streamMode = streamModeRaw;
  }
  const sinkRaw = get('sink');
  let sink: SinkName = d.sink;
  if (sinkRaw !== undefined && sinkRaw !== '') {
    if (sinkRaw !== 'kinesis' && sinkRaw !== 'firehose') {
      throw new ContextError(`context sink: expected kinesis or firehose, found ${JSON.stringify(sinkRaw)}`);
    }
    sink = sinkRaw;
  }
  const useFirehose = bool('useFirehose', get('useFirehose'), d.useFirehose);
  if (sink === 'firehose' && !useFirehose) {
    throw new ContextError(
      'context sink=firehose: Firehose lands bronze (DirectPut), so useFirehose=false (the bronze writer) does not apply',
    );
  }
  const imageUri = str('imageUri', get('imageUri'), /^\S+[:@]\S+$/, 'an image URI with a tag or digest');
  const alarmEmail = str('alarmEmail', get('alarmEmail'), /^[^@\s]+@[^@\s]+$/, 'an e-mail address');
  const envName =
    str('env', get('env'), /^[a-z][a-z0-9-]{0,19}$/, '1-20 lower-case letters, digits or -') ?? d.envName;
  const sourceSecrets = secretList('sourceSecrets', get('sourceSecrets'), `ingest-${envName}/INGEST_PII_KEY`);
  const coordination = bool('coordination', get('coordination'), d.coordination);
  // Without leases every run task polls every source: keep the old cap of 4.
  const runMaxTasks = intIn('runMaxTasks', get('runMaxTasks'), d.runMaxTasks, 1, coordination ? 50 : 4);
  return {
    envName,
    sink,
    streamMode,
    shardCount: intIn('shardCount', get('shardCount'), d.shardCount, 1, 500),
    firehoseBufferSecs: intIn('firehoseBufferSecs', get('firehoseBufferSecs'), d.firehoseBufferSecs, 0, 900),
    firehoseBufferMiB: intIn('firehoseBufferMiB', get('firehoseBufferMiB'), d.firehoseBufferMiB, 64, 128),
    useFirehose,
    coordination,
    runMaxTasks,
    natGateways: intIn('natGateways', get('natGateways'), d.natGateways, 1, 2),
    databaseName:
      str('databaseName', get('databaseName'), /^[a-z][a-z0-9_]{0,63}$/, 'a lower-case Glue database name') ??
      d.databaseName,
    ...(imageUri === undefined ? {} : { imageUri }),
    ...(alarmEmail === undefined ? {} : { alarmEmail }),
    // Only when on, so the default context (and its snapshot) stays as it was.
    ...(bool('budgetsCache', get('budgetsCache'), false) ? { budgetsCache: true } : {}),
    ...(sourceSecrets === undefined ? {} : { sourceSecrets }),
  };
}

/** `-c key=value` / `--context key=value` arguments, as the CDK CLI takes them. */
export function contextArgs(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg !== '-c' && arg !== '--context') continue;
    const pair = argv[++i] ?? '';
    const eq = pair.indexOf('=');
    if (eq < 1) throw new ContextError(`${arg} ${pair}: expected key=value`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}
