import { writeFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/local/kinesis-local.js';
import { readBronze, requireBuiltCli, spawnCli, tempDir, waitFor } from '../support/cli.js';

/**
 * Bad input, end to end through `ingest local`: an API answering HTML, truncated JSON, a 5xx storm,
 * a hanging connection, a body over the cap and a single record over 1 MiB. Each gives a clear log
 * line and a metric, the service keeps running, and the good records (including the small records
 * next to the oversized one) land; the oversized record is dead-lettered with its reason.
 */
const config = (origin: string) => `
sources:
  - name: good.products
    type: http
    url: ${origin}/products
    idField: id
  - name: bad.html
    type: http
    url: ${origin}/faults/html
    intervalSecs: 1
    retry: { maxAttempts: 1 }
  - name: bad.truncated
    type: http
    url: ${origin}/faults/truncated
    intervalSecs: 1
    retry: { maxAttempts: 1 }
  - name: bad.storm
    type: http
    url: ${origin}/faults/status/503
    intervalSecs: 0.3
    retry: { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 20 }
    breaker: { volumeThreshold: 2, errorThresholdPercentage: 50, resetTimeoutMs: 60000 }
  - name: bad.hang
    type: http
    url: ${origin}/faults/hang
    intervalSecs: 1
    headersTimeoutMs: 300
    retry: { maxAttempts: 1 }
  - name: bad.huge
    type: http
    url: ${origin}/faults/huge?bytes=2000000
    intervalSecs: 1
    maxResponseBytes: 1000000
  - name: big.record
    type: http
    url: ${origin}/faults/oversized-record?bytes=1100000
    idField: id
    maxResponseBytes: 4000000
sinks:
  - type: kinesis
    streamName: faults
consumers:
  - type: bronze
    streamName: faults
    lakeUri: \${INGEST_LAKE_URI}
    bufferIntervalSecs: 1
state:
  type: file
  path: \${INGEST_STATE_DIR}
deadLetter:
  uri: \${INGEST_LAKE_URI}
telemetry:
  host: 127.0.0.1
  runPort: \${INGEST_RUN_PORT}
  consumePort: 0
`;

async function readDeadLetters(lake: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.name.endsWith('.json.gz')) {
        for (const l of gunzipSync(await readFile(p))
          .toString('utf8')
          .split('\n')
          .filter(Boolean))
          out.push(JSON.parse(l));
      }
    }
  };
  await walk(join(lake, 'dead-letter'));
  return out;
}

describe('bad input through ingest local', () => {
  beforeAll(() => requireBuiltCli());

  it('logs and counts each failure, keeps running, lands the good records and dead-letters the oversized one', async () => {
    const dir = tempDir('e2e-bad');
    const fixturePort = await freePort();
    const runPort = await freePort();
    const file = join(dir, 'faults.yaml');
    writeFileSync(file, config(`http://127.0.0.1:${fixturePort}`));
    const lake = join(dir, 'lake');
    const proc = spawnCli(
      ['local', '--config', file, '--duration', '8', '--fixture-port', String(fixturePort)],
      {
        INGEST_STATE_DIR: join(dir, 'state'),
        INGEST_LAKE_URI: `file://${lake}`,
        INGEST_RUN_PORT: String(runPort),
        LOG_LEVEL: 'warn',
      },
    );

    // While it runs: the metrics show each failure class and the breaker of the 5xx storm opens.
    let metrics = '';
    await waitFor(
      async () => {
        metrics = await fetch(`http://127.0.0.1:${runPort}/metrics`)
          .then((r) => r.text())
          .catch(() => '');
        return (
          /ingest_source_breaker_state\{source="bad.storm"\} 2/.test(metrics) &&
          /class="timeout"/.test(metrics)
        );
      },
      7_000,
      'the breaker of bad.storm to open',
    );
    const errors = (source: string, cls: string) =>
      Number(
        new RegExp(`ingest_source_errors_total\\{source="${source}",class="${cls}"\\} (\\d+)`).exec(
          metrics,
        )?.[1] ?? 0,
      );
    expect(errors('bad.html', 'malformed_response')).toBeGreaterThanOrEqual(1);
    expect(errors('bad.truncated', 'malformed_response')).toBeGreaterThanOrEqual(1);
    expect(errors('bad.storm', 'http_5xx') + errors('bad.storm', 'circuit_open')).toBeGreaterThanOrEqual(2);
    expect(errors('bad.hang', 'timeout')).toBeGreaterThanOrEqual(1);
    expect(errors('bad.huge', 'response_too_large')).toBeGreaterThanOrEqual(1);

    const { code } = await proc.exited;
    expect(code, proc.stderr()).toBe(0);

    // One clear log line per failed poll, naming the source and the failure class.
    const lines = proc
      .stderr()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const [source, cls] of [
      ['bad.html', 'malformed_response'],
      ['bad.truncated', 'malformed_response'],
      ['bad.hang', 'timeout'],
      ['bad.huge', 'response_too_large'],
    ]) {
      expect(
        lines.some((l) => l.source === source && l.class === cls && l.msg === 'poll failed'),
        `${source} ${cls}`,
      ).toBe(true);
    }

    // Good records landed, including the two small records beside the oversized one.
    const landed = (await readBronze(lake)).flatMap((o) => o.lines);
    expect(landed.filter((e) => e.source === 'good.products')).toHaveLength(20);
    expect(
      landed
        .filter((e) => e.source === 'big.record')
        .map((e) => (e.payload as { id: string }).id)
        .sort(),
    ).toEqual(['small-1', 'small-2']);

    // The oversized record is in the dead-letter location with its reason, not dropped.
    const dead = await readDeadLetters(lake);
    expect(dead).toHaveLength(1);
    expect(dead[0]!.source).toBe('big.record');
    expect(dead[0]!.failure_class).toBe('record_too_large');
    expect(String(dead[0]!.reason)).toMatch(/1048576/);
    expect(JSON.parse(String(dead[0]!.data)).payload.id).toBe('big');
    expect(proc.stdout()).toMatch(/big\.record\s+1\s+0\s+3\s+0\s+2\s+1\s+2/);
  });
});
