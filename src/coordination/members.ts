/**
 * Who is in a lease group: one item `members/<group>` listing every live task with its own expiry.
 * Each task rewrites its entry every heartbeat (read, modify, conditional write; retried on a
 * conflict), and drops entries that ran out or whose process is gone (same host). With at most a few
 * dozen tasks (the CDK app caps the run service at 50) the item stays a few KB.
 */
import { StateConflictError } from '../errors.js';
import type { StateStore } from '../state/index.js';
import { claimTakeoverReason, type OwnerIdentity } from './owner.js';

interface MemberEntry {
  host: string;
  pid: number;
  untilMs: number;
}

interface MembersRecord {
  members: Record<string, MemberEntry>;
}

/** Conflicting writers retry this many times per heartbeat before giving up until the next one. */
const MAX_ATTEMPTS = 8;

/** The live members of a group. */
export class Membership {
  private readonly key: string;

  constructor(
    private readonly state: StateStore,
    group: string,
    private readonly me: OwnerIdentity,
    private readonly leaseMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.key = `members/${group}`;
  }

  /**
   * Renews this task's entry (or removes it when `leaving`) and returns the live members' ids, sorted.
   * @throws StorageError when the store fails; StateConflictError after {@link MAX_ATTEMPTS} conflicts.
   */
  async heartbeat(leaving = false): Promise<string[]> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.state.get<MembersRecord>(this.key);
      const now = this.now();
      const members: Record<string, MemberEntry> = {};
      for (const [id, m] of Object.entries(current?.value.members ?? {})) {
        if (id === this.me.instanceId) continue;
        const gone = claimTakeoverReason(
          { owner: id, ownerHost: m.host, ownerPid: m.pid, leaseUntilMs: m.untilMs },
          this.me,
          now,
        );
        if (gone === undefined) members[id] = m;
      }
      if (!leaving)
        members[this.me.instanceId] = { host: this.me.host, pid: this.me.pid, untilMs: now + this.leaseMs };
      try {
        await this.state.put<MembersRecord>(
          this.key,
          { members },
          { expectedVersion: current?.version ?? 0 },
        );
        return Object.keys(members).sort();
      } catch (err) {
        if (!(err instanceof StateConflictError) || attempt >= MAX_ATTEMPTS) throw err;
        await new Promise((r) => setTimeout(r, Math.random() * 20 * attempt));
      }
    }
  }
}
