/**
 * Shared telemetry: the process's Prometheus registry (prom-client's default registry, with Node
 * process metrics prefixed `ingest_`), the metrics common to several components, and the HTTP server
 * that serves `/metrics`, `/healthz` and `/readyz` on one port per role.
 * Each component declares its own metrics in its `telemetry.ts`; this file holds only shared ones.
 */
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import client from 'prom-client';
import { listen } from './listen.js';
import { readiness } from './readiness.js';

// `node:http` through `require`: an ESM import of it builds the module's ESM facade, which reads
// every export, and its lazy `WebSocket`/`fetch` getters load Node's bundled undici (about 40 ms
// of start-up CPU, issue 8).
const { createServer } = createRequire(import.meta.url)('node:http') as typeof import('node:http');

export { ListenError } from './listen.js';
export { type NotReadyCondition, readiness } from './readiness.js';

export const registry = client.register;

let defaultsCollected = false;
/** Starts collecting Node.js process metrics (`ingest_process_*`, `ingest_nodejs_*`) once per process. */
export function collectProcessMetrics(): void {
  if (defaultsCollected) return;
  defaultsCollected = true;
  client.collectDefaultMetrics({ prefix: 'ingest_' });
  // prom-client names three gauges `*_total`, which Prometheus reserves for counters (promtool
  // rejects them). Their per-type siblings (`ingest_nodejs_active_handles{type}` and friends) carry
  // the same numbers, so the mis-named totals are dropped.
  for (const name of ['active_handles_total', 'active_requests_total', 'active_resources_total']) {
    registry.removeSingleMetric(`ingest_nodejs_${name}`);
  }
}

/** Gets or creates a metric so tests and several instances of a component share one series set. */
function getOrCreate<T>(name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export function counter(name: string, help: string, labelNames: string[] = []): client.Counter<string> {
  return getOrCreate(name, () => new client.Counter({ name, help, labelNames }));
}

export function gauge(name: string, help: string, labelNames: string[] = []): client.Gauge<string> {
  return getOrCreate(name, () => new client.Gauge({ name, help, labelNames }));
}

export function histogram(
  name: string,
  help: string,
  labelNames: string[] = [],
  buckets: number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
): client.Histogram<string> {
  return getOrCreate(name, () => new client.Histogram({ name, help, labelNames, buckets }));
}

/** Records that went to the dead-letter location, by component, source and failure class. */
export const deadLetterRecordsTotal = counter(
  'ingest_dead_letter_records_total',
  'Records written to the dead-letter location instead of being delivered.',
  ['component', 'source', 'class'],
);

export interface TelemetryServerOptions {
  /** Port; 0 picks a free one. */
  port: number;
  /** @default '0.0.0.0' */
  host?: string;
  /** Readiness check: resolves true when every sink/dependency answers. */
  ready: () => Promise<boolean>;
}

/**
 * Serves `/metrics` (Prometheus text exposition), `/healthz` (200 while the process runs) and
 * `/readyz` (200 only when `ready()` resolves true and no {@link readiness} condition is set, else
 * 503 with `{"status":"not_ready","reasons":[...]}`).
 * @throws ListenError (one line, failure class `config`) when the port is taken or cannot be bound.
 */
export async function startTelemetryServer(
  options: TelemetryServerOptions,
): Promise<{ server: Server; port: number; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      registry
        .metrics()
        .then((body) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(body);
        })
        .catch((err: unknown) => {
          res.writeHead(500);
          res.end(String(err));
        });
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"status":"ok"}');
    } else if (path === '/readyz') {
      options
        .ready()
        .catch(() => false)
        .then((probeOk) => {
          const reasons = readiness.list().map((c) => ({
            component: c.key,
            reason: c.reason,
            since: new Date(c.sinceMs).toISOString(),
          }));
          if (!probeOk)
            reasons.push({ component: 'probe', reason: 'a dependency did not answer', since: '' });
          const ok = reasons.length === 0;
          res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
          res.end(JSON.stringify(ok ? { status: 'ready' } : { status: 'not_ready', reasons }));
        });
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  const port = await listen(server, {
    port: options.port,
    host: options.host ?? '0.0.0.0',
    what: 'telemetry server',
    hint: 'choose another port: telemetry.runPort / telemetry.consumePort, or --port',
  });
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
