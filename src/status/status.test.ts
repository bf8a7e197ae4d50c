/**
 * `ingest status` against real telemetry servers (startTelemetryServer, the one every role runs):
 * one task owns and polls the source, one is down.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../local/kinesis-local.js';
import { sourceBreakerState, sourceLastSuccessTimestampSeconds } from '../pollers/http/telemetry.js';
import { startTelemetryServer } from '../telemetry/index.js';
import {
  sourceLeaseOwner,
  sourceNewestRecordTimestampSeconds,
  sourceRateLimitLimit,
  sourceRateLimitRemaining,
  sourceRateLimitResetSeconds,
} from '../telemetry/sources.js';
import { collectStatus, formatStatus } from './index.js';
import { parseExposition } from './scrape.js';

const NOW = Date.parse('2026-12-05T07:00:00Z');
let server: Awaited<ReturnType<typeof startTelemetryServer>>;

beforeAll(async () => {
  server = await startTelemetryServer({ port: 0, host: '127.0.0.1', ready: async () => true });
  const source = 'status.orders';
  sourceLeaseOwner.set({ source, owner: 'task-b' }, 1);
  sourceNewestRecordTimestampSeconds.set({ source }, NOW / 1000 - 95);
  sourceLastSuccessTimestampSeconds.set({ source }, NOW / 1000 - 30);
  sourceRateLimitRemaining.set({ source }, 42);
  sourceRateLimitLimit.set({ source }, 60);
  sourceRateLimitResetSeconds.set({ source }, 17);
  sourceBreakerState.set({ source }, 0);
});
afterAll(() => server?.close());

describe('ingest status', () => {
  it('prints each source from the task that owns it, and names an endpoint that is down', async () => {
    const down = `http://127.0.0.1:${await freePort()}/metrics`;
    const report = await collectStatus({
      sources: ['status.orders', 'status.unknown'],
      endpoints: [`http://127.0.0.1:${server.port}/metrics`, down],
      nowMs: NOW,
    });
    expect(report.rows[0]).toMatchObject({
      source: 'status.orders',
      owner: 'task-b',
      freshnessSecs: 95,
      remaining: 42,
      limit: 60,
      resetSecs: 17,
      breaker: 'closed',
    });
    expect(report.rows[1]).toEqual({ source: 'status.unknown' });
    expect(report.unreachable).toEqual([{ endpoint: down, error: 'ECONNREFUSED' }]);
    const text = formatStatus(report, NOW);
    expect(text).toMatch(/^source\s+owner\s+freshness\s+last success\s+headroom\s+breaker\s+endpoint$/m);
    expect(text).toMatch(/status\.orders\s+task-b\s+95 s\s+30 s ago\s+42\/60 \(reset 17 s\)\s+closed/);
    expect(text).toMatch(/status\.unknown\s+-\s+-\s+never/);
    expect(text).toContain(`not reachable: ${down} (ECONNREFUSED)`);
  });

  it('parses label values with escapes and skips comments', () => {
    expect(parseExposition('# HELP x y\nm{a="q\\"x",b="1"} 2.5\nn 3\n')).toEqual([
      { name: 'm', labels: { a: 'q"x', b: '1' }, value: 2.5 },
      { name: 'n', labels: {}, value: 3 },
    ]);
  });
});
