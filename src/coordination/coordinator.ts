/**
 * The lease loop of one task in one group: every heartbeat it renews its membership and its leases,
 * gives up the resources another live member should own (after stopping their work), and takes the
 * ones it should own (see {@link assignResources}) once they are free. A dead task's resources are
 * free once its lease runs out, or at once when it ran on this host and its process is gone.
 */
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { StateStore } from '../state/index.js';
import { assignResources } from './assign.js';
import { LeaseLostError } from './errors.js';
import { type HeldLease, LeaseTable } from './lease.js';
import { Membership } from './members.js';
import { LeaseHeartbeat, type OwnerIdentity } from './owner.js';
import { leaseAcquiredTotal, leaseLostTotal } from './telemetry.js';

/** Checks that a lease is still held; every fenced state write calls it first. @throws LeaseLostError */
export type Fence = () => Promise<void>;

/** Why work on a resource stops. */
export type StopReason = 'rebalance' | 'lost' | 'stopping' | 'gone';

export interface LeaseCoordinatorOptions {
  state: StateStore;
  /** Lease group, e.g. `sources` or `shards/<consumer>/<stream>`. */
  group: string;
  /** `source` or `shard`: the metrics' `kind` label. */
  kind: 'source' | 'shard';
  me: OwnerIdentity;
  /** Lease length, ms. */
  leaseMs: number;
  /** Heartbeat interval, ms (less than a third of {@link leaseMs} leaves two retries). */
  heartbeatMs: number;
  /** The resources to share, asked every heartbeat (shards change after a reshard). */
  resources: () => readonly string[];
  /** Starts work on a resource whose lease this task took; state writes must go through `fence`. */
  onAcquired: (lease: HeldLease, fence: Fence) => void | Promise<void>;
  /** Stops work on a resource; resolves once nothing more is written for it. Never rejects. */
  onStopping: (resource: string, why: StopReason) => Promise<void>;
  logger: Logger;
  now?: () => number;
}

/** See the module comment. */
export class LeaseCoordinator {
  readonly table: LeaseTable;
  private readonly membership: Membership;
  private readonly held = new Map<string, HeldLease>();
  /** Resources whose work is being stopped before the lease is released. */
  private readonly releasing = new Map<string, Promise<void>>();
  private readonly heartbeat: LeaseHeartbeat;
  private members: string[] = [];
  /** Set by {@link stop}: no more acquisitions; renewals go on until the work stopped. */
  private stopping = false;
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(private readonly options: LeaseCoordinatorOptions) {
    this.now = options.now ?? Date.now;
    this.table = new LeaseTable(options.state, options.group, options.me, options.leaseMs, this.now);
    this.membership = new Membership(options.state, options.group, options.me, options.leaseMs, this.now);
    this.heartbeat = new LeaseHeartbeat(options.heartbeatMs, () => this.round());
    this.log = options.logger.child({
      component: 'leases',
      group: options.group,
      instance: options.me.instanceId,
    });
  }

  /** Joins the group, runs the first round (so leases are taken before it resolves), then beats. */
  async start(): Promise<void> {
    await this.heartbeat.beat();
    this.heartbeat.start();
  }

  /** Resources this task holds now. */
  heldResources(): string[] {
    return [...this.held.keys()].sort();
  }

  /** Resolves once the hand-offs started so far are done. */
  async handOffsDone(): Promise<void> {
    await Promise.all([...this.releasing.values()]);
  }

  /** Live members seen at the last heartbeat. */
  liveMembers(): string[] {
    return [...this.members];
  }

  /**
   * Runs one round now (membership, renewals, hand-offs, acquisitions), or waits for the one in
   * flight: rounds never overlap (two renewals of one lease would make the second fail). Never rejects.
   */
  tick(): Promise<void> {
    return this.heartbeat.beat();
  }

  private async round(): Promise<void> {
    // Renewals first and side by side: a slow store must not let a held lease run out.
    const members = this.membership.heartbeat(this.stopping).then(
      (m) => {
        this.members = m;
      },
      (err: unknown) => {
        this.log.warn(
          { event: 'membership_failed', err: describeError(err) },
          'Cannot renew lease group membership.',
        );
      },
    );
    await Promise.all([this.renewAll(), members]);
    if (this.stopping) return;
    const me = this.options.me.instanceId;
    const resources = this.options.resources();
    // Held resources no longer to share (a shard that ended): stop and release.
    const current = new Set(resources);
    for (const r of this.held.keys()) if (!current.has(r)) void this.handOff(r, 'gone');
    const plan = assignResources(resources, this.members.includes(me) ? this.members : [...this.members, me]);
    for (const resource of resources) {
      const preferred = plan.get(resource);
      if (this.held.has(resource)) {
        if (preferred !== me && !this.releasing.has(resource)) void this.handOff(resource, 'rebalance');
        continue;
      }
      if (preferred !== me) continue;
      try {
        const lease = await this.table.tryAcquire(resource);
        if (!lease || this.stopping) {
          if (lease) await this.table.release(lease);
          continue;
        }
        this.held.set(resource, lease);
        leaseAcquiredTotal.inc({ kind: this.options.kind, reason: lease.reason });
        this.log.info(
          {
            event: 'lease_acquired',
            resource,
            fencingToken: lease.token,
            reason: lease.reason,
            previousOwner: lease.previousOwner ?? null,
          },
          'Lease acquired.',
        );
        await this.options.onAcquired(lease, () => this.table.check(resource, lease.token));
      } catch (err) {
        this.log.warn(
          { event: 'lease_acquire_failed', resource, err: describeError(err) },
          'Cannot take a lease.',
        );
      }
    }
  }

  private async renewAll(): Promise<void> {
    await Promise.all([...this.held.values()].map((lease) => this.renewOne(lease)));
  }

  private async renewOne(lease: HeldLease): Promise<void> {
    try {
      await this.table.renew(lease);
    } catch (err) {
      const lost = err instanceof LeaseLostError;
      // Not renewed: stop working a third of a lease before it runs out, so the next owner (who
      // waits for it to run out) never works beside this task.
      if (!lost && this.now() < lease.leaseUntilMs - this.options.leaseMs / 3) {
        this.log.warn(
          { event: 'lease_renew_failed', resource: lease.resource, err: describeError(err) },
          'Cannot renew a lease: retrying at the next heartbeat.',
        );
        return;
      }
      this.held.delete(lease.resource);
      leaseLostTotal.inc({ kind: this.options.kind });
      this.log.warn(
        {
          event: 'lease_lost',
          resource: lease.resource,
          fencingToken: lease.token,
          err: describeError(err),
        },
        'Lease lost: stopping its work.',
      );
      void this.options.onStopping(lease.resource, 'lost');
    }
  }

  /** Stops the work on a resource, then releases its lease (renewed meanwhile). */
  private handOff(resource: string, why: StopReason): Promise<void> {
    const existing = this.releasing.get(resource);
    if (existing) return existing;
    const p = (async () => {
      await this.options.onStopping(resource, why);
      const lease = this.held.get(resource);
      if (lease) {
        this.held.delete(resource);
        await this.table.release(lease).catch((err: unknown) => {
          this.log.warn(
            { event: 'lease_release_failed', resource, err: describeError(err) },
            'Cannot release a lease: it runs out by itself.',
          );
        });
        this.log.info(
          { event: 'lease_released', resource, fencingToken: lease.token, why },
          'Lease released.',
        );
      }
    })().finally(() => this.releasing.delete(resource));
    this.releasing.set(resource, p);
    return p;
  }

  /**
   * Leaves the group, stops every piece of work and releases its lease (renewing the leases until
   * then, so a slow stop never overlaps the next owner). Never rejects.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await this.membership.heartbeat(true).catch(() => undefined);
    await Promise.all([...this.held.keys()].map((r) => this.handOff(r, 'stopping')));
    await Promise.all([...this.releasing.values()]);
    await this.heartbeat.stop();
  }
}
