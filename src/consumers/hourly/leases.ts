/**
 * Hour leases: whether the owner of an hour is still alive. The owner identity and the heartbeat are
 * shared with source and shard leases (src/coordination/owner.ts).
 */
import { claimTakeoverReason, type OwnerIdentity } from '../../coordination/owner.js';
import type { HourRecord } from './records.js';

export { LeaseHeartbeat, type OwnerIdentity, processOwner } from '../../coordination/owner.js';

/**
 * Why a `running` record's owner can be taken over now, or `undefined` while it holds the hour:
 * - `dead_process`: the owner ran on this host and its process no longer exists (at once, lease or not);
 * - `lease_expired`: its lease ran out (no heartbeat for a lease period).
 * An owner with our own instance id is ours (a claim left by an earlier cycle of this instance).
 */
export function takeoverReason(
  rec: HourRecord,
  me: OwnerIdentity,
  nowMs: number,
): 'own' | 'dead_process' | 'lease_expired' | undefined {
  return claimTakeoverReason(
    {
      ...(rec.owner === undefined ? {} : { owner: rec.owner }),
      ...(rec.ownerHost === undefined ? {} : { ownerHost: rec.ownerHost }),
      ...(rec.ownerPid === undefined ? {} : { ownerPid: rec.ownerPid }),
      ...(rec.leaseUntil === undefined ? {} : { leaseUntilMs: Date.parse(rec.leaseUntil) }),
    },
    me,
    nowMs,
  );
}
