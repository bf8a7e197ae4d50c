/**
 * Sources shared across `run` tasks: each configured source is a {@link LeasedSource} that polls only
 * while this task holds its lease. On taking the lease it builds the real source with a
 * {@link FencedStateStore} (every cursor, ETag and seen-entity write checks the fencing token) and
 * starts it; on losing or handing off the lease it stops it (the in-flight poll finishes delivering
 * first) before the lease is released.
 */
import type { Logger } from '../log.js';
import { type PollResult, type Source, type SourceStats, zeroStats } from '../pollers/types.js';
import type { StateStore } from '../state/index.js';
import { sourceLeaseOwner } from '../telemetry/sources.js';
import type { CoordinationConfig } from './config.js';
import { type Fence, LeaseCoordinator, type StopReason } from './coordinator.js';
import { LeaseLostError } from './errors.js';
import { FencedStateStore } from './fenced.js';
import type { HeldLease } from './lease.js';
import type { OwnerIdentity } from './owner.js';

const ZERO: SourceStats = zeroStats();

function addStats(a: SourceStats, b: SourceStats): SourceStats {
  const out = { ...a };
  for (const k of Object.keys(ZERO) as (keyof SourceStats)[]) out[k] = a[k] + b[k];
  return out;
}

/** A source that polls only while this task holds its lease; see the module comment. */
export class LeasedSource implements Source {
  private inner?: Source;
  /** Totals of the earlier leases of this source in this task. */
  private past: SourceStats = { ...ZERO };
  private stopping?: Promise<void>;
  /** The fencing token of the current lease. */
  token?: number;

  constructor(
    readonly name: string,
    /** Builds the real source on the given (fenced) state store. */
    private readonly build: (state: StateStore) => Source,
    private readonly state: StateStore,
    /** This task's instance id: the `owner` label of `ingest_source_lease_owner`. */
    private readonly owner: string,
  ) {}

  /** Whether this task polls the source now. */
  get active(): boolean {
    return this.inner !== undefined;
  }

  /** Polling starts when the lease is taken (see {@link LeasedSourceGroup}). */
  start(): void {}

  /** Builds and starts the real source under a lease. */
  activate(lease: HeldLease, fence: Fence): void {
    if (this.inner) return;
    this.inner = this.build(new FencedStateStore(this.state, fence));
    this.token = lease.token;
    sourceLeaseOwner.set({ source: this.name, owner: this.owner }, 1);
    this.inner.start();
  }

  /** Stops the real source (its in-flight poll finishes delivering). Never rejects. */
  async deactivate(): Promise<void> {
    const inner = this.inner;
    if (!inner) return;
    await inner.stop().catch(() => undefined);
    this.past = addStats(this.past, inner.stats());
    if (this.inner === inner) this.inner = undefined;
    this.token = undefined;
    sourceLeaseOwner.remove({ source: this.name, owner: this.owner });
  }

  /** @throws LeaseLostError when this task does not hold the source's lease; else as the source. */
  pollOnce(): Promise<PollResult> {
    if (!this.inner) {
      return Promise.reject(new LeaseLostError(`source ${this.name} is leased by another task`));
    }
    return this.inner.pollOnce();
  }

  stop(): Promise<void> {
    this.stopping ??= this.deactivate();
    return this.stopping;
  }

  stats(): SourceStats {
    return this.inner ? addStats(this.past, this.inner.stats()) : { ...this.past };
  }
}

/** The run task's leased sources and their coordinator. */
export class LeasedSourceGroup {
  readonly sources: LeasedSource[];
  private readonly coordinator: LeaseCoordinator;

  constructor(options: {
    names: readonly string[];
    build: (name: string, state: StateStore) => Source;
    state: StateStore;
    config: CoordinationConfig;
    me: OwnerIdentity;
    logger: Logger;
  }) {
    const { state, config } = options;
    this.sources = options.names.map(
      (name) => new LeasedSource(name, (fenced) => options.build(name, fenced), state, options.me.instanceId),
    );
    const byName = new Map(this.sources.map((s) => [s.name, s]));
    this.coordinator = new LeaseCoordinator({
      state,
      group: config.group,
      kind: 'source',
      me: options.me,
      leaseMs: config.leaseSecs * 1000,
      heartbeatMs: config.heartbeatIntervalSecs * 1000,
      resources: () => options.names,
      onAcquired: (lease, fence) => byName.get(lease.resource)?.activate(lease, fence),
      onStopping: async (resource: string, _why: StopReason) => {
        await byName.get(resource)?.deactivate();
      },
      logger: options.logger,
    });
  }

  /** Joins the group and takes this task's share of the sources (polling starts at once). */
  start(): Promise<void> {
    return this.coordinator.start();
  }

  /** Sources this task polls now. */
  held(): string[] {
    return this.coordinator.heldResources();
  }

  /** Stops polling and releases every lease. */
  stop(): Promise<void> {
    return this.coordinator.stop();
  }
}
