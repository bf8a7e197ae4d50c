/**
 * Which member should own each resource: balanced rendezvous hashing. Every task computes the same
 * assignment from the same (sorted) member and resource lists. Each member gets at most
 * ceil(resources / members) resources; within that cap a resource goes to the member with the
 * highest hash weight for it, so a join or leave moves few resources, and two shards never both go
 * to one of two tasks.
 */
import { createHash } from 'node:crypto';

function weight(resource: string, member: string): bigint {
  return createHash('sha256').update(`${resource}\u0000${member}`).digest().readBigUInt64BE(0);
}

/** The member each resource should belong to (none when there are no members). */
export function assignResources(
  resources: readonly string[],
  members: readonly string[],
): Map<string, string> {
  const out = new Map<string, string>();
  if (members.length === 0) return out;
  const sortedMembers = [...new Set(members)].sort();
  const cap = Math.ceil(resources.length / sortedMembers.length);
  const load = new Map(sortedMembers.map((m) => [m, 0]));
  for (const resource of [...new Set(resources)].sort()) {
    const ranked = sortedMembers
      .map((m) => ({ m, w: weight(resource, m) }))
      .sort((a, b) => (a.w === b.w ? a.m.localeCompare(b.m) : a.w > b.w ? -1 : 1));
    const chosen = ranked.find((r) => (load.get(r.m) ?? 0) < cap) ?? ranked[0]!;
    load.set(chosen.m, (load.get(chosen.m) ?? 0) + 1);
    out.set(resource, chosen.m);
  }
  return out;
}
