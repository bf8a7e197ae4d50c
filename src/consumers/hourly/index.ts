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
 * **Ownership** (`leases.ts`, `records.ts`). Each hour has a record at `hour/<name>/<YYYY-MM-DDTHH>`
 * in the state store. A claim is a conditional write (`expectedVersion`: the version read, 0 when
 * absent) setting `running`, `owner`, `ownerHost`, `ownerPid`, a `fencingToken` one above the last
 * claim's, and `leaseUntil` (now + `leaseSecs`), so two schedulers never both claim an hour. A
 * heartbeat renews the leases every `heartbeatIntervalSecs` while the cycle works on its hours (the
 * KCL's lease renewal), so a crashed owner's hour is taken over within one lease period; a scheduler
 * on the owner's host takes it over at once when the owner's pid no longer exists. Every later write
 * is conditional too: a lost write means another scheduler took over, and this one drops the hour.
 *
 * **Resume** (`job-runs.ts`). An hour taken over (or retried) with the same bronze objects keeps its
 * recorded run ids. Before starting a job for hours that all record the same run of it, that run is
 * looked up (GetJobRun): SUCCEEDED is kept, a run still going is waited for, anything else runs again.
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
 * `failed` (`ingest_scheduler_hours_total{status="failed"}`, an error log). Runs that succeeded in an
 * earlier attempt are kept (see Resume); the jobs are idempotent (silver and gold are exactly-once by
 * `id`), so running one again is always safe.
 *
 * **Stop.** `stop()` cuts waits short and releases every hour it owns (`pending`, lease expired);
 * runs already started keep running in Glue and stay recorded in the hour (a successor waits for
 * them, see Resume).
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
  type SkippedHour,
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
