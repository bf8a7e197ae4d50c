/**
 * Every metric of the HTTP poller, in one place (Prometheus naming: base units in the name, `_total`
 * for counters). All are registered in the process registry of `src/telemetry`, so several sources
 * (and tests) share one series set, told apart by the `source` label.
 *
 * A retry is counted in {@link sourceRetriesTotal} only; {@link sourceErrorsTotal} counts failed
 * polls (one per poll that gave up), never an attempt that was retried.
 *
 * @module
 */
import { counter, gauge, histogram } from '../../telemetry/index.js';

/** HTTP requests sent, by `status`: the status code (`200`, `304`, `503`) or a failure class (`timeout`, `network`). */
export const sourceRequestsTotal = counter(
  'ingest_source_requests_total',
  'HTTP requests sent to a source, by response status code or failure class.',
  ['source', 'status'],
);

/**
 * Records, by `outcome`: `polled` (received from the API), `emitted` (acknowledged by the sink),
 * `unchanged` (skipped by change detection), `dead_lettered` (the sink or the poller dead-lettered it).
 * `polled = emitted + unchanged + dead_lettered` once a poll has finished delivering.
 */
export const sourceRecordsTotal = counter(
  'ingest_source_records_total',
  'Records seen by a source, by outcome: polled, emitted, unchanged, dead_lettered.',
  ['source', 'outcome'],
);

/** Failed polls, by failure `class` (see `FailureClass` in src/errors.ts). */
export const sourceErrorsTotal = counter(
  'ingest_source_errors_total',
  'Polls that failed, by failure class. Retried attempts are not counted here.',
  ['source', 'class'],
);

/** Wall time of one poll (all pages, including deliveries), in seconds. */
export const sourcePollDurationSeconds = histogram(
  'ingest_source_poll_duration_seconds',
  'Duration of one poll of a source (every page, until the sink acknowledged), in seconds.',
  ['source'],
  [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
);

/** Circuit breaker state values of {@link sourceBreakerState}. */
export const BREAKER_STATE = { closed: 0, halfOpen: 1, open: 2 } as const;

/** Circuit breaker state: 0 closed, 1 half-open, 2 open. */
export const sourceBreakerState = gauge(
  'ingest_source_breaker_state',
  'Circuit breaker state of a source: 0 closed, 1 half-open, 2 open.',
  ['source'],
);

/** Requests waiting in the source's rate limiter (bottleneck `queued()`). */
export const sourceLimiterQueued = gauge(
  'ingest_source_limiter_queued',
  'Requests queued in the per-source rate limiter.',
  ['source'],
);

/** Unix time, in seconds, at which the source last completed a poll. */
export const sourceLastSuccessTimestampSeconds = gauge(
  'ingest_source_last_success_timestamp_seconds',
  'Unix time in seconds of the last successful poll of a source.',
  ['source'],
);

/** Requests retried after a retriable failure. */
export const sourceRetriesTotal = counter(
  'ingest_source_retries_total',
  'HTTP requests retried after a retriable failure (408, 429, 5xx, timeout, network).',
  ['source'],
);

/** Size of response bodies read, in bytes (no labels, to keep the series count low). */
export const sourceResponseBytes = histogram(
  'ingest_source_response_bytes',
  'Size of HTTP response bodies read from sources, in bytes.',
  [],
  [1_024, 4_096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304, 16_777_216, 67_108_864],
);

/** Polls cut short by `pagination.maxPages` (the pages after it were not fetched). */
export const sourcePagesTruncatedTotal = counter(
  'ingest_source_pages_truncated_total',
  'Polls that stopped at pagination.maxPages with more pages left; raise maxPages or poll more often.',
  ['source'],
);

/**
 * Rows of a page that share their entity key (`idField`) with a different record of the same page:
 * per duplicate key, its distinct records beyond the first. Such rows are tracked by record id
 * (ADR 0003); a steady count means `idField` does not identify the entity.
 */
export const sourceDuplicateKeysTotal = counter(
  'ingest_source_duplicate_keys_total',
  'Rows sharing their idField value with a different record in the same page (distinct records beyond the first per key).',
  ['source'],
);

/** Rows in which a configured `idField` path or `versionField` resolved to nothing, by `field`. */
export const sourceMissingKeyFieldsTotal = counter(
  'ingest_source_missing_key_fields_total',
  'Rows in which a configured idField path, versionField or partitionKeyField was absent, null or empty; the id falls back to a content hash, the partition key to <source>:<entity key>.',
  ['source', 'field'],
);

/**
 * Pagination links not followed because they point to an origin the source does not allow
 * (`url`'s origin and `allowedOrigins`); each ends its poll early.
 */
export const sourceOffOriginLinksTotal = counter(
  'ingest_source_offorigin_links_total',
  'Pagination links to an origin outside the source url and allowedOrigins: not followed, the poll ended there.',
  ['source'],
);
