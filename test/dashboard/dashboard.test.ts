import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
// Registers every component's metrics in the process registry, as `ingest docs metrics` does.
import '../../src/telemetry/docs.js';
import { collectProcessMetrics, registry } from '../../src/telemetry/index.js';
import { metricNames, substituteGrafanaVariables, variableQueryMetrics } from './promql.js';

/**
 * The Grafana dashboard of deploy/docker-compose.yml queries only metrics the service exports: every
 * PromQL expression (panel targets and variable queries) is read, its metric names extracted and
 * checked against the prom-client registry the code builds (component telemetry modules plus the
 * Node.js process metrics), histograms with their `_bucket`, `_sum` and `_count` series. A renamed or
 * removed metric fails here instead of leaving an empty panel. It also checks that every area of the
 * service has a panel, the datasource wiring, and (with promtool) that every expression parses.
 */

const DASHBOARD = 'deploy/grafana/dashboards/ingest.json';
const DATASOURCES = 'deploy/grafana/provisioning/datasources/prometheus.yml';
/** Series Prometheus adds to every scrape itself. */
const PROMETHEUS_SERIES = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped']);

interface Target {
  expr?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
  gridPos: { x: number; y: number; w: number; h: number };
}
interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: {
    list: { name: string; type: string; query: unknown; definition?: string; datasource?: unknown }[];
  };
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
const allPanels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const queryPanels = allPanels.filter((p) => p.type !== 'row');

/** Every expression with where it comes from. */
const expressions: { where: string; expr: string; metrics: string[] }[] = [
  ...queryPanels.flatMap((p) =>
    (p.targets ?? [])
      .filter((t) => t.expr)
      .map((t) => ({ where: `panel "${p.title}"`, expr: t.expr!, metrics: metricNames(t.expr!) })),
  ),
  ...dashboard.templating.list
    .filter((v) => v.type === 'query')
    .map((v) => {
      const q = typeof v.query === 'string' ? v.query : ((v.query as { query?: string }).query ?? '');
      return { where: `variable $${v.name}`, expr: q, metrics: variableQueryMetrics(q) };
    }),
];

/** Names the service exports, from the registry the code builds. */
let exported: Set<string>;

beforeAll(async () => {
  collectProcessMetrics();
  const metrics = await registry.getMetricsAsJSON();
  exported = new Set<string>();
  for (const m of metrics) {
    exported.add(m.name);
    const type = String(m.type);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) exported.add(m.name + s);
    if (type === 'summary') for (const s of ['_sum', '_count']) exported.add(m.name + s);
  }
});

describe('promql metric-name extraction', () => {
  it('finds selectors and skips functions, keywords, labels, durations and strings', () => {
    expect(
      metricNames(
        'histogram_quantile(0.95, sum by (source, le) (rate(ingest_source_poll_duration_seconds_bucket{source=~"$source"}[$__rate_interval])))',
      ),
    ).toEqual(['ingest_source_poll_duration_seconds_bucket']);
    expect(metricNames('time() - ingest_source_last_success_timestamp_seconds{source=~"a|b"}')).toEqual([
      'ingest_source_last_success_timestamp_seconds',
    ]);
    expect(
      metricNames('sum(rate(a_total[5m])) by (x) / on (x) group_left(y) b offset 1h > bool 1e3'),
    ).toEqual(['a_total', 'b']);
    expect(metricNames('up{job=~"ingest-.*"} and count without (le) (c)')).toEqual(['up', 'c']);
    expect(metricNames('label_replace(d, "dst", "$1", "src", "(sum|rate)")')).toEqual(['d']);
    expect(variableQueryMetrics('label_values(ingest_source_records_total, source)')).toEqual([
      'ingest_source_records_total',
    ]);
  });
});

describe(`the Grafana dashboard (${DASHBOARD})`, () => {
  it('has queries', () => {
    expect(expressions.length).toBeGreaterThan(20);
    for (const e of expressions) expect(e.metrics.length, `${e.where}: ${e.expr}`).toBeGreaterThan(0);
  });

  it('queries only metrics the service exports', () => {
    expect(exported.has('ingest_source_records_total')).toBe(true);
    const unknown = expressions.flatMap((e) =>
      e.metrics
        .filter((m) => !exported.has(m) && !PROMETHEUS_SERIES.has(m))
        .map((m) => `${e.where}: ${m} (in ${e.expr})`),
    );
    expect(unknown).toEqual([]);
  });

  it('has a panel for every area of the service', () => {
    const areas: Record<string, (expr: string, metrics: string[]) => boolean> = {
      'per-source freshness': (e, m) =>
        m.includes('ingest_source_last_success_timestamp_seconds') && /time\(\)\s*-/.test(e),
      'records/s by source and outcome': (e, m) =>
        m.includes('ingest_source_records_total') &&
        /rate\(/.test(e) &&
        /source/.test(e) &&
        /outcome/.test(e),
      'errors by class': (e, m) => m.includes('ingest_source_errors_total') && /class/.test(e),
      'breaker state': (_, m) => m.includes('ingest_source_breaker_state'),
      'limiter queue': (_, m) => m.includes('ingest_source_limiter_queued'),
      'producer throughput': (_, m) => m.includes('ingest_producer_records_total'),
      'producer throttles': (_, m) => m.includes('ingest_producer_throttled_total'),
      'producer failed entries': (_, m) => m.includes('ingest_producer_failed_entries_total'),
      'producer buffer fill': (_, m) => m.includes('ingest_producer_buffer_capacity_ratio'),
      'dead letters': (_, m) => m.includes('ingest_dead_letter_records_total'),
      'bronze records/s': (e, m) => m.includes('ingest_bronze_records_total') && /rate\(/.test(e),
      'bronze checkpoint lag': (_, m) => m.includes('ingest_bronze_checkpoint_lag_seconds'),
      'bronze behind latest': (_, m) => m.includes('ingest_bronze_behind_latest_seconds'),
      'scheduler hours done/failed': (e, m) => m.includes('ingest_scheduler_hours_total') && /status/.test(e),
      'scheduler backlog': (_, m) => m.includes('ingest_scheduler_backlog_partitions'),
      'scheduler lag': (_, m) => m.includes('ingest_scheduler_lag_seconds'),
      'job durations': (_, m) => m.some((x) => x.startsWith('ingest_scheduler_job_duration_seconds')),
      'quality check values': (_, m) => m.includes('ingest_scheduler_quality_check_value'),
    };
    const missing = Object.entries(areas)
      .filter(
        ([, match]) => !expressions.some((e) => e.where.startsWith('panel') && match(e.expr, e.metrics)),
      )
      .map(([area]) => area);
    expect(missing).toEqual([]);
  });

  it('uses the datasource variable, defaulting to the provisioned Prometheus', () => {
    const ds = dashboard.templating.list.find((v) => v.name === 'DS_PROMETHEUS');
    expect(ds?.type).toBe('datasource');
    expect(ds?.query).toBe('prometheus');
    const provisioned = parseYaml(readFileSync(DATASOURCES, 'utf8')) as {
      datasources: { uid: string; type: string }[];
    };
    const uid = provisioned.datasources.find((d) => d.type === 'prometheus')?.uid;
    expect((ds as unknown as { current: { value: string } }).current.value).toBe(uid);
    const ok = (d: { uid?: string } | undefined) => d?.uid === '${DS_PROMETHEUS}' || d?.uid === uid;
    for (const p of queryPanels) {
      expect(ok(p.datasource), `panel "${p.title}" datasource`).toBe(true);
      for (const t of p.targets ?? [])
        expect(ok(t.datasource ?? p.datasource), `panel "${p.title}" target`).toBe(true);
    }
  });

  it('has unique panel ids and panels inside the 24-column grid', () => {
    const ids = allPanels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of allPanels) expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
  });

  it('has expressions that parse as PromQL (promtool check rules)', (ctx) => {
    if (spawnSync('promtool', ['--version']).error) {
      ctx.skip('promtool is not installed (make tools installs Debian prometheus)');
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'dashboard-promql-'));
    try {
      const rules = expressions
        .filter((e) => e.where.startsWith('panel'))
        .map(
          (e, i) =>
            `      - record: dashboard:expr_${i}\n        expr: ${JSON.stringify(substituteGrafanaVariables(e.expr))}`,
        );
      const file = join(dir, 'rules.yml');
      writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules.join('\n')}\n`);
      let out = '';
      try {
        out = execFileSync('promtool', ['check', 'rules', file], { encoding: 'utf8', stdio: 'pipe' });
      } catch (err) {
        const e = err as { stdout?: string; stderr?: string };
        throw new Error(`promtool rejected a dashboard expression:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
      }
      expect(out).toContain('SUCCESS');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
