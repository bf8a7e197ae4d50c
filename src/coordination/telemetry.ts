/** Metrics of lease coordination (source and shard leases). */
import { counter, gauge } from '../telemetry/index.js';

/**
 * 1 while this task holds the lease of a source, 0 once it gave it up or lost it. Summed over the
 * run tasks (each is its own Prometheus target), every source should be at 1.
 */
export const sourceLeaseOwner = gauge(
  'ingest_source_lease_owner',
  'Whether this task holds the lease of a source (1) or not (0); summed over tasks it should be 1 per source.',
  ['source'],
);

/** Leases taken, by kind (`source`, `shard`) and how (`new`, `released`, `dead_process`, `lease_expired`, `own`). */
export const leaseAcquiredTotal = counter(
  'ingest_lease_acquired_total',
  'Leases this task took, by kind (source, shard) and reason (new, released, dead_process, lease_expired, own).',
  ['kind', 'reason'],
);

/** Leases lost to another task or to a failed heartbeat (the work stopped without releasing). */
export const leaseLostTotal = counter(
  'ingest_lease_lost_total',
  'Leases this task lost (taken over by another task, or not renewed in time), by kind.',
  ['kind'],
);
