/**
 * Which hours a cycle claims: the decision per hour from its record and its bronze listing.
 */
import type { HourId } from './hours.js';
import { type OwnerIdentity, takeoverReason } from './leases.js';
import type { HourRecord, SkippedHour } from './records.js';

/** An hour's mapped bronze as found by one listing. */
export interface MappedHour {
  hour: HourId;
  /** Mapped source → keys (sorted by source). */
  sources: Map<string, string[]>;
  fingerprint: string;
  objects: number;
}

/** Why an hour is claimed. */
export type ClaimReason = 'new' | 'late_data' | 'retry' | 'takeover';

/**
 * Why an hour should be claimed now (`claim`), why it is left alone this cycle (`skip`), or
 * `undefined` when there is nothing to do (done for these objects).
 */
export function candidateReason(
  rec: HourRecord | undefined,
  bronze: MappedHour,
  now: Date,
  me: OwnerIdentity,
): { claim: ClaimReason } | { skip: SkippedHour } | undefined {
  if (!rec) return { claim: 'new' };
  const hour = bronze.hour;
  const lateData = rec.bronzeFingerprint !== undefined && rec.bronzeFingerprint !== bronze.fingerprint;
  switch (rec.status) {
    case 'done':
      return lateData ? { claim: 'late_data' } : undefined;
    case 'failed':
      if (lateData) return { claim: 'late_data' };
      return {
        skip: {
          hour,
          reason: 'failed',
          detail: `failed after ${rec.attempts} attempt(s): ${rec.lastError ?? 'unknown error'} (delete its state record or land new data to retry)`,
        },
      };
    case 'pending':
      if (lateData) return { claim: 'late_data' };
      if (rec.nextAttemptAt !== undefined && now.getTime() < Date.parse(rec.nextAttemptAt)) {
        return {
          skip: {
            hour,
            reason: 'backoff',
            detail: `next attempt at ${rec.nextAttemptAt} (attempt ${rec.attempts} failed: ${rec.lastError ?? 'unknown error'})`,
          },
        };
      }
      return { claim: 'retry' };
    case 'running': {
      const why = takeoverReason(rec, me, now.getTime());
      if (why !== undefined) return { claim: 'takeover' };
      return {
        skip: {
          hour,
          reason: 'leased',
          detail: `leased by ${rec.owner ?? 'unknown'}${rec.ownerPid === undefined ? '' : ` (pid ${rec.ownerPid} on ${rec.ownerHost}, alive)`} until ${rec.leaseUntil}`,
        },
      };
    }
    default:
      return { claim: 'retry' };
  }
}
