/**
 * What the hourly scheduler stores per hour, and what a cycle reports. Stored at
 * `hour/<scheduler name>/<YYYY-MM-DDTHH>` in the state store.
 */
import type { HourId } from './hours.js';

/**
 * Status of an hour:
 * - `pending`: to do (new data, a retry after `nextAttemptAt`, or deferred / released);
 * - `running`: claimed by `owner` until `leaseUntil` (renewed by the owner's heartbeat);
 * - `done`: every step succeeded for the objects fingerprinted in `bronzeFingerprint`;
 * - `failed`: gave up after `maxAttempts` (retried only when its bronze changes, or once an operator
 *   deletes the record).
 */
export type HourStatus = 'pending' | 'running' | 'done' | 'failed';

/** Run ids of the jobs of an hour's current (or last) attempt. */
export interface HourRuns {
  /** Source → `bronze_to_silver` run id (a run may cover several hours of its source). */
  bronzeToSilver: Record<string, string>;
  /** The `silver_to_gold` run id (shared by every hour of its cycle). */
  silverToGold?: string;
}

/** Result of the quality query, as recorded in the hours it covered. */
export interface QualityRecord {
  /** When the query answered, ISO-8601 UTC. */
  checkedAt: string;
  /** Column → value of the result's first row (strings, as Athena returns them). */
  values: Record<string, string | null>;
  /** Rows returned. */
  rows: number;
}

/**
 * One hour's state, stored at `hour/<scheduler name>/<YYYY-MM-DDTHH>` in the state store. Absent
 * fields are simply omitted in the stored JSON.
 */
export interface HourRecord {
  /** `YYYY-MM-DDTHH` (UTC). */
  hour: HourId;
  status: HourStatus;
  /** Failed attempts so far (deferrals and releases do not count); reset when late data arrives. */
  attempts: number;
  /** Instance id of the scheduler holding the claim (while `running`). */
  owner?: string;
  /** End of the claim, ISO-8601 UTC; after it another scheduler may take the hour over. */
  leaseUntil?: string;
  /** Host name of the owner's machine (while `running`). */
  ownerHost?: string;
  /** Process id of the owner on `ownerHost`: a scheduler on the same host takes the hour over at once when it is gone. */
  ownerPid?: number;
  /**
   * Incremented by every claim of the hour (1 for the first). A newer owner always holds a larger
   * token; every write is also conditional on the record's version, so a stale owner's write fails.
   */
  fencingToken?: number;
  /** {@link fingerprintKeys} of the hour's mapped bronze objects when it was (last) claimed. */
  bronzeFingerprint?: string;
  /** Number of those objects. */
  bronzeObjects?: number;
  /** Mapped sources with bronze objects in the hour when it was claimed. */
  sources: string[];
  /**
   * Run ids of the current (or last) attempt. A new owner taking over a `running` hour (or retrying
   * a released one) keeps them and looks each run up: a SUCCEEDED run is kept, a running one is
   * waited for, and only the rest are started again.
   */
  runs: HourRuns;
  /** Result of the quality query of the cycle that finished the hour, if configured. */
  quality?: QualityRecord;
  /** Why the last attempt failed, was deferred or released. */
  lastError?: string;
  /** A `pending` hour that failed is not tried before this time (ISO-8601 UTC). */
  nextAttemptAt?: string;
  /** When the hour became `done` (ISO-8601 UTC). */
  doneAt?: string;
  /** Last write, ISO-8601 UTC. */
  updatedAt: string;
}

/** What one cycle did. Each list holds `YYYY-MM-DDTHH` hours, oldest first. */
export interface CycleResult {
  /** Hours claimed by this cycle (at most `maxHoursPerCycle`). */
  processed: HourId[];
  /** Hours that became `done`. */
  done: HourId[];
  /** Hours that failed an attempt and will be retried after the backoff. */
  retrying: HourId[];
  /** Hours that reached `maxAttempts` and are now `failed`. */
  failed: HourId[];
  /** Hours left `pending` without counting an attempt (`ConcurrentRunsExceededException`). */
  deferred: HourId[];
  /** Hours released on stop, or lost to another scheduler (conditional write conflict). */
  abandoned: HourId[];
  /** Hours taken over from another owner (lease expired, or its process gone on this host). */
  takenOver: HourId[];
  /** Hours with bronze data this cycle looked at but did not claim, with the reason. */
  skipped: SkippedHour[];
  /** Why each hour in `retrying`, `failed`, `deferred` or `abandoned` did not become done (one line). */
  errors: Record<HourId, string>;
  /** Closed hours with mapped bronze data still not done after the cycle (`ingest_scheduler_backlog_partitions`). */
  hoursBehind: number;
}

/** Why a cycle left an hour alone. */
export interface SkippedHour {
  hour: HourId;
  /** `leased` (another live owner holds it), `failed` (gave up), `backoff` (retry not due yet), `unreadable` (its record could not be read), `bounded` (past `maxHoursPerCycle`). */
  reason: 'leased' | 'failed' | 'backoff' | 'unreadable' | 'bounded';
  /** One line for people: who holds it until when, the last error, the next attempt. */
  detail: string;
}

/** An empty cycle result. */
export function emptyCycleResult(): CycleResult {
  return {
    processed: [],
    done: [],
    retrying: [],
    failed: [],
    deferred: [],
    abandoned: [],
    takenOver: [],
    skipped: [],
    errors: {},
    hoursBehind: 0,
  };
}

/** State key of an hour's record. */
export function hourStateKey(scheduler: string, hour: HourId): string {
  return `hour/${scheduler}/${hour}`;
}

/** A copy of `rec` without the given fields. */
export function strip<K extends keyof HourRecord>(rec: HourRecord, keys: K[]): Omit<HourRecord, K> {
  const out = { ...rec };
  for (const k of keys) delete out[k];
  return out;
}
