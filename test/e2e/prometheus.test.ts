import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/local/kinesis-local.js';
import { requireBuiltCli, spawnCli, tempDir, waitFor } from '../support/cli.js';

/**
 * A real Prometheus (Debian's package, installed by `make tools`) scrapes `ingest local` and answers
 * PromQL, and `promtool check metrics` lints the exposition: the metrics are usable as shipped.
 */
describe('Prometheus scrapes the service', () => {
  beforeAll(() => {
    requireBuiltCli();
    for (const bin of ['prometheus', 'promtool']) {
      try {
        execFileSync(bin, ['--version'], { stdio: 'ignore' });
      } catch {
        throw new Error(`${bin} is not installed: run \`make tools\` (make test does)`);
      }
    }
  });

  it('promtool finds no problem in /metrics, and PromQL sees all 283 records polled and landed', async () => {
    const dir = tempDir('e2e-prom');
    const runPort = await freePort();
    const consumePort = await freePort();
    const promPort = await freePort();
    const svc = spawnCli(['local', '--fixture-port', '0', '--duration', '12'], {
      INGEST_STATE_DIR: join(dir, 'state'),
      INGEST_LAKE_URI: `file://${join(dir, 'lake')}`,
      INGEST_RUN_PORT: String(runPort),
      INGEST_CONSUME_PORT: String(consumePort),
    });
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global: { scrape_interval: 1s }\nscrape_configs:\n  - job_name: ingest-run\n    static_configs: [{ targets: ['127.0.0.1:${runPort}'] }]\n  - job_name: ingest-consume\n    static_configs: [{ targets: ['127.0.0.1:${consumePort}'] }]\n`,
    );
    const prom = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'tsdb')}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
      ],
      { stdio: 'ignore' },
    );
    try {
      let exposition = '';
      await waitFor(
        async () => {
          exposition = await fetch(`http://127.0.0.1:${runPort}/metrics`)
            .then((r) => r.text())
            .catch(() => '');
          return exposition.includes('ingest_bronze_records_total{consumer="bronze",outcome="landed"} 283');
        },
        20_000,
        'all records landed according to /metrics',
      );
      // promtool exits non-zero and names the metric on any lint problem.
      const lint = execFileSync('promtool', ['check', 'metrics'], { input: exposition, encoding: 'utf8' });
      expect(lint.trim()).toBe('');

      const query = async (q: string) => {
        const res = await fetch(
          `http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`,
        ).catch(() => undefined);
        const body = (await res?.json().catch(() => undefined)) as
          | { data?: { result?: { value: [number, string] }[] } }
          | undefined;
        return body?.data?.result?.[0]?.value[1];
      };
      let polled: string | undefined;
      let landed: string | undefined;
      await waitFor(
        async () => {
          polled = await query('sum(ingest_source_records_total{job="ingest-run",outcome="polled"})');
          landed = await query('sum(ingest_bronze_records_total{job="ingest-consume",outcome="landed"})');
          return polled === '283' && landed === '283';
        },
        20_000,
        'Prometheus to scrape the final counts',
      );
      expect(polled).toBe('283');
      expect(landed).toBe('283');
      expect(await query('max(ingest_source_breaker_state{job="ingest-run"})')).toBe('0');
      expect(await query('count(up{job=~"ingest-.*"} == 1)')).toBe('2');
    } finally {
      prom.kill('SIGTERM');
      svc.child.kill('SIGTERM');
      await svc.exited;
    }
  });
});
