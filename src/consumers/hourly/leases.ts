/**
 * Hour leases: who owns an hour, whether that owner is still alive, and the heartbeat that renews
 * the leases of the hours a scheduler works on (the way the KCL renews shard leases).
 */
import { hostname } from 'node:os';
import { pidAlive } from '../../runtime/children.js';
import type { HourRecord } from './records.js';

/** Where an owner runs; recorded in the hours it claims. */
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
  if (rec.owner === me.instanceId) return 'own';
  if (
    rec.ownerHost === me.host &&
    rec.ownerPid !== undefined &&
    rec.ownerPid !== me.pid &&
    !pidAlive(rec.ownerPid)
  ) {
    return 'dead_process';
  }
  if (rec.leaseUntil === undefined || nowMs >= Date.parse(rec.leaseUntil)) return 'lease_expired';
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
    this.timer = setInterval(() => {
      if (this.inFlight) return;
      this.inFlight = this.renew()
        .catch(() => undefined)
        .finally(() => {
          this.inFlight = undefined;
        });
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Stops the timer and waits for a renewal in flight. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.inFlight;
  }
}
