/** Metrics of dead-letter replay (`ingest dead-letters replay`). */
import { counter } from '../telemetry/index.js';

/**
 * Dead letters replayed, by source and outcome: `delivered` (the sink accepted it), `dead_lettered`
 * (rejected again, written to a new dead-letter object), `skipped` (not a record envelope: nothing
 * to send).
 */
export const deadLetterReplayedRecordsTotal = counter(
  'ingest_dead_letter_replayed_records_total',
  'Dead letters replayed through the sink, by source and outcome: delivered, dead_lettered (rejected again), skipped (not a record envelope).',
  ['source', 'outcome'],
);
