/**
 * `ingest status --config FILE`: per-source health of the running roles, read from their `/metrics`
 * endpoints (issue 10, item 6): lease owner, freshness (now minus the newest record's event time or
 * cursor), last successful poll, the API's rate-limit headroom, and the breaker state.
 *
 * @module
 */
import { loadConfig } from '../config/load.js';
import { type Sample, scrape } from './scrape.js';

/** What the running roles say about one source. Times are seconds; absent when no role reports it. */
export interface SourceStatus {
  source: string;
  /** The `/metrics` endpoint the row comes from (the lease owner's, else the latest poller's). */
  endpoint?: string;
  /** Task holding the source's lease: the `owner` label of `ingest_source_lease_owner` (else its `/metrics` host:port). */
  owner?: string;
  /** Now minus the newest record's time (`ingest_source_newest_record_timestamp_seconds`). */
  freshnessSecs?: number;
  /** Unix time of the last successful poll (`ingest_source_last_success_timestamp_seconds`). */
  lastSuccess?: number;
  /** Requests left in the API's window, its quota, and seconds to its reset (`ingest_source_ratelimit_*`). */
  remaining?: number;
  limit?: number;
  resetSecs?: number;
  /** `closed`, `half-open` or `open`. */
  breaker?: string;
}

/** The result of {@link collectStatus}. */
export interface StatusReport {
  rows: SourceStatus[];
  /** Endpoints that did not answer (no role running there), with the reason. */
  unreachable: { endpoint: string; error: string }[];
}

const BREAKER = ['closed', 'half-open', 'open'];

function sampleOf(samples: Sample[], name: string, source: string): number | undefined {
  return samples.find((s) => s.name === name && s.labels.source === source)?.value;
}

/** The status of one source at one endpoint, or `undefined` when the endpoint knows nothing of it. */
function statusAt(
  samples: Sample[],
  source: string,
  endpoint: string,
  nowSecs: number,
): SourceStatus | undefined {
  // `ingest_source_lease_owner` is 1 on the task holding the lease (src/coordination): that task is
  // the one this endpoint serves, named by its `owner` label when it has one, else by its address.
  const lease = samples.find(
    (s) => s.name === 'ingest_source_lease_owner' && s.labels.source === source && s.value === 1,
  );
  const owner = lease === undefined ? undefined : (lease.labels.owner ?? new URL(endpoint).host);
  const newest = sampleOf(samples, 'ingest_source_newest_record_timestamp_seconds', source);
  const lastSuccess = sampleOf(samples, 'ingest_source_last_success_timestamp_seconds', source);
  const breaker = sampleOf(samples, 'ingest_source_breaker_state', source);
  const row: SourceStatus = {
    source,
    endpoint,
    ...(owner === undefined ? {} : { owner }),
    ...(newest === undefined ? {} : { freshnessSecs: Math.max(0, nowSecs - newest) }),
    ...(lastSuccess === undefined ? {} : { lastSuccess }),
    ...(breaker === undefined ? {} : { breaker: BREAKER[breaker] ?? String(breaker) }),
  };
  for (const [key, metric] of [
    ['remaining', 'ingest_source_ratelimit_remaining'],
    ['limit', 'ingest_source_ratelimit_limit'],
    ['resetSecs', 'ingest_source_ratelimit_reset_seconds'],
  ] as const) {
    const v = sampleOf(samples, metric, source);
    if (v !== undefined) row[key] = v;
  }
  return Object.keys(row).length > 2 ? row : undefined;
}

/**
 * Scrapes every endpoint and builds one row per source: from the endpoint whose task holds the
 * source's lease, else the one with the latest successful poll.
 */
export async function collectStatus(options: {
  sources: string[];
  endpoints: string[];
  nowMs?: number;
}): Promise<StatusReport> {
  const nowSecs = (options.nowMs ?? Date.now()) / 1000;
  const unreachable: StatusReport['unreachable'] = [];
  const scraped = await Promise.all(
    options.endpoints.map(async (endpoint) => {
      try {
        return { endpoint, samples: await scrape(endpoint) };
      } catch (err) {
        // fetch() says only "fetch failed"; the reason (ECONNREFUSED, a timeout...) is its cause.
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        const error = cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
        unreachable.push({ endpoint, error });
        return { endpoint, samples: [] as Sample[] };
      }
    }),
  );
  const rows = options.sources.map((source) => {
    const candidates = scraped
      .map((s) => statusAt(s.samples, source, s.endpoint, nowSecs))
      .filter((r): r is SourceStatus => r !== undefined);
    candidates.sort(
      (a, b) =>
        Number(b.owner !== undefined) - Number(a.owner !== undefined) ||
        (b.lastSuccess ?? 0) - (a.lastSuccess ?? 0),
    );
    return candidates[0] ?? { source };
  });
  return { rows, unreachable };
}

/** `93 s`, `12 min`, `3.1 h`, `2.0 d`. */
export function formatAge(secs: number | undefined): string {
  if (secs === undefined) return '-';
  if (secs < 120) return `${Math.round(secs)} s`;
  if (secs < 7200) return `${Math.round(secs / 60)} min`;
  if (secs < 172_800) return `${(secs / 3600).toFixed(1)} h`;
  return `${(secs / 86_400).toFixed(1)} d`;
}

/** The report as a plain-text table, then one line per unreachable endpoint. */
export function formatStatus(report: StatusReport, nowMs = Date.now()): string {
  const header = ['source', 'owner', 'freshness', 'last success', 'headroom', 'breaker', 'endpoint'];
  const body = report.rows.map((r) => [
    r.source,
    r.owner ?? '-',
    formatAge(r.freshnessSecs),
    r.lastSuccess === undefined ? 'never' : `${formatAge(nowMs / 1000 - r.lastSuccess)} ago`,
    r.remaining === undefined
      ? '-'
      : `${r.remaining}${r.limit === undefined ? '' : `/${r.limit}`}${r.resetSecs === undefined ? '' : ` (reset ${Math.round(r.resetSecs)} s)`}`,
    r.breaker ?? '-',
    r.endpoint ?? '(no running role reports it)',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [
    line(header),
    ...body.map(line),
    ...report.unreachable.map((u) => `not reachable: ${u.endpoint} (${u.error})`),
    '',
  ].join('\n');
}

/** The `/metrics` endpoints of the roles a config runs on this host (`telemetry.runPort`, `consumePort`). */
export function defaultEndpoints(telemetry: {
  host: string;
  runPort: number;
  consumePort: number;
}): string[] {
  const host = telemetry.host === '0.0.0.0' || telemetry.host === '::' ? '127.0.0.1' : telemetry.host;
  return [telemetry.runPort, telemetry.consumePort].map((p) => `http://${host}:${p}/metrics`);
}

/**
 * The command: loads the config, scrapes the endpoints (`--metrics`, else the config's ports on this
 * host) and prints the table. @returns the exit code: 0, or 3 when no endpoint answered.
 */
export async function runStatusCommand(options: { config: string; metrics?: string[] }): Promise<number> {
  const config = await loadConfig(options.config);
  const endpoints =
    options.metrics !== undefined && options.metrics.length > 0
      ? options.metrics
      : defaultEndpoints(config.telemetry);
  const report = await collectStatus({ sources: config.sources.map((s) => s.name), endpoints });
  process.stdout.write(formatStatus(report));
  return report.unreachable.length === endpoints.length ? 3 : 0;
}
