/**
 * Who owns a lease, whether that owner is still alive, and the heartbeat that renews leases (the way
 * the KCL renews shard leases). Shared by source leases, shard leases and the hourly scheduler's hours.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { pidAlive } from '../runtime/children.js';

/** Where an owner runs; recorded in what it claims. */
export interface OwnerIdentity {
  /** Instance id (`<hostname>:<pid>:<random>` by default). */
  instanceId: string;
  host: string;
  pid: number;
}

/** This process as an owner. */
export function processOwner(instanceId: string, host: string = hostname()): OwnerIdentity {
  return { instanceId, host, pid: process.pid };
}

/** A fresh instance id for this process: `<hostname>:<pid>:<8 random hex digits>`. */
export function newInstanceId(): string {
  return `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
}

/** What a claim records about its owner (every field optional: older records may lack some). */
export interface ClaimOwner {
  owner?: string;
  ownerHost?: string;
  ownerPid?: number;
  /** When the claim runs out, ms since the epoch. */
  leaseUntilMs?: number;
}

/**
 * Why a claim can be taken over now, or `undefined` while its owner holds it:
 * - `own`: the owner has our own instance id;
 * - `dead_process`: the owner ran on this host and its process no longer exists (at once);
 * - `lease_expired`: its lease ran out (no heartbeat for a lease period), or it has none.
 */
export function claimTakeoverReason(
  claim: ClaimOwner,
  me: OwnerIdentity,
  nowMs: number,
): 'own' | 'dead_process' | 'lease_expired' | undefined {
  if (claim.owner === me.instanceId) return 'own';
  if (
    claim.ownerHost === me.host &&
    claim.ownerPid !== undefined &&
    claim.ownerPid !== me.pid &&
    !pidAlive(claim.ownerPid)
  ) {
    return 'dead_process';
  }
  if (claim.leaseUntilMs === undefined || nowMs >= claim.leaseUntilMs) return 'lease_expired';
  return undefined;
}

/**
 * Calls `renew` every `intervalMs` until stopped; a renewal still running when the next one is due is
 * not overlapped. The timer does not keep the process alive.
 */
export class LeaseHeartbeat {
  private timer?: NodeJS.Timeout;
  private inFlight?: Promise<void>;

  constructor(
    private readonly intervalMs: number,
    private readonly renew: () => Promise<void>,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.beat(), this.intervalMs);
    this.timer.unref();
  }

  /** Runs a renewal now unless one is in flight; resolves when it is done. */
  beat(): Promise<void> {
    this.inFlight ??= this.renew()
      .catch(() => undefined)
      .finally(() => {
        this.inFlight = undefined;
      });
    return this.inFlight;
  }

  /** Stops the timer and waits for a renewal in flight. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.inFlight;
  }
}
