/**
 * The hourly scheduler: turns closed bronze hours into silver, gold, catalog partitions and a quality
 * figure, through the {@link GlueExecutor} and {@link QueryEngine} contracts (see the module docs in
 * `index.ts`).
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { ConfigError, describeError, failureClassOf, isRetriable, StateConflictError } from '../../errors.js';
import type { EntityConfig, LakeConfig } from '../../glue/config.js';
import { ConcurrentRunsExceededError, JobRunFailedError } from '../../glue/errors.js';
import { type GlueExecutor, type JobRun, type QueryEngine, TERMINAL_JOB_STATES } from '../../glue/types.js';
import { type Lake, openLake } from '../../lake/index.js';
import type { Logger } from '../../log.js';
import type { StateStore, Versioned } from '../../state/index.js';
import type { Consumer } from '../types.js';
import { type ClaimReason, candidateReason, type MappedHour } from './candidates.js';
import { type HourlySchedulerConfig, type HourlySchedulerInput, HourlySchedulerSchema } from './config.js';
import {
  HourOwnershipLostError,
  JobStartError,
  JobWaitTimeoutError,
  SchedulerError,
  SchedulerStoppedError,
} from './errors.js';
import {
  BRONZE_PREFIX,
  bronzeDayPrefix,
  fingerprintKeys,
  groupBronze,
  type HourId,
  hourEndMs,
  isClosed,
  windowDays,
} from './hours.js';
import { judgeRecordedRun, sharedRunId } from './job-runs.js';
import { LeaseHeartbeat, type OwnerIdentity, processOwner, takeoverReason } from './leases.js';
import {
  type CycleResult,
  emptyCycleResult,
  type HourRecord,
  hourStateKey,
  type QualityRecord,
  strip,
} from './records.js';
import { crawl, qualityCheck, type StepContext } from './steps.js';
import {
  schedulerErrorsTotal,
  schedulerHoursBehind,
  schedulerHoursTotal,
  schedulerJobDurationSeconds,
  schedulerJobRunsTotal,
  schedulerLagSeconds,
} from './telemetry.js';
import type { HourlySchedulerDeps, HourlySchedulerStats, RunOnceOptions } from './types.js';

export type {
  CycleResult,
  HourRecord,
  HourRuns,
  HourStatus,
  QualityRecord,
  SkippedHour,
} from './records.js';
export { hourStateKey } from './records.js';

export type { HourlySchedulerDeps, HourlySchedulerStats, RunOnceOptions } from './types.js';

/** An hour this cycle claimed. */
interface Claim {
  hour: HourId;
  key: string;
  bronze: MappedHour;
  version: number;
  record: HourRecord;
  /** `alive` while its steps run; `finished` once its outcome is written; `lost` on a conflict. */
  state: 'alive' | 'finished' | 'lost';
}

type JobKey = keyof HourlySchedulerConfig['jobs'];

/** How long a `done`/`failed` record read from the store is trusted without reading it again. */
export const SETTLED_CACHE_MS = 3_600_000;

const DEFAULT_SLEEP = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The hourly scheduler. Create it with `createHourlyScheduler`; it implements {@link Consumer}.
 */
export class HourlyScheduler implements Consumer {
  readonly name: string;
  readonly config: HourlySchedulerConfig;
  readonly lake: Lake;
  /** This instance's id in the `owner` field of the hours it claims. */
  readonly instanceId: string;
  /** Instance id, host and pid recorded in the hours it claims. */
  private readonly owner: OwnerIdentity;
  private readonly state: StateStore;
  private readonly executor: GlueExecutor;
  private readonly queries?: QueryEngine;
  private readonly lakeConfig: LakeConfig;
  private readonly entities: Map<string, EntityConfig>;
  private readonly log: Logger;
  private readonly clock: () => Date;
  private readonly rawSleep: (ms: number) => Promise<void>;
  private readonly stopController = new AbortController();
  /** Last known record of each hour (read or written by this instance). */
  private readonly known = new Map<HourId, Versioned<HourRecord>>();
  /** When a `done`/`failed` record was last read from the store (epoch ms), to trust it for a while. */
  private readonly settledReadAt = new Map<HourId, number>();
  /** Claims of the running cycle (their leases are renewed while jobs run). */
  private active: Claim[] = [];
  /** Whether this cycle started a job run (then a recorded gold run is stale). */
  private startedThisCycle = false;
  private readonly counts = {
    cycles: 0,
    hoursProcessed: 0,
    hoursDone: 0,
    hoursFailed: 0,
    hoursRetrying: 0,
    hoursDeferred: 0,
    jobRunsStarted: 0,
    jobRunsSucceeded: 0,
    jobRunsFailed: 0,
    crawls: 0,
    qualityChecks: 0,
    hoursBehind: 0,
    errors: 0,
  };
  private newestDoneHour?: HourId;
  private lastCycleAt?: string;
  /** Serialises cycles: the loop and `runOnce()` never overlap. */
  private cycleChain: Promise<unknown> = Promise.resolve();
  /** Serialises this instance's state writes, so a lease renewal never races an outcome write. */
  private writeChain: Promise<unknown> = Promise.resolve();
  private loopPromise?: Promise<void>;
  private stopping?: Promise<void>;
  private started = false;

  constructor(config: HourlySchedulerInput, deps: HourlySchedulerDeps) {
    const parsed = HourlySchedulerSchema.safeParse(config);
    if (!parsed.success) {
      throw new ConfigError(`hourly scheduler config: ${parsed.error.message}`, { cause: parsed.error });
    }
    this.config = parsed.data;
    this.name = this.config.name;
    if (this.config.qualityQuery !== undefined && deps.queries === undefined) {
      throw new ConfigError(
        `hourly scheduler ${this.name}: qualityQuery is set but no query engine was given`,
      );
    }
    this.state = deps.state;
    this.executor = deps.executor;
    this.queries = deps.queries;
    this.lakeConfig = deps.lakeConfig;
    this.entities = new Map(deps.lakeConfig.entities.map((e) => [e.source, e]));
    this.lake = deps.lake ?? openLake(this.config.lakeUri);
    this.clock = deps.now ?? (() => new Date());
    this.rawSleep = deps.sleep ?? DEFAULT_SLEEP;
    this.instanceId = deps.instanceId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.owner = processOwner(this.instanceId, deps.host);
    this.log = deps.logger.child({ component: 'hourly', scheduler: this.name });
  }

  // ---------------------------------------------------------------------------------------------
  // Consumer

  /**
   * Starts the loop: a cycle now, then one every `checkIntervalSecs`. Resolves at once.
   * @throws SchedulerError (`internal`) when called twice or after `stop()`.
   */
  async start(): Promise<void> {
    if (this.started || this.stopController.signal.aborted) {
      throw new SchedulerError(`hourly scheduler ${this.name} was already started or stopped`, 'internal');
    }
    this.started = true;
    this.loopPromise = this.loop();
    this.log.info(
      { instance: this.instanceId, checkIntervalSecs: this.config.checkIntervalSecs },
      'hourly scheduler started',
    );
  }

  /**
   * Stops the loop: waits are cut short, job runs already started keep running in Glue, and every
   * hour this instance owns is released (`pending`, lease expired) so another scheduler can take it.
   * Resolves within `shutdownTimeoutMs`; an hour that could not be released in time keeps its lease,
   * which expires on its own. Never rejects.
   */
  stop(): Promise<void> {
    this.stopping ??= this.stopNow();
    return this.stopping;
  }

  private async stopNow(): Promise<void> {
    this.stopController.abort(new SchedulerStoppedError(`hourly scheduler ${this.name} stopping`));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.config.shutdownTimeoutMs);
    });
    const work = Promise.allSettled([this.loopPromise, this.cycleChain]).then(() => 'done' as const);
    const outcome = await Promise.race([work, deadline]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.log.error(
        { timeoutMs: this.config.shutdownTimeoutMs },
        'hourly scheduler stop timed out: hours still claimed are taken over once their lease expires',
      );
    }
    this.log.info({ ...this.stats(), shards: undefined }, 'hourly scheduler stopped');
  }

  /**
   * True when the lake answers (the loop itself never dies: a failed cycle is logged, counted and
   * tried again next interval). Failed hours do not make the scheduler unready. Never rejects.
   */
  async ready(): Promise<boolean> {
    return this.lake.ping().catch(() => false);
  }

  stats(): HourlySchedulerStats {
    return {
      kinesisRecordsRead: 0,
      recordsRead: 0,
      recordsLanded: 0,
      recordsDeadLettered: 0,
      recordsBuffered: 0,
      objectsWritten: 0,
      bytesWritten: 0,
      uncompressedBytesWritten: 0,
      checkpointsWritten: 0,
      shards: {},
      ...this.counts,
      ...(this.newestDoneHour === undefined ? {} : { newestDoneHour: this.newestDoneHour }),
      ...(this.lastCycleAt === undefined ? {} : { lastCycleAt: this.lastCycleAt }),
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Public extras

  /**
   * Runs one cycle: lists bronze, claims up to `maxHoursPerCycle` candidate hours (oldest first) and
   * runs their pipeline. Cycles of one instance never overlap (a call waits for the running one).
   * Step failures are recorded in the hours, not thrown.
   * @throws SchedulerStoppedError after `stop()`; StorageError when the lake cannot be listed.
   */
  runOnce(options: RunOnceOptions = {}): Promise<CycleResult> {
    const next = this.cycleChain.catch(() => undefined).then(() => this.cycle(options));
    this.cycleChain = next.catch(() => undefined);
    return next;
  }

  /**
   * Records of every hour that has bronze data in the lake, read fresh from the state store, oldest
   * first. Hours never claimed have no record and are not listed.
   */
  async hours(): Promise<HourRecord[]> {
    const hours = groupBronze(await this.lake.list(BRONZE_PREFIX));
    const out: HourRecord[] = [];
    for (const h of hours) {
      const rec = await this.readRecord(h.hour);
      if (rec) out.push(rec.value);
    }
    return out;
  }

  // ---------------------------------------------------------------------------------------------
  // Loop and cycle

  private async loop(): Promise<void> {
    const signal = this.stopController.signal;
    while (!signal.aborted) {
      try {
        await this.runOnce();
      } catch (err) {
        if (signal.aborted) break;
        this.countError(err);
        this.log.error({ err: describeError(err) }, 'hourly cycle failed; retrying next interval');
      }
      try {
        await this.sleep(this.config.checkIntervalSecs * 1000);
      } catch {
        break;
      }
    }
  }

  private async cycle(options: RunOnceOptions): Promise<CycleResult> {
    const signal = this.stopController.signal;
    if (signal.aborted) throw new SchedulerStoppedError(`hourly scheduler ${this.name} is stopped`);
    const result = emptyCycleResult();
    this.startedThisCycle = false;
    this.counts.cycles += 1;
    const now = this.clock();
    const discovered = await this.discover(now);
    const claims: Claim[] = [];
    for (const bronze of discovered) {
      if (signal.aborted) break;
      if (!options.includeOpenHours && !isClosed(bronze.hour, now, this.config.graceSecs)) continue;
      if (this.isSettled(bronze, now)) continue;
      let current: Versioned<HourRecord> | undefined;
      try {
        current = await this.readRecord(bronze.hour);
      } catch (err) {
        this.countError(err);
        this.log.warn({ hour: bronze.hour, err: describeError(err) }, 'cannot read hour record');
        result.skipped.push({ hour: bronze.hour, reason: 'unreadable', detail: describeError(err) });
        continue;
      }
      const reason = candidateReason(current?.value, bronze, now, this.owner);
      if (reason === undefined) continue;
      if ('skip' in reason) {
        result.skipped.push(reason.skip);
        continue;
      }
      // Past the cycle's bound, records are still read (for hours_behind) but not claimed.
      if (claims.length >= this.config.maxHoursPerCycle) {
        result.skipped.push({
          hour: bronze.hour,
          reason: 'bounded',
          detail: `over maxHoursPerCycle (${this.config.maxHoursPerCycle}); next cycle`,
        });
        continue;
      }
      const claim = await this.claim(bronze, current, reason.claim, now);
      if (claim) {
        claims.push(claim);
        if (reason.claim === 'takeover' && current?.value.owner !== this.instanceId) {
          result.takenOver.push(bronze.hour);
        }
      } else {
        result.skipped.push({
          hour: bronze.hour,
          reason: 'leased',
          detail: 'claimed by another scheduler at the same moment (conditional write lost)',
        });
      }
    }
    result.processed = claims.map((c) => c.hour);
    this.counts.hoursProcessed += claims.length;
    this.active = claims;
    if (claims.length > 0) {
      const heartbeat = new LeaseHeartbeat(this.config.heartbeatIntervalSecs * 1000, () =>
        this.renewLeases(true),
      );
      heartbeat.start();
      try {
        if (signal.aborted) throw signal.reason;
        await this.pipeline(claims, result);
      } catch (err) {
        const stopped = signal.aborted || err instanceof SchedulerStoppedError;
        for (const c of claims.filter((x) => x.state === 'alive')) {
          if (stopped) await this.release(c, result, 'scheduler stopping');
          else await this.failAttempt(c, err, result);
        }
        if (!stopped) {
          this.countError(err);
          this.log.error({ err: describeError(err) }, 'hourly pipeline failed unexpectedly');
        }
      } finally {
        await heartbeat.stop();
        this.active = [];
      }
      for (const c of claims) {
        if (c.state !== 'lost') continue;
        result.abandoned.push(c.hour);
        result.errors[c.hour] = 'taken over by another scheduler while it ran';
      }
      result.abandoned.sort();
    }
    this.updateGauges(discovered, result);
    this.lastCycleAt = this.clock().toISOString();
    if (claims.length > 0) {
      this.log.info(
        {
          processed: result.processed.length,
          done: result.done.length,
          retrying: result.retrying.length,
          failed: result.failed.length,
          deferred: result.deferred.length,
          abandoned: result.abandoned.length,
          hoursBehind: result.hoursBehind,
        },
        'hourly cycle finished',
      );
    }
    return result;
  }

  /**
   * Lists the bronze of each mapped source, only the `dt=` days of the last `lookbackHours` (issue 11):
   * the cost of a cycle does not grow with the number of old hours in the lake.
   */
  private async discover(now: Date): Promise<MappedHour[]> {
    const keys: string[] = [];
    const days = windowDays(now, this.config.lookbackHours);
    for (const source of [...this.entities.keys()].sort()) {
      for (const day of days) keys.push(...(await this.lake.list(bronzeDayPrefix(source, day))));
    }
    return groupBronze(keys).map((h) => {
      const hourKeys = [...h.sources.values()].flat();
      return {
        hour: h.hour,
        sources: h.sources,
        fingerprint: fingerprintKeys(hourKeys),
        objects: hourKeys.length,
      };
    });
  }

  /**
   * Whether the last known record says the hour is done or failed for exactly these objects, read
   * from the store less than {@link SETTLED_CACHE_MS} ago (so a record deleted by an operator to
   * force a re-run is noticed within that time).
   */
  private isSettled(bronze: MappedHour, now: Date): boolean {
    const known = this.known.get(bronze.hour)?.value;
    const readAt = this.settledReadAt.get(bronze.hour);
    return (
      known !== undefined &&
      readAt !== undefined &&
      now.getTime() - readAt < SETTLED_CACHE_MS &&
      (known.status === 'done' || known.status === 'failed') &&
      known.bronzeFingerprint === bronze.fingerprint
    );
  }

  /**
   * Claims an hour with a conditional write (the version read, or 0 when absent).
   * @returns the claim, or `undefined` when another scheduler won (or the write failed).
   */
  private async claim(
    bronze: MappedHour,
    current: Versioned<HourRecord> | undefined,
    reason: ClaimReason,
    now: Date,
  ): Promise<Claim | undefined> {
    const key = hourStateKey(this.name, bronze.hour);
    const prev = current?.value;
    const fresh = reason === 'late_data' || reason === 'new';
    const record: HourRecord = {
      hour: bronze.hour,
      status: 'running',
      attempts: fresh ? 0 : (prev?.attempts ?? 0),
      owner: this.instanceId,
      leaseUntil: new Date(now.getTime() + this.config.leaseSecs * 1000).toISOString(),
      ownerHost: this.owner.host,
      ownerPid: this.owner.pid,
      fencingToken: (prev?.fencingToken ?? 0) + 1,
      bronzeFingerprint: bronze.fingerprint,
      bronzeObjects: bronze.objects,
      sources: [...bronze.sources.keys()],
      // Same objects: keep the run ids, so the runs that succeeded are not started again. A takeover
      // or retry whose objects changed meanwhile starts afresh: those runs saw fewer objects.
      runs:
        fresh || !prev || prev.bronzeFingerprint !== bronze.fingerprint
          ? { bronzeToSilver: {} }
          : structuredClone(prev.runs),
      ...(!fresh && prev?.lastError !== undefined ? { lastError: prev.lastError } : {}),
      updatedAt: now.toISOString(),
    };
    try {
      const version = await this.state.put(key, record, { expectedVersion: current?.version ?? 0 });
      this.known.set(bronze.hour, { value: record, version });
      if (reason === 'takeover' && prev && prev.owner !== this.instanceId) {
        const why = takeoverReason(prev, this.owner, now.getTime());
        this.log.warn(
          {
            hour: bronze.hour,
            previousOwner: prev.owner,
            leaseUntil: prev.leaseUntil,
            why,
            fencingToken: record.fencingToken,
            runs: record.runs,
          },
          why === 'dead_process'
            ? 'took over an hour whose owner process on this host is gone'
            : 'took over an hour whose lease expired',
        );
      } else {
        this.log.debug({ hour: bronze.hour, reason }, 'hour claimed');
      }
      return { hour: bronze.hour, key, bronze, version, record, state: 'alive' };
    } catch (err) {
      this.known.delete(bronze.hour);
      if (err instanceof StateConflictError) {
        this.log.debug({ hour: bronze.hour }, 'hour claimed by another scheduler');
      } else {
        this.countError(err);
        this.log.warn({ hour: bronze.hour, err: describeError(err) }, 'cannot claim hour');
      }
      return undefined;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Pipeline

  /** bronze→silver per source, silver→gold once, the crawler once, the quality query once, then done. */
  private async pipeline(claims: Claim[], result: CycleResult): Promise<void> {
    const signal = this.stopController.signal;
    await this.bronzeToSilver(claims, result);
    let alive = claims.filter((c) => c.state === 'alive');
    if (alive.length === 0) return;
    if (signal.aborted) throw signal.reason;
    // A recorded gold run is kept only when no silver changed in this cycle.
    const gold = await this.runJob(
      'silverToGold',
      { hours: alive.map((c) => c.hour).join(','), lake_uri: this.config.lakeUri },
      alive,
      result,
      (rec, runId) => {
        rec.runs.silverToGold = runId;
      },
      this.startedThisCycle ? undefined : (rec) => rec.runs.silverToGold,
    );
    if (!gold) return;
    alive = claims.filter((c) => c.state === 'alive');
    if (alive.length === 0) return;
    if (signal.aborted) throw signal.reason;
    if (this.config.crawlerName !== undefined) {
      try {
        await crawl(this.steps(), this.config.crawlerName, hoursOf(alive));
      } catch (err) {
        if (err instanceof SchedulerStoppedError) throw err;
        this.countError(err);
        for (const c of alive) await this.failAttempt(c, err, result);
        return;
      }
    }
    let quality: QualityRecord | undefined;
    if (this.config.qualityQuery !== undefined) {
      try {
        quality = await qualityCheck(this.steps(), this.config.qualityQuery, hoursOf(alive));
      } catch (err) {
        this.countError(err);
        for (const c of alive) await this.failAttempt(c, err, result);
        return;
      }
    }
    for (const c of alive) await this.markDone(c, quality, result);
  }

  /** One `bronze_to_silver` run per source over every claimed hour holding it, `maxConcurrentRuns` at a time. */
  private async bronzeToSilver(claims: Claim[], result: CycleResult): Promise<void> {
    const bySource = new Map<string, Claim[]>();
    for (const c of claims) {
      for (const source of c.bronze.sources.keys()) {
        const list = bySource.get(source);
        if (list) list.push(c);
        else bySource.set(source, [c]);
      }
    }
    const queue = [...bySource.keys()].sort();
    const worker = async (): Promise<void> => {
      for (let source = queue.shift(); source !== undefined; source = queue.shift()) {
        if (this.stopController.signal.aborted) throw this.stopController.signal.reason;
        const live = (bySource.get(source) ?? []).filter((c) => c.state === 'alive');
        if (live.length === 0) continue;
        const entity = this.entities.get(source)!;
        const name = source;
        await this.runJob(
          'bronzeToSilver',
          {
            source,
            hours: live.map((c) => c.hour).join(','),
            lake_uri: this.config.lakeUri,
            entity_json: JSON.stringify(entity),
            pii_key_env: this.lakeConfig.piiKeyEnv,
          },
          live,
          result,
          (rec, runId) => {
            rec.runs.bronzeToSilver[name] = runId;
          },
          (rec) => rec.runs.bronzeToSilver[name],
        );
      }
    };
    const workers = Array.from({ length: Math.min(this.config.maxConcurrentRuns, queue.length) }, worker);
    const settled = await Promise.allSettled(workers);
    const rejected = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (rejected) throw rejected.reason;
  }

  /**
   * Starts a job for some hours and waits for its terminal state. `ConcurrentRunsExceededException`
   * defers the hours; any other failure counts an attempt for each of them.
   *
   * Resume: when every hour records the same run of this job (`recorded`, from a previous owner or
   * attempt), that run is looked up first: SUCCEEDED → kept (not started again), still going →
   * waited for, anything else → the job runs again.
   * @returns the run when it SUCCEEDED, else `undefined` (the hours' outcome is already written).
   * @throws SchedulerStoppedError on stop (the caller releases the hours).
   */
  private async runJob(
    job: JobKey,
    args: Record<string, string>,
    claims: Claim[],
    result: CycleResult,
    recordRun: (rec: HourRecord, runId: string) => void,
    recorded?: (rec: HourRecord) => string | undefined,
  ): Promise<JobRun | undefined> {
    const jobName = this.config.jobs[job];
    const labels = { scheduler: this.name, job: jobName };
    const retry = claims.some((c) => c.record.attempts > 0);
    const previous = recorded ? sharedRunId(claims.map((c) => recorded(c.record))) : undefined;
    let resumeId: string | undefined;
    if (previous !== undefined) {
      const verdict = await judgeRecordedRun(this.executor, jobName, previous);
      const hours = claims.map((c) => c.hour);
      if (verdict.action === 'keep') {
        schedulerJobRunsTotal.inc({ ...labels, outcome: 'kept' });
        this.log.info({ job: jobName, runId: previous, hours }, 'recorded job run had succeeded: kept');
        return verdict.run;
      }
      if (verdict.action === 'wait') {
        schedulerJobRunsTotal.inc({ ...labels, outcome: 'resumed' });
        this.log.info(
          { job: jobName, runId: previous, hours },
          'recorded job run still going: waiting for it',
        );
        resumeId = previous;
      } else {
        this.log.info(
          { job: jobName, runId: previous, hours, why: verdict.why },
          'recorded job run did not succeed: running the job again',
        );
      }
    }
    if (resumeId !== undefined) return this.awaitRun(job, resumeId, claims, result, this.clock().getTime());
    let runId: string;
    try {
      runId = await this.executor.startJobRun(jobName, args);
    } catch (err) {
      if (err instanceof ConcurrentRunsExceededError) {
        schedulerJobRunsTotal.inc({ ...labels, outcome: 'deferred' });
        this.log.info(
          { job: jobName, hours: args.hours, err: err.message },
          'job at MaxConcurrentRuns: hours deferred to the next cycle',
        );
        for (const c of claims) await this.defer(c, err, result);
        return undefined;
      }
      this.countError(err);
      schedulerJobRunsTotal.inc({ ...labels, outcome: 'failed' });
      this.counts.jobRunsFailed += 1;
      const wrapped = new JobStartError(`StartJobRun ${jobName} failed: ${describeError(err)}`, {
        cause: err,
        retriable: isRetriable(err),
      });
      for (const c of claims) await this.failAttempt(c, wrapped, result);
      return undefined;
    }
    schedulerJobRunsTotal.inc({ ...labels, outcome: 'started' });
    if (retry) schedulerJobRunsTotal.inc({ ...labels, outcome: 'retried' });
    this.counts.jobRunsStarted += 1;
    this.startedThisCycle = true;
    this.log.info({ job: jobName, runId, args: { ...args, entity_json: undefined } }, 'job run started');
    for (const c of claims) {
      await this.update(c, (rec) => {
        recordRun(rec, runId);
        return rec;
      });
    }
    return this.awaitRun(job, runId, claims, result, this.clock().getTime());
  }

  /** Waits for a run of ours (or a resumed one) and writes the hours' outcome when it did not succeed. */
  private async awaitRun(
    job: JobKey,
    runId: string,
    claims: Claim[],
    result: CycleResult,
    startedMs: number,
  ): Promise<JobRun | undefined> {
    const jobName = this.config.jobs[job];
    const labels = { scheduler: this.name, job: jobName };
    let run: JobRun;
    try {
      run = await this.waitJob(jobName, runId, claims);
    } catch (err) {
      if (err instanceof SchedulerStoppedError) throw err;
      if (err instanceof HourOwnershipLostError) {
        this.log.warn(
          { job: jobName, runId },
          'every hour of the run was lost to another scheduler; not waiting',
        );
        return undefined;
      }
      this.countError(err);
      schedulerJobRunsTotal.inc({ ...labels, outcome: 'failed' });
      this.counts.jobRunsFailed += 1;
      for (const c of claims) await this.failAttempt(c, err, result);
      return undefined;
    }
    const secs = run.executionTimeSecs ?? (this.clock().getTime() - startedMs) / 1000;
    schedulerJobDurationSeconds.observe(labels, secs);
    if (run.state === 'SUCCEEDED') {
      schedulerJobRunsTotal.inc({ ...labels, outcome: 'succeeded' });
      this.counts.jobRunsSucceeded += 1;
      this.log.info({ job: jobName, runId, durationSecs: secs }, 'job run succeeded');
      return run;
    }
    schedulerJobRunsTotal.inc({ ...labels, outcome: 'failed' });
    this.counts.jobRunsFailed += 1;
    const err = new JobRunFailedError(
      `${jobName} run ${runId} ended ${run.state}${run.errorMessage ? `: ${run.errorMessage}` : ''}`,
      run.state,
    );
    this.countError(err);
    for (const c of claims) await this.failAttempt(c, err, result);
    return undefined;
  }

  /**
   * Polls GetJobRun with a doubling pause (`jobPollIntervalSecs`..`jobPollMaxIntervalSecs`) until the
   * run is terminal, renewing the leases of the hours alive on the way. Retriable GetJobRun errors
   * are counted and polled again.
   * @throws JobWaitTimeoutError after `jobTimeoutSecs`; HourOwnershipLostError once none of `claims`
   *   is still alive; the first non-retriable error; SchedulerStoppedError.
   */
  private async waitJob(jobName: string, runId: string, claims: Claim[]): Promise<JobRun> {
    const deadline = this.clock().getTime() + this.config.jobTimeoutSecs * 1000;
    let delaySecs = this.config.jobPollIntervalSecs;
    for (;;) {
      if (claims.every((c) => c.state !== 'alive')) {
        throw new HourOwnershipLostError(`no hour of ${jobName} run ${runId} is owned any more`);
      }
      await this.sleep(delaySecs * 1000);
      await this.renewLeases();
      try {
        const run = await this.executor.getJobRun(jobName, runId);
        if (TERMINAL_JOB_STATES.has(run.state)) return run;
      } catch (err) {
        if (!isRetriable(err)) throw err;
        this.countError(err);
        this.log.warn({ job: jobName, runId, err: describeError(err) }, 'GetJobRun failed; polling again');
      }
      if (this.clock().getTime() >= deadline) {
        throw new JobWaitTimeoutError(
          `${jobName} run ${runId} not finished after ${this.config.jobTimeoutSecs} s`,
        );
      }
      delaySecs = Math.min(this.config.jobPollMaxIntervalSecs, delaySecs * 2);
    }
  }

  /** What the crawler and quality steps need of this scheduler. */
  private steps(): StepContext {
    return {
      name: this.name,
      config: this.config,
      executor: this.executor,
      ...(this.queries ? { queries: this.queries } : {}),
      lakeConfig: this.lakeConfig,
      log: this.log,
      clock: this.clock,
      sleep: (ms) => this.sleep(ms),
      renewLeases: () => this.renewLeases(),
      countError: (err) => this.countError(err),
      counts: this.counts,
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Outcomes (every write conditional on the claim's version)

  private async markDone(c: Claim, quality: QualityRecord | undefined, result: CycleResult): Promise<void> {
    const now = this.clock().toISOString();
    const ok = await this.finish(c, result, (rec) => ({
      ...strip(rec, ['owner', 'leaseUntil', 'ownerHost', 'ownerPid', 'lastError', 'nextAttemptAt']),
      status: 'done',
      ...(quality ? { quality } : {}),
      doneAt: now,
      updatedAt: now,
    }));
    if (!ok) return;
    result.done.push(c.hour);
    this.counts.hoursDone += 1;
    schedulerHoursTotal.inc({ scheduler: this.name, status: 'done' });
    if (this.newestDoneHour === undefined || c.hour > this.newestDoneHour) this.newestDoneHour = c.hour;
    this.log.info({ hour: c.hour, runs: c.record.runs }, 'hour done');
  }

  /** Counts a failed attempt: back to `pending` after a backoff, or `failed` at `maxAttempts`. */
  private async failAttempt(c: Claim, err: unknown, result: CycleResult): Promise<void> {
    if (c.state !== 'alive') return;
    const nowMs = this.clock().getTime();
    const attempts = c.record.attempts + 1;
    const gaveUp = attempts >= this.config.maxAttempts;
    const delaySecs = Math.min(
      this.config.retryMaxDelaySecs,
      this.config.retryBaseDelaySecs * 2 ** Math.min(attempts - 1, 30),
    );
    const ok = await this.finish(c, result, (rec) => ({
      ...strip(rec, ['owner', 'leaseUntil', 'ownerHost', 'ownerPid', 'nextAttemptAt']),
      status: gaveUp ? 'failed' : 'pending',
      attempts,
      lastError: describeError(err),
      ...(gaveUp ? {} : { nextAttemptAt: new Date(nowMs + delaySecs * 1000).toISOString() }),
      updatedAt: new Date(nowMs).toISOString(),
    }));
    if (!ok) return;
    result.errors[c.hour] = describeError(err);
    if (gaveUp) {
      result.failed.push(c.hour);
      this.counts.hoursFailed += 1;
      schedulerHoursTotal.inc({ scheduler: this.name, status: 'failed' });
      this.log.error(
        { hour: c.hour, attempts, err: describeError(err) },
        'hour failed: gave up after maxAttempts (delete its state record, or land new data, to retry)',
      );
    } else {
      result.retrying.push(c.hour);
      this.counts.hoursRetrying += 1;
      this.log.warn(
        { hour: c.hour, attempts, retryInSecs: delaySecs, err: describeError(err) },
        'hour attempt failed; will retry',
      );
    }
  }

  /** Leaves the hour `pending` for the next cycle without counting an attempt. */
  private async defer(c: Claim, err: unknown, result: CycleResult): Promise<void> {
    if (c.state !== 'alive') return;
    const ok = await this.finish(c, result, (rec) => ({
      ...strip(rec, ['owner', 'leaseUntil', 'ownerHost', 'ownerPid', 'nextAttemptAt']),
      status: 'pending',
      lastError: describeError(err),
      updatedAt: this.clock().toISOString(),
    }));
    if (!ok) return;
    result.errors[c.hour] = `deferred: ${describeError(err)}`;
    result.deferred.push(c.hour);
    this.counts.hoursDeferred += 1;
  }

  /** Gives the hour back (`pending`, lease expired now) without counting an attempt. */
  private async release(c: Claim, result: CycleResult, why: string): Promise<void> {
    if (c.state !== 'alive') return;
    const now = this.clock().toISOString();
    const ok = await this.finish(c, result, (rec) => ({
      ...strip(rec, ['owner', 'ownerHost', 'ownerPid', 'nextAttemptAt']),
      status: 'pending',
      leaseUntil: now,
      lastError: `released: ${why}`,
      updatedAt: now,
    }));
    if (ok) {
      result.abandoned.push(c.hour);
      result.errors[c.hour] = `released: ${why}`;
    }
  }

  /**
   * Writes a claim's final record and marks it `finished`. A write that conflicts (`lost`) or fails
   * is reported in `abandoned`: the hour keeps its lease and is taken over once it expires.
   */
  private async finish(
    c: Claim,
    result: CycleResult,
    make: (rec: HourRecord) => HourRecord,
  ): Promise<boolean> {
    if (c.state !== 'alive') return false;
    c.state = 'finished';
    const outcome = await this.write(c, make);
    if (outcome === 'failed') {
      result.abandoned.push(c.hour);
      result.errors[c.hour] = 'its outcome could not be written (the lease expires on its own)';
    }
    return outcome === 'written';
  }

  /** Updates an alive claim's record (run ids); a lost claim stops being worked on. */
  private async update(c: Claim, make: (rec: HourRecord) => HourRecord): Promise<void> {
    if (c.state !== 'alive') return;
    await this.write(c, (rec) => ({ ...make(structuredClone(rec)), updatedAt: this.clock().toISOString() }));
  }

  /**
   * Renews the lease of every alive claim: all of them on a heartbeat (`force`), else those with less
   * than half their lease left (between two polls).
   */
  private async renewLeases(force = false): Promise<void> {
    const nowMs = this.clock().getTime();
    const halfMs = (this.config.leaseSecs * 1000) / 2;
    for (const c of this.active) {
      if (c.state !== 'alive') continue;
      const until = c.record.leaseUntil === undefined ? 0 : Date.parse(c.record.leaseUntil);
      if (!force && until - nowMs > halfMs) continue;
      await this.write(c, (rec) => ({
        ...rec,
        leaseUntil: new Date(nowMs + this.config.leaseSecs * 1000).toISOString(),
        updatedAt: new Date(nowMs).toISOString(),
      }));
    }
  }

  /**
   * Conditional write of a claim's record, serialised with this instance's other writes.
   * @returns `written`; `lost` when the write conflicted (the claim is then `lost`); `failed` when the
   *   store failed (counted, logged; the hour keeps its lease and is taken over once it expires).
   */
  private write(c: Claim, make: (rec: HourRecord) => HourRecord): Promise<'written' | 'lost' | 'failed'> {
    const run = async (): Promise<'written' | 'lost' | 'failed'> => {
      if (c.state === 'lost') return 'lost';
      const next = make(c.record);
      try {
        const version = await this.state.put(c.key, next, { expectedVersion: c.version });
        c.version = version;
        c.record = next;
        this.known.set(c.hour, { value: next, version });
        this.settledReadAt.set(c.hour, this.clock().getTime());
        return 'written';
      } catch (err) {
        if (err instanceof StateConflictError) {
          c.state = 'lost';
          this.known.delete(c.hour);
          const lost = new HourOwnershipLostError(
            `hour ${c.hour} was written by another scheduler: ${err.message}`,
            { cause: err },
          );
          this.countError(lost);
          this.log.warn({ hour: c.hour, err: lost.message }, 'lost an hour to another scheduler');
          return 'lost';
        }
        this.countError(err);
        this.log.warn({ hour: c.hour, err: describeError(err) }, 'cannot write hour record');
        return 'failed';
      }
    };
    const next = this.writeChain.then(run, run);
    this.writeChain = next.catch(() => undefined);
    return next;
  }

  private async readRecord(hour: HourId): Promise<Versioned<HourRecord> | undefined> {
    const rec = await this.state.get<HourRecord>(hourStateKey(this.name, hour));
    if (rec) this.known.set(hour, rec);
    else this.known.delete(hour);
    this.settledReadAt.set(hour, this.clock().getTime());
    if (rec?.value.status === 'done' && (this.newestDoneHour === undefined || hour > this.newestDoneHour)) {
      this.newestDoneHour = hour;
    }
    return rec;
  }

  // ---------------------------------------------------------------------------------------------
  // Helpers

  /** `hours_behind` and `lag_seconds` from the listing and the records known after the cycle. */
  private updateGauges(discovered: MappedHour[], result: CycleResult): void {
    const now = this.clock();
    let behind = 0;
    for (const h of discovered) {
      if (!isClosed(h.hour, now, this.config.graceSecs)) continue;
      const rec = this.known.get(h.hour)?.value;
      if (rec?.status === 'done' && rec.bronzeFingerprint === h.fingerprint) continue;
      behind += 1;
    }
    result.hoursBehind = behind;
    this.counts.hoursBehind = behind;
    schedulerHoursBehind.set({ scheduler: this.name }, behind);
    if (this.newestDoneHour !== undefined) {
      const lag = Math.max(0, (now.getTime() - hourEndMs(this.newestDoneHour)) / 1000);
      schedulerLagSeconds.set({ scheduler: this.name }, lag);
    }
  }

  /** Waits `ms`, cut short by `stop()`. @throws SchedulerStoppedError when stopping. */
  private sleep(ms: number): Promise<void> {
    const signal = this.stopController.signal;
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      this.rawSleep(ms).then(
        () => {
          signal.removeEventListener('abort', onAbort);
          if (signal.aborted) reject(signal.reason);
          else resolve();
        },
        (err: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      );
    });
  }

  private countError(err: unknown): void {
    this.counts.errors += 1;
    schedulerErrorsTotal.inc({ scheduler: this.name, class: failureClassOf(err) });
  }
}

function hoursOf(claims: Claim[]): HourId[] {
  return claims.map((c) => c.hour);
}
