/**
 * Shard leases: with `coordination.enabled`, the `consume` tasks share a stream's shards the way the
 * KCL does. Each listed shard is a lease in group `shards/<consumer>/<stream>`; a task reads only the
 * shards it holds, each with a {@link FencedStateStore} so its checkpoints check the fencing token.
 * A child shard (after a reshard) is read once its listed parents' checkpoints say they ended,
 * whichever task read them. A shard that ended is handed back and no longer leased by this task.
 */
import type { Shard } from '@aws-sdk/client-kinesis';
import {
  type CoordinationConfig,
  type Fence,
  FencedStateStore,
  type HeldLease,
  LeaseCoordinator,
  type OwnerIdentity,
} from '../../coordination/index.js';
import { sleepUntilAborted as sleep } from '../../retry/index.js';
import { checkpointKey, type ShardCheckpoint } from './checkpoint.js';
import type { ShardHost, ShardWorker, Signals } from './shard.js';

/** How often a child shard checks whether its parents ended, ms. */
const PARENT_POLL_MS = 1_000;

/** What the leases need from the writer. */
export interface LeasedShardHost extends ShardHost {
  /** Creates (not starts) a worker for a leased shard. */
  newWorker(shardId: string, leased: ConstructorParameters<typeof ShardWorker>[3]): ShardWorker;
  /** Worker of a shard, while this task reads it. */
  workers: Map<string, ShardWorker>;
  readonly signals: Signals;
}

/** Shard leases of one bronze writer; see the module comment. */
export class ShardLeases {
  private listed = new Map<string, Shard>();
  /** Shards known to have ended (never leased again by this task). */
  private readonly ended = new Set<string>();
  private readonly controllers = new Map<string, AbortController>();
  private readonly coordinator: LeaseCoordinator;

  constructor(
    private readonly host: LeasedShardHost,
    config: CoordinationConfig,
    me: OwnerIdentity,
  ) {
    const cfg = host.config;
    this.coordinator = new LeaseCoordinator({
      state: host.state,
      group: `shards/${cfg.name}/${cfg.streamName}`,
      kind: 'shard',
      me,
      leaseMs: config.leaseSecs * 1000,
      heartbeatMs: config.heartbeatIntervalSecs * 1000,
      resources: () => [...this.listed.keys()].filter((id) => !this.ended.has(id)),
      onAcquired: (lease, fence) => this.startWorker(lease, fence),
      onStopping: (shardId) => this.stopWorker(shardId),
      logger: host.log,
    });
  }

  /** Takes this task's share of the listed shards, then keeps rebalancing every heartbeat. */
  async start(shards: Shard[]): Promise<void> {
    this.update(shards);
    await this.coordinator.start();
  }

  /** A new listing: shards appear (a reshard) or disappear (trimmed). */
  update(shards: Shard[]): void {
    this.listed = new Map(shards.flatMap((s) => (s.ShardId ? [[s.ShardId, s] as const] : [])));
  }

  /** A shard this task read to its end: hand its lease back; nobody needs to read it again. */
  markEnded(shardId: string): void {
    this.ended.add(shardId);
  }

  /** Shards this task holds. */
  held(): string[] {
    return this.coordinator.heldResources();
  }

  /** Stops every worker (they flush and checkpoint first), releases the leases, leaves the group. */
  stop(): Promise<void> {
    return this.coordinator.stop();
  }

  private parentsOf(shardId: string): string[] {
    const s = this.listed.get(shardId);
    return [s?.ParentShardId, s?.AdjacentParentShardId].filter(
      (p): p is string => p !== undefined && this.listed.has(p),
    );
  }

  private startWorker(lease: HeldLease, fence: Fence): void {
    const shardId = lease.resource;
    const parents = this.parentsOf(shardId);
    const state = new FencedStateStore(this.host.state, fence);
    const worker = this.host.newWorker(shardId, {
      state,
      hasParents: parents.length > 0,
      parentsEnded: (stop) => this.waitParentsEnded(parents, stop),
    });
    const controller = new AbortController();
    this.controllers.set(shardId, controller);
    this.host.workers.set(shardId, worker);
    const { stop, abandon } = this.host.signals;
    worker.start({ stop: AbortSignal.any([stop, controller.signal]), abandon });
    void worker.ended.then(() => this.markEnded(shardId));
  }

  private async stopWorker(shardId: string): Promise<void> {
    const worker = this.host.workers.get(shardId);
    this.controllers.get(shardId)?.abort(this.host.signals.stop.reason ?? new Error('shard handed off'));
    await worker?.done;
    this.controllers.delete(shardId);
    if (this.host.workers.get(shardId) === worker) this.host.workers.delete(shardId);
  }

  /** Resolves once every parent's checkpoint says it ended (or `stop` aborts). */
  private async waitParentsEnded(parents: string[], stop: AbortSignal): Promise<void> {
    const cfg = this.host.config;
    for (const parent of parents) {
      for (;;) {
        if (this.ended.has(parent) || stop.aborted) break;
        const cp = await this.host.state
          .get<ShardCheckpoint>(checkpointKey(cfg.name, cfg.streamName, parent))
          .catch(() => undefined);
        if (cp?.value.shardEnd) {
          this.ended.add(parent);
          break;
        }
        await sleep(PARENT_POLL_MS, stop).catch(() => undefined);
      }
    }
  }
}
