/**
 * Which member should own a resource: rendezvous (highest-random-weight) hashing. Every task computes
 * the same answer from the same member list, and when a member joins or leaves only the resources it
 * gains or had move (about 1/N of them).
 */
import { createHash } from 'node:crypto';

function weight(resource: string, member: string): bigint {
  return createHash('sha256').update(`${resource}\u0000${member}`).digest().readBigUInt64BE(0);
}

/** The member that should own `resource`, or `undefined` when there are no members. */
export function preferredOwner(resource: string, members: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestWeight = -1n;
  for (const m of members) {
    const w = weight(resource, m);
    if (w > bestWeight || (w === bestWeight && best !== undefined && m < best)) {
      best = m;
      bestWeight = w;
    }
  }
  return best;
}
