/**
 * Metrics shared by every sink (each sink's own metrics live in its folder's `telemetry.ts`).
 */
import { gauge } from '../telemetry/index.js';

/**
 * Seconds a sink's calls have been failing without a single success since; 0 while healthy.
 * Computed at scrape time.
 */
export const producerFailingSeconds = gauge(
  'ingest_producer_failing_seconds',
  'Seconds the sink has been failing (no call accepted a record since the first failure); 0 when healthy. Records are held and retried meanwhile.',
  ['sink'],
);
