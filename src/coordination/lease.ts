/**
 * One group of leases in the state store, one item per resource at `lease/<group>/<resource>`: a
 * conditional write takes or renews a lease, a heartbeat extends it, and a fencing token (incremented
 * by every takeover) lets each state write check that its writer still owns the resource.
 */
import { StateConflictError } from '../errors.js';
import type { StateStore, Versioned } from '../state/index.js';
import { LeaseLostError } from './errors.js';
import { claimTakeoverReason, type OwnerIdentity } from './owner.js';

/** A lease as stored. */
export interface LeaseRecord {
  owner: string;
  ownerHost: string;
  ownerPid: number;
  /** Fencing token: 1 for the first owner, +1 on every takeover; never reused. */
  token: number;
  /** When the lease runs out without a heartbeat, ms since the epoch (0 once released). */
  leaseUntilMs: number;
  /** Set when the owner gave the resource up (it can be taken at once). */
  released?: boolean;
}

/** A lease this task holds. */
export interface HeldLease {
  resource: string;
  token: number;
  /** Version of the lease item last written by this task. */
  version: number;
  leaseUntilMs: number;
  /** How it was acquired: `new` (never leased), `released`, `dead_process`, `lease_expired` or `own`. */
  reason: AcquireReason;
  /** Previous owner's instance id, when taken over. */
  previousOwner?: string;
}

export type AcquireReason = 'new' | 'released' | 'dead_process' | 'lease_expired' | 'own';

/** The state-store key of a lease. */
export function leaseKey(group: string, resource: string): string {
  return `lease/${group}/${resource}`;
}

/** Leases of one group (e.g. `source/<run group>` or `shard/<consumer>/<stream>`) for one owner. */
export class LeaseTable {
  constructor(
    private readonly state: StateStore,
    readonly group: string,
    readonly me: OwnerIdentity,
    /** Lease length, ms. */
    readonly leaseMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Reads a lease. @throws StorageError */
  read(resource: string): Promise<Versioned<LeaseRecord> | undefined> {
    return this.state.get<LeaseRecord>(leaseKey(this.group, resource));
  }

  /**
   * Takes a lease when it is free: never leased, released, ours, its owner's process is gone (same
   * host) or it ran out. One conditional write: of two tasks racing, one wins.
   * @returns the held lease, or `undefined` while another owner holds it (or won the race).
   * @throws StorageError when the store fails.
   */
  async tryAcquire(resource: string): Promise<HeldLease | undefined> {
    const current = await this.read(resource);
    const now = this.now();
    let reason: AcquireReason;
    if (!current) reason = 'new';
    else if (current.value.released) reason = 'released';
    else {
      const why = claimTakeoverReason(current.value, this.me, now);
      if (why === undefined) return undefined;
      reason = why;
    }
    const token = (current?.value.token ?? 0) + 1;
    const record: LeaseRecord = {
      owner: this.me.instanceId,
      ownerHost: this.me.host,
      ownerPid: this.me.pid,
      token,
      leaseUntilMs: now + this.leaseMs,
    };
    try {
      const version = await this.state.put(leaseKey(this.group, resource), record, {
        expectedVersion: current?.version ?? 0,
      });
      return {
        resource,
        token,
        version,
        leaseUntilMs: record.leaseUntilMs,
        reason,
        ...(current && current.value.owner !== this.me.instanceId
          ? { previousOwner: current.value.owner }
          : {}),
      };
    } catch (err) {
      if (err instanceof StateConflictError) return undefined;
      throw err;
    }
  }

  /**
   * Extends a held lease by one lease period (conditional on the version this task last wrote).
   * @throws LeaseLostError when another task wrote the lease since; StorageError when the store fails.
   */
  async renew(held: HeldLease): Promise<void> {
    const leaseUntilMs = this.now() + this.leaseMs;
    const record: LeaseRecord = {
      owner: this.me.instanceId,
      ownerHost: this.me.host,
      ownerPid: this.me.pid,
      token: held.token,
      leaseUntilMs,
    };
    try {
      held.version = await this.state.put(leaseKey(this.group, held.resource), record, {
        expectedVersion: held.version,
      });
      held.leaseUntilMs = leaseUntilMs;
    } catch (err) {
      if (err instanceof StateConflictError) {
        throw new LeaseLostError(`lease ${this.group}/${held.resource} was taken over`, { cause: err });
      }
      throw err;
    }
  }

  /** Gives a held lease up so another task can take it at once. A lost lease is left alone. */
  async release(held: HeldLease): Promise<void> {
    const record: LeaseRecord = {
      owner: this.me.instanceId,
      ownerHost: this.me.host,
      ownerPid: this.me.pid,
      token: held.token,
      leaseUntilMs: 0,
      released: true,
    };
    try {
      await this.state.put(leaseKey(this.group, held.resource), record, { expectedVersion: held.version });
    } catch (err) {
      if (!(err instanceof StateConflictError)) throw err;
    }
  }

  /**
   * The fence: reads the lease (strongly consistent in DynamoDB) and throws unless this task still
   * holds it with the same token and it has not run out.
   * @throws LeaseLostError; StorageError when the store fails.
   */
  async check(resource: string, token: number): Promise<void> {
    const current = await this.read(resource);
    const v = current?.value;
    if (!v || v.owner !== this.me.instanceId || v.token !== token || v.released) {
      throw new LeaseLostError(
        `lease ${this.group}/${resource} (token ${token}) is now ${v ? `held by ${v.owner} with token ${v.token}${v.released ? ', released' : ''}` : 'absent'}`,
      );
    }
    if (this.now() >= v.leaseUntilMs) {
      throw new LeaseLostError(`lease ${this.group}/${resource} (token ${token}) ran out`);
    }
  }
}
