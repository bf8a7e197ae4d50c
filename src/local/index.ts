/**
 * `ingest local`: the embedded, Docker-free default. Starts the Kinesis emulator (kinesis-local) when a
 * Kinesis stream is used, moto's Firehose mirrored into the file lake (`firehose-local.ts`) when a
 * firehose sink is configured, a local Kafka broker with the sinks' topics (`kafka-stack.ts`) when a
 * kafka sink is, the fixture API server (only when a source uses it) and both roles in one process, runs until every
 * source has completed a full poll and every record the sinks accepted has landed in bronze (or
 * until `durationSecs`), stops everything cleanly and returns a per-source summary.
 */

import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Config } from '../config/schema.js';
import type { CycleResult, HourlyScheduler } from '../consumers/hourly/index.js';
import type { QualityCheckResult } from '../glue/queries/index.js';
import type { QueryResult } from '../glue/types.js';
import { openLake } from '../lake/index.js';
import type { Logger } from '../log.js';
import { sinkResources } from '../producers/registry.js';
import { type FirehoseLocal, startFirehoseLocal } from './firehose-local.js';
import type { KafkaLocal } from './kafka-local.js';
import { startLocalKafka } from './kafka-stack.js';
import { type KinesisLocal, startKinesisLocal } from './kinesis-local.js';
import { loadWithFixtures, startRoles } from './startup.js';

export interface LocalOptions {
  /** Config file. @default the packaged `config/local.yaml` */
  configFile: string;
  /** Stop after this many seconds even if not everything landed. @default unlimited */
  durationSecs?: number;
  /** Remove the local state, the emulator's data and the file lake's bronze/dead-letter first. */
  fresh?: boolean;
  /** Fixture server port. @default 8787 (0 picks a free one) */
  fixturePort?: number;
  /** Shards of each stream the emulator creates. @default 2 */
  shards?: number;
  logger: Logger;
  /** Aborting stops the run early (SIGINT/SIGTERM), still cleanly. */
  signal?: AbortSignal;
}

export interface SourceSummary {
  source: string;
  polls: number;
  failedPolls: number;
  polled: number;
  unchanged: number;
  put: number;
  deadLettered: number;
  /** Distinct record ids of this source found in bronze after the run. */
  inBronze: number;
  /** Records (lines) of this source in bronze after the run; more than {@link inBronze} means duplicates. */
  bronzeRecords: number;
}

export interface LakeSummary {
  /** What the hourly scheduler's final cycle did. */
  cycle: CycleResult;
  /** Seconds the final cycle took (Spark jobs, crawler, quality query). */
  lakeSecs: number;
  /** Rows per silver table. */
  silverRows: Record<string, number>;
  /** The gold analytics (src/glue/queries), computed by DuckDB over the lake. */
  analytics: { name: string; result: QueryResult }[];
  /** The data-quality checks. */
  quality: QualityCheckResult[];
  /**
   * Every hour with bronze data that is not done after the run, with the reason (leased by someone
   * else, failed, deferred, retrying, released): any makes the run incomplete.
   */
  notDone: { hour: string; reason: string }[];
}

export interface LocalSummary {
  sources: SourceSummary[];
  /** Records the bronze writer landed during this run. */
  landedThisRun: number;
  /** Records the bronze writer dead-lettered during this run. */
  consumerDeadLettered: number;
  /** Whether everything accepted landed before the run stopped. */
  landedAll: boolean;
  /** Everything landed and every hour of the lake was completed (or taken over and completed). */
  complete: boolean;
  elapsedSecs: number;
  lakeUri: string;
  /** Silver/gold outcome, when an hourly scheduler is configured and ran. */
  lake?: LakeSummary;
  /**
   * Set when a signal (SIGTERM/SIGINT) stopped the run: what it left undone. The run is then
   * incomplete whenever any of it is non-empty or the lake was configured but did not run.
   */
  interrupted?: {
    /** Sources that had not completed a poll. */
    sourcesWithoutPoll: string[];
    /** Records the sinks accepted that the bronze writer had not landed (they are read next run). */
    notLanded: number;
    /** Whether the hourly lake ran (it is skipped after a signal). */
    lakeRan: boolean;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Records and distinct ids of one source in bronze. */
export interface BronzeCount {
  records: number;
  ids: Set<string>;
}

/** Counts records and distinct ids per source in the bronze zone of a lake. */
export async function countBronze(lakeUri: string): Promise<Map<string, BronzeCount>> {
  const lake = openLake(lakeUri);
  const counts = new Map<string, BronzeCount>();
  for (const key of await lake.list('bronze/')) {
    if (!key.endsWith('.json.gz')) continue;
    const body = await lake.get(key);
    if (!body) continue;
    for (const line of gunzipSync(body).toString('utf8').split('\n')) {
      if (!line) continue;
      const env = JSON.parse(line) as { source: string; id: string };
      const c = counts.get(env.source) ?? { records: 0, ids: new Set<string>() };
      counts.set(env.source, c);
      c.records++;
      c.ids.add(env.id);
    }
  }
  return counts;
}

/** Removes the local state, the emulator's data and the file lake's zones (`--fresh`). */
export async function removeLocalData(config: Config, kinesisDir: string): Promise<void> {
  if (config.state.type === 'file') await rm(resolve(config.state.path), { recursive: true, force: true });
  await rm(kinesisDir, { recursive: true, force: true });
  for (const uri of new Set([...config.consumers.map((c) => c.lakeUri), config.deadLetter.uri])) {
    if (!uri.startsWith('file://')) continue;
    const root = resolve(uri.slice('file://'.length));
    for (const zone of [
      'bronze',
      'bronze-errors',
      'silver',
      'gold',
      'iceberg',
      'dead-letter',
      '_glue_runs',
    ]) {
      await rm(resolve(root, zone), { recursive: true, force: true });
    }
  }
}

/** Runs the local stack; see the module comment. */
export async function runLocal(options: LocalOptions): Promise<LocalSummary> {
  const { logger } = options;
  const started = Date.now();
  const { config, fixtures } = await loadWithFixtures(options.configFile, options.fixturePort ?? 8787);
  const stateDir = config.state.type === 'file' ? config.state.path : './data/state';
  const kinesisDir = resolve(stateDir, '..', 'kinesis');
  const kafkaDir = resolve(stateDir, '..', 'kafka');
  if (options.fresh) {
    await removeLocalData(config, kinesisDir);
    await rm(kafkaDir, { recursive: true, force: true });
  }

  const resources = config.sinks.flatMap(sinkResources);
  const streams = [
    ...new Set([
      ...resources.flatMap((r) => (r.kind === 'kinesis-stream' ? [r.name] : [])),
      ...config.consumers.flatMap((c) => (c.type === 'bronze' ? [c.streamName] : [])),
    ]),
  ];
  const deliveryStreams = [
    ...new Set(resources.flatMap((r) => (r.kind === 'firehose-delivery-stream' ? [r.name] : []))),
  ];
  // Silver hashes PII with a keyed SHA-256; a local run without a key gets a fixed development key.
  if (config.consumers.some((c) => c.type === 'hourly') && !process.env[config.lake.piiKeyEnv]) {
    process.env[config.lake.piiKeyEnv] = 'ingest-local-development-key';
    logger.warn(
      { event: 'pii_key_default', env: config.lake.piiKeyEnv },
      `${config.lake.piiKeyEnv} unset: using the local development key`,
    );
  }
  process.env.AWS_REGION ??= 'us-east-1';
  process.env.AWS_ACCESS_KEY_ID ??= 'test';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
  // Each emulator only when something uses it.
  let kinesis: KinesisLocal | undefined;
  let firehose: FirehoseLocal | undefined;
  let kafka: KafkaLocal | undefined;
  const stopEmulators = async () => {
    await kinesis?.stop();
    await firehose?.stop();
    await kafka?.stop();
  };
  try {
    if (streams.length > 0) {
      kinesis = await startKinesisLocal({
        streams: streams.map((name) => ({ name, shards: options.shards ?? 2 })),
        persistDir: kinesisDir,
      });
      process.env.AWS_ENDPOINT_URL_KINESIS = kinesis.endpoint;
    }
    if (deliveryStreams.length > 0) {
      firehose = await startFirehoseLocal({ deliveryStreams, lakeUri: config.lake.uri, logger });
      process.env.AWS_ENDPOINT_URL_FIREHOSE = firehose.endpoint;
    }
    kafka = await startLocalKafka(resources, kafkaDir, logger);
  } catch (err) {
    await stopEmulators();
    throw err;
  }
  logger.info(
    {
      event: 'local_stack_started',
      kinesis: kinesis?.endpoint ?? 'not started',
      firehose: firehose?.endpoint ?? 'not started',
      kafka: kafka?.bootstrap ?? 'not started',
      deliveryStreams,
      fixtures: fixtures?.origin ?? 'not started',
      streams,
    },
    'local stack started',
  );

  const { consume, run } = await startRoles(config, logger, async () => {
    await stopEmulators();
    await fixtures?.close();
  });
  let lake: LakeSummary | undefined;
  const deadline =
    options.durationSecs === undefined ? Number.POSITIVE_INFINITY : started + options.durationSecs * 1000;
  const delivered = () => run.sources.reduce((n, s) => n + s.stats().emitted, 0);
  const polledOnce = () => run.sources.every((s) => s.stats().completedPolls + s.stats().failedPolls >= 1);
  // Records the Firehose mirror copied count as read and landed (it is the bronze writer of that path).
  const mirrored = () => {
    const m = firehose?.stats();
    return m ? m.records + m.failedRecords : 0;
  };
  const read = () => consume.consumers.reduce((n, c) => n + c.stats().recordsRead, 0) + mirrored();
  try {
    while (Date.now() < deadline && !options.signal?.aborted) {
      // Without --duration: stop once every source polled once and the bronze writer has read every
      // record the sources delivered; stopping flushes its buffers to bronze.
      if (options.durationSecs === undefined && polledOnce() && read() >= delivered()) break;
      await sleep(200);
    }
  } finally {
    // Bounded: records a stalled sink never acknowledged are abandoned (polled again next run).
    await run.stop(Date.now() + config.shutdownTimeoutSecs * 1000);
    // Let the bronze writer read what the sources put last before it flushes and stops.
    const settleUntil = Date.now() + 10_000;
    while (read() < delivered() && Date.now() < settleUntil) await sleep(200);
    // Flush bronze first, then let every hourly scheduler carry what landed to silver and gold,
    // open hours included: the run is over, so its hours are as complete as they will get.
    const byType = (...types: string[]) =>
      consume.consumers.filter((_, i) => types.includes(config.consumers[i]?.type ?? ''));
    await Promise.all(byType('bronze', 'bronze_kafka').map((c) => c.stop()));
    // The mirror sweeps once more and stops moto: bronze is complete before the lake runs.
    await firehose?.stop();
    if (!options.signal?.aborted) {
      for (const c of byType('hourly') as HourlyScheduler[]) {
        const t0 = Date.now();
        const cycle = await c.runOnce({ includeOpenHours: true });
        lake = {
          ...(lake ?? { analytics: [], quality: [], silverRows: {} }),
          cycle,
          notDone: [...(lake?.notDone ?? []), ...notDoneHours(cycle)],
          lakeSecs: (Date.now() - t0) / 1000,
        };
      }
    }
    await consume.stop();
    await stopEmulators();
    await fixtures?.close();
  }
  // Everything accepted landed when the bronze writer landed or dead-lettered as many records as the
  // sources delivered (one process, one run: each record is counted once).
  const landed =
    consume.consumers.reduce((n, c) => n + c.stats().recordsLanded + c.stats().recordsDeadLettered, 0) +
    mirrored();
  const landedAll = polledOnce() && landed >= delivered();
  const lakeConfigured = config.consumers.some((c) => c.type === 'hourly');
  const complete = landedAll && (lake?.notDone.length ?? 0) === 0 && (!lakeConfigured || lake !== undefined);
  const interrupted = options.signal?.aborted
    ? {
        sourcesWithoutPoll: run.sources
          .filter((s) => s.stats().completedPolls + s.stats().failedPolls === 0)
          .map((s) => s.name),
        notLanded: Math.max(0, delivered() - landed),
        lakeRan: lake !== undefined,
      }
    : undefined;
  const lakeUri = config.consumers[0]?.lakeUri ?? config.deadLetter.uri;
  if (lake) {
    logger.info({ event: 'lake_report' }, 'running the gold analytics and the data-quality queries');
    lake = { ...lake, ...(await lakeReport(lakeUri, config)) };
  }
  const inBronze = await countBronze(lakeUri);
  const cstats = consume.consumers.map((c) => c.stats());
  return {
    sources: run.sources.map((s) => {
      const st = s.stats();
      return {
        source: s.name,
        polls: st.completedPolls,
        failedPolls: st.failedPolls,
        polled: st.polled,
        unchanged: st.unchanged,
        put: st.emitted,
        deadLettered: st.deadLettered,
        inBronze: inBronze.get(s.name)?.ids.size ?? 0,
        bronzeRecords: inBronze.get(s.name)?.records ?? 0,
      };
    }),
    landedThisRun: cstats.reduce((n, c) => n + c.recordsLanded, 0) + (firehose?.stats().records ?? 0),
    consumerDeadLettered:
      cstats.reduce((n, c) => n + c.recordsDeadLettered, 0) + (firehose?.stats().failedRecords ?? 0),
    landedAll,
    complete,
    elapsedSecs: (Date.now() - started) / 1000,
    lakeUri,
    ...(lake ? { lake } : {}),
    ...(interrupted ? { interrupted } : {}),
  };
}

/** Silver row counts, the gold analytics and the data-quality checks, through DuckDB over the lake. */
async function lakeReport(
  lakeUri: string,
  config: Config,
): Promise<Pick<LakeSummary, 'analytics' | 'quality' | 'silverRows'>> {
  const { DuckDbQueryEngine } = await import('../glue/duckdb/engine.js');
  const { ANALYTICS, runQualityChecks } = await import('../glue/queries/index.js');
  const engine = await DuckDbQueryEngine.open({ lakeUri: config.lake.uri || lakeUri });
  try {
    const silverRows: Record<string, number> = {};
    for (const view of engine.views.filter((v) => v.startsWith('silver_'))) {
      const r = await engine.query(`SELECT count(*) AS n FROM ${view}`);
      silverRows[view] = Number(r.rows[0]?.[0] ?? 0);
    }
    if (!engine.views.includes('fact_order_lines')) return { analytics: [], quality: [], silverRows };
    const analytics: LakeSummary['analytics'] = [];
    for (const q of ANALYTICS) analytics.push({ name: q.name, result: await engine.query(q.sql) });
    const quality = await runQualityChecks(engine);
    return { analytics, quality, silverRows };
  } finally {
    await engine.close();
  }
}

/** Renders the summary as a plain-text table. */
export function formatSummary(s: LocalSummary): string {
  const head = [
    'source',
    'polls',
    'failed polls',
    'polled',
    'unchanged',
    'put',
    'dead-lettered',
    'bronze records',
    'distinct ids',
    'duplicates',
  ];
  const dup = (records: number, ids: number) => (records > ids ? `${records - ids} DUP` : '0');
  const rows = s.sources.map((r) => [
    ...[r.source, r.polls, r.failedPolls, r.polled, r.unchanged, r.put, r.deadLettered].map(String),
    String(r.bronzeRecords),
    String(r.inBronze),
    dup(r.bronzeRecords, r.inBronze),
  ]);
  const total = (k: keyof SourceSummary) => String(s.sources.reduce((n, r) => n + (r[k] as number), 0));
  rows.push([
    'TOTAL',
    total('polls'),
    total('failedPolls'),
    total('polled'),
    total('unchanged'),
    total('put'),
    total('deadLettered'),
    total('bronzeRecords'),
    total('inBronze'),
    dup(Number(total('bronzeRecords')), Number(total('inBronze'))),
  ]);
  const duplicated = s.sources.filter((r) => r.bronzeRecords > r.inBronze);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.slice(0, -1).map(line),
    line(widths.map((w) => '-'.repeat(w))),
    line(rows.at(-1)!),
    '',
    ...(duplicated.length > 0
      ? [
          `DUPLICATES in bronze (records > distinct ids): ${duplicated.map((r) => `${r.source} ${r.bronzeRecords} records for ${r.inBronze} ids`).join('; ')}. At-least-once redelivery is deduplicated by id in silver; see docs/adr/0003-record-id-scheme.md.`,
        ]
      : []),
    `landed in bronze this run: ${s.landedThisRun} records (${s.consumerDeadLettered} dead-lettered by the bronze writer)`,
    ...(s.interrupted ? formatInterrupted(s.interrupted) : []),
    `lake: ${s.lakeUri}   elapsed: ${s.elapsedSecs.toFixed(1)} s   ${completeness(s)}`,
    ...(s.lake ? ['', ...formatLake(s.lake)] : []),
  ].join('\n');
}

/** Renders a query result as an aligned text table. */
export function formatTable(columns: string[], rows: (string | null)[][]): string[] {
  const cells = rows.map((r) => r.map((c) => c ?? 'NULL'));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const numeric = columns.map(
    (_, i) => cells.length > 0 && cells.every((r) => /^-?[\d.]+$/.test(r[i]!) || r[i] === 'NULL'),
  );
  const line = (r: string[]) =>
    r
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)];
}

/** What a signal left undone, one line each. */
function formatInterrupted(i: NonNullable<LocalSummary['interrupted']>): string[] {
  return [
    'STOPPED by a signal before the run finished:',
    `  polls: ${i.sourcesWithoutPoll.length === 0 ? 'every source completed a poll' : `not completed for ${i.sourcesWithoutPoll.join(', ')} (polled again next run)`}`,
    `  landing: ${i.notLanded === 0 ? 'everything accepted landed in bronze' : `${i.notLanded} accepted record(s) not landed yet (still in the stream; landed next run)`}`,
    `  lake: ${i.lakeRan ? 'ran' : 'not run (run ingest local again, or let the consume role do it)'}`,
  ];
}

function completeness(s: LocalSummary): string {
  if (s.complete) return 'complete: every accepted record landed and every hour is done';
  if (s.interrupted) return 'INCOMPLETE: stopped by a signal (see above)';
  if (!s.landedAll) return 'INCOMPLETE: stopped before everything landed';
  if (!s.lake) return 'INCOMPLETE: the hourly lake did not run';
  return `INCOMPLETE: ${s.lake?.notDone.length} hour(s) of the lake not done (see above)`;
}

/** The hours of a cycle that did not become done, with why. */
function notDoneHours(c: CycleResult): LakeSummary['notDone'] {
  const out: LakeSummary['notDone'] = c.skipped.map((h) => ({
    hour: h.hour,
    reason: `${h.reason}: ${h.detail}`,
  }));
  const kinds = [
    ['failed', c.failed],
    ['retrying', c.retrying],
    ['deferred', c.deferred],
    ['abandoned', c.abandoned],
  ] as const;
  for (const [kind, hours] of kinds) {
    for (const hour of hours) out.push({ hour, reason: `${kind}: ${c.errors[hour] ?? 'unknown'}` });
  }
  return out.sort((a, b) => a.hour.localeCompare(b.hour));
}

function formatLake(l: LakeSummary): string[] {
  const c = l.cycle;
  const out = [
    `hourly lake: ${c.done.length} hour(s) done (${c.done.join(', ') || 'none'}), ${c.failed.length} failed, ${c.retrying.length} retrying, ${c.deferred.length} deferred, ${c.skipped.length} skipped, in ${l.lakeSecs.toFixed(1)} s`,
    ...(c.takenOver.length > 0
      ? [`took over ${c.takenOver.length} hour(s) from a dead or expired owner: ${c.takenOver.join(', ')}`]
      : []),
    ...l.notDone.map((h) => `hour ${h.hour} NOT DONE: ${h.reason}`),
    `silver rows: ${
      Object.entries(l.silverRows)
        .map(([t, n]) => `${t}=${n}`)
        .join(', ') || 'none'
    }`,
  ];
  for (const a of l.analytics)
    out.push('', `gold: ${a.name}`, ...formatTable(a.result.columns, a.result.rows));
  if (l.quality.length > 0) {
    out.push('', 'data quality:');
    for (const q of l.quality) {
      out.push(
        `  ${q.passed ? 'PASS' : 'FAIL'}  ${q.name} = ${q.value ?? 'error'} (expect ${q.expectation.op} ${q.expectation.value})${q.error ? `: ${q.error}` : ''}`,
      );
    }
  }
  return out;
}
