/**
 * The hourly scheduler's public shapes: its dependencies, its counters and the options of a cycle.
 */

import type { LakeConfig } from '../../glue/config.js';
import type { GlueExecutor, QueryEngine } from '../../glue/types.js';
import type { Lake } from '../../lake/index.js';
import type { Logger } from '../../log.js';
import type { StateStore } from '../../state/index.js';
import type { ConsumerStats } from '../types.js';
import type { HourId } from './hours.js';

/** Options of {@link HourlyScheduler.runOnce}. */
export interface RunOnceOptions {
  /**
   * Also process hours that are not closed yet (now < hour end + `graceSecs`). `ingest local` uses it
   * at the end of a run to process everything that landed; a later change of such an hour's objects
   * re-runs it like late data. @default false
   */
  includeOpenHours?: boolean;
}

/** What the scheduler needs from the process. */
export interface HourlySchedulerDeps {
  /** Where hour records live (`hour/<name>/<YYYY-MM-DDTHH>`); conditional writes claim hours. */
  state: StateStore;
  logger: Logger;
  /** Runs the Glue jobs and the crawler. Not closed by the scheduler (its owner closes it). */
  executor: GlueExecutor;
  /** Runs `qualityQuery`. Required when `qualityQuery` is set. Not closed by the scheduler. */
  queries?: QueryEngine;
  /** The lake to list. @default openLake(config.lakeUri) */
  lake?: Lake;
  /** Entity mappings (source → silver table) and the PII key variable, from the config's `lake`. */
  lakeConfig: LakeConfig;
  /** Clock. @default () => new Date() */
  now?: () => Date;
  /** Waits `ms` milliseconds (the scheduler cuts waits short on `stop()`). @default setTimeout */
  sleep?: (ms: number) => Promise<void>;
  /** This instance's owner id in hour records. @default `<hostname>:<pid>:<random>` */
  instanceId?: string;
  /** Host name recorded in the hours it claims (`ownerHost`). @default os.hostname() */
  host?: string;
}

/** Counters of the scheduler. The stream counters of {@link ConsumerStats} stay 0. */
export interface HourlySchedulerStats extends ConsumerStats {
  /** Cycles run (`runOnce` calls and loop iterations). */
  cycles: number;
  /** Hours claimed. */
  hoursProcessed: number;
  /** Hours that became done. */
  hoursDone: number;
  /** Hours that gave up (`failed`). */
  hoursFailed: number;
  /** Failed attempts that will be retried. */
  hoursRetrying: number;
  /** Hours deferred by `ConcurrentRunsExceededException`. */
  hoursDeferred: number;
  /** Job runs started / succeeded / failed. */
  jobRunsStarted: number;
  jobRunsSucceeded: number;
  jobRunsFailed: number;
  /** Crawls started. */
  crawls: number;
  /** Quality queries answered. */
  qualityChecks: number;
  /** Closed hours with data not yet done, after the last cycle. */
  hoursBehind: number;
  /** Newest done hour, when any. */
  newestDoneHour?: HourId;
  /** End of the last cycle, ISO-8601 UTC. */
  lastCycleAt?: string;
}
