/**
 * The hourly scheduler: for every closed hour in bronze, runs the Glue pipeline that turns it into
 * silver, gold, catalog partitions and a quality figure.
 *
 * **Discovery.** Each cycle (every `checkIntervalSecs`) lists `bronze/` in the lake and groups the
 * objects `bronze/source=<s>/dt=YYYY-MM-DD/hour=HH/<object>` by hour and source. Sources without an
 * entity mapping in `lake.entities` are skipped (logged once); an hour is fingerprinted by the
 * SHA-256 of its mapped object keys. An hour is a candidate when it is closed (now ≥ hour end +
 * `graceSecs`, or always with `runOnce({ includeOpenHours: true })`) and its record is absent,
 * `pending` (past `nextAttemptAt`), `running` with an expired lease, or `done`/`failed` for another
 * fingerprint (late data: re-run, attempts reset). Candidates are claimed oldest first, at most
 * `maxHoursPerCycle` per cycle.
 *
 * **Ownership.** Each hour has a record at `hour/<name>/<YYYY-MM-DDTHH>` in the state store. A claim
 * is a conditional write (`expectedVersion`: the version read, 0 when absent) setting `running`,
 * `owner` and `leaseUntil` (now + `leaseSecs`), so two schedulers never both claim an hour; the lease
 * is renewed while jobs run, and a crashed owner's hour is taken over once its lease expires. Every
 * later write is conditional too: a lost write means another scheduler took over, and this one drops
 * the hour.
 *
 * **Pipeline,** in order, each step only for the hours whose earlier steps succeeded:
 * 1. `bronze_to_silver` per source, one run covering every claimed hour of that source, with
 *    `--source`, `--hours` (comma list of `YYYY-MM-DDTHH`), `--lake_uri`, `--entity_json` (the
 *    source's mapping) and `--pii_key_env`; `maxConcurrentRuns` runs at a time; each run is polled
 *    with GetJobRun (`jobPollIntervalSecs` doubling to `jobPollMaxIntervalSecs`) until terminal;
 * 2. `silver_to_gold` once, with `--hours` and `--lake_uri`;
 * 3. the crawler (`crawlerName`), once per cycle: waited for while RUNNING/STOPPING, started when
 *    READY (`CrawlerRunningException` → wait and start again), then waited for until READY with its
 *    last crawl not FAILED/CANCELLED (Glue API, "GetCrawler" / "StartCrawler");
 * 4. the quality query (`qualityQuery`) through the query engine; its first row is recorded in the
 *    hours and exported as gauges;
 * 5. the hours become `done`, with the run ids and the quality result.
 *
 * **Failures.** `ConcurrentRunsExceededException` (the job is at its `MaxConcurrentRuns`, default 1;
 * Glue API, "StartJobRun") means "later": the hours go back to `pending` without counting an
 * attempt. A run that ends FAILED, TIMEOUT, ERROR, STOPPED or EXPIRED, a start that fails otherwise,
 * a failed crawl or query: each hour concerned counts an attempt and is retried after
 * `retryBaseDelaySecs` · 2^(attempts−1) (at most `retryMaxDelaySecs`); at `maxAttempts` it becomes
 * `failed` (`ingest_scheduler_hours_total{status="failed"}`, an error log). Jobs are re-run from the
 * first step on every attempt; they are idempotent (silver and gold are exactly-once by `id`).
 *
 * **Stop.** `stop()` cuts waits short and releases every hour it owns (`pending`, lease expired);
 * runs already started keep running in Glue (a successor may be deferred until they end).
 */
import type { HourlySchedulerInput } from './config.js';
import { HourlyScheduler, type HourlySchedulerDeps } from './scheduler.js';

export type { HourlySchedulerConfig, HourlySchedulerInput } from './config.js';
export { HourlySchedulerSchema } from './config.js';
export * from './errors.js';
export {
  BRONZE_PREFIX,
  type BronzeHour,
  type BronzeObject,
  fingerprintKeys,
  groupBronze,
  type HourId,
  hourEndMs,
  hourOf,
  hourStartMs,
  isClosed,
  isValidHour,
  parseBronzeKey,
  sqlHourList,
} from './hours.js';
export {
  type CycleResult,
  HourlyScheduler,
  type HourlySchedulerDeps,
  type HourlySchedulerStats,
  type HourRecord,
  type HourRuns,
  type HourStatus,
  hourStateKey,
  type QualityRecord,
  type RunOnceOptions,
  SETTLED_CACHE_MS,
} from './scheduler.js';

/**
 * Creates the hourly scheduler (see the module documentation for what it does).
 * @param config - a {@link HourlySchedulerSchema} value, parsed or not (validated here).
 * @throws ConfigError when the config is invalid, `qualityQuery` is set without `deps.queries`, or the
 *   lake URI is not `file://` or `s3://`.
 */
export function createHourlyScheduler(
  config: HourlySchedulerInput,
  deps: HourlySchedulerDeps,
): HourlyScheduler {
  return new HourlyScheduler(config, deps);
}
