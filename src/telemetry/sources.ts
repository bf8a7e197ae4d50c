/**
 * Per-source health metrics that several components set and `ingest status` reads (issue 10, item 6):
 * freshness and rate-limit headroom. The last successful poll is
 * `ingest_source_last_success_timestamp_seconds` (src/pollers/http/telemetry.ts), the lease owner
 * {@link sourceLeaseOwner} (set by src/coordination).
 *
 * @module
 */
import { counter, gauge } from './index.js';

/**
 * Unix time, in seconds, of the newest record a source delivered: its `event_time`, else its cursor
 * when the cursor is a time. Freshness is `time() - ingest_source_newest_record_timestamp_seconds`.
 */
export const sourceNewestRecordTimestampSeconds = gauge(
  'ingest_source_newest_record_timestamp_seconds',
  'Unix time in seconds of the newest record a source delivered (event_time, else a time cursor); freshness = now - this.',
  ['source'],
);

/** Requests left in the API's current rate-limit window, as its last response's headers said. */
export const sourceRateLimitRemaining = gauge(
  'ingest_source_ratelimit_remaining',
  "Requests left in the API's current rate-limit window, from its last response's rate-limit headers.",
  ['source'],
);

/** The API's quota per window, as its last response's headers said. */
export const sourceRateLimitLimit = gauge(
  'ingest_source_ratelimit_limit',
  "The API's request quota per rate-limit window, from its last response's rate-limit headers.",
  ['source'],
);

/** Seconds until the API's rate-limit window resets, as its last response's headers said. */
export const sourceRateLimitResetSeconds = gauge(
  'ingest_source_ratelimit_reset_seconds',
  "Seconds until the API's rate-limit window resets, from its last response's rate-limit headers.",
  ['source'],
);

/** Requests the poller waited out because the API's headers said the budget was nearly spent. */
export const sourceRateLimitSlowdownsTotal = counter(
  'ingest_source_ratelimit_slowdowns_total',
  "Times the limiter slowed a source down because the API's rate-limit headers said its budget was nearly spent (before a 429).",
  ['source'],
);

/** Records whose cursor field was absent or unreadable (they are delivered but do not move the cursor). */
export const sourceCursorUnreadableTotal = counter(
  'ingest_source_cursor_unreadable_total',
  'Records whose configured cursor field was absent or unreadable: delivered, but they do not move the cursor.',
  ['source'],
);

/**
 * 1 for the task that holds a source's lease (`owner` = its instance id), set by the lease engine
 * (src/coordination/sources.ts); the series is removed when the lease is given up or lost.
 * `ingest status` shows the owner.
 */
export const sourceLeaseOwner = gauge(
  'ingest_source_lease_owner',
  'Lease holder of a source: 1 for the owner task (label owner); absent when this task does not hold it.',
  ['source', 'owner'],
);
