/**
 * Lease coordination (ADR 0013): sources shared across `run` tasks and stream shards across
 * `consume` tasks the way the KCL shares shards, through leases in the state store (a conditional
 * write, a heartbeat and a fencing token that every state write checks). DynamoDB in AWS, the local
 * store locally.
 */

export { sourceLeaseOwner } from '../telemetry/sources.js';
export { assignResources } from './assign.js';
export { COORDINATION_DEFAULTS, type CoordinationConfig, CoordinationSchema } from './config.js';
export {
  type Fence,
  LeaseCoordinator,
  type LeaseCoordinatorOptions,
  type StopReason,
} from './coordinator.js';
export { LeaseLostError } from './errors.js';
export { FencedStateStore } from './fenced.js';
export { type AcquireReason, type HeldLease, type LeaseRecord, LeaseTable, leaseKey } from './lease.js';
export { Membership } from './members.js';
export {
  claimTakeoverReason,
  LeaseHeartbeat,
  newInstanceId,
  type OwnerIdentity,
  processOwner,
} from './owner.js';
export { LeasedSource, LeasedSourceGroup } from './sources.js';
export { leaseAcquiredTotal, leaseLostTotal } from './telemetry.js';
