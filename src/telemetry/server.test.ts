import { afterEach, describe, expect, it } from 'vitest';
import { counter, readiness, startTelemetryServer } from './index.js';

describe('telemetry server', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  it('serves /metrics in Prometheus text format, /healthz always, /readyz only when ready', async () => {
    let ready = false;
    const srv = await startTelemetryServer({ port: 0, host: '127.0.0.1', ready: async () => ready });
    close = srv.close;
    const base = `http://127.0.0.1:${srv.port}`;
    counter('ingest_test_events_total', 'Test events.', ['kind']).inc({ kind: 'a' }, 3);

    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const body = await metrics.text();
    expect(body).toContain('# TYPE ingest_test_events_total counter');
    expect(body).toContain('ingest_test_events_total{kind="a"} 3');

    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const notReady = await fetch(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toMatchObject({ status: 'not_ready', reasons: [{ component: 'probe' }] });
    ready = true;
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });

  it('a readiness check that throws means not ready', async () => {
    const srv = await startTelemetryServer({
      port: 0,
      host: '127.0.0.1',
      ready: async () => {
        throw new Error('stream unreachable');
      },
    });
    close = srv.close;
    expect((await fetch(`http://127.0.0.1:${srv.port}/readyz`)).status).toBe(503);
  });

  it('a readiness condition set by a component makes /readyz 503 with its reason until cleared', async () => {
    const srv = await startTelemetryServer({ port: 0, host: '127.0.0.1', ready: async () => true });
    close = srv.close;
    const url = `http://127.0.0.1:${srv.port}/readyz`;
    readiness.set('sink:k', 'PutRecords failing for 12 s', Date.parse('2026-01-01T00:00:00Z'));
    try {
      const res = await fetch(url);
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({
        status: 'not_ready',
        reasons: [
          { component: 'sink:k', reason: 'PutRecords failing for 12 s', since: '2026-01-01T00:00:00.000Z' },
        ],
      });
    } finally {
      readiness.clear('sink:k');
    }
    expect((await fetch(url)).status).toBe(200);
  });
});
