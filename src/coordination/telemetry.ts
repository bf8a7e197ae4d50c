/** Metrics of lease coordination (source and shard leases). */
import { counter } from '../telemetry/index.js';

// The source lease owner gauge, `ingest_source_lease_owner{source, owner}`, lives with the other
// per-source health metrics in src/telemetry/sources.ts (`ingest status` reads it).

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
