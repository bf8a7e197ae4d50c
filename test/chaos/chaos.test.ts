import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { requireBuiltCli, tempDir } from '../support/cli.js';
import { DOWNSTREAM } from './options.js';
import type { Summary } from './report.js';

/**
 * The 90-second chaos run of `make test` (`make chaos` is the 10-minute one; docs/chaos.md): every
 * fault kind against the built CLI's `run` and `consume` processes, the real Kinesis emulator and a
 * hostile upstream, then the checks: nothing lost, nothing only in dead-letter but the over-1-MiB
 * records, no token anywhere, clean SIGTERM exits.
 */
describe('chaos (90 s)', () => {
  it('loses nothing, dead-letters only what can never fit, leaks no token, stops cleanly', async () => {
    requireBuiltCli();
    const dir = tempDir('chaos-test');
    const run = promisify(execFile)(
      process.execPath,
      ['--import', './deploy/cdk/register.mjs', 'test/chaos/run.ts'],
      {
        cwd: resolve(import.meta.dirname, '../..'),
        env: {
          ...process.env,
          CHAOS_SECS: '90',
          CHAOS_DRAIN_SECS: '45',
          CHAOS_DIR: dir,
        },
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    const { code, out } = await run.then(
      (r) => ({ code: 0, out: r.stdout + r.stderr }),
      (e: { code?: number; stdout?: string; stderr?: string }) => ({
        code: e.code ?? -1,
        out: `${e.stdout ?? ''}${e.stderr ?? ''}`,
      }),
    );
    // The summary table, for the record (faults by kind, records, RSS, checks).
    console.log(out.slice(Math.max(0, out.indexOf('=== chaos summary'))));
    expect(code, out).not.toBe(2);
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as Summary;
    // Not vacuous: faults happened upstream and downstream, and records flowed.
    const upstreamFaults = ['http_5xx_burst', 'reset_mid_body', 'truncated_json', 'html_body', 'big_record'];
    expect(
      upstreamFaults.reduce((n, k) => n + (summary.faults[k] ?? 0), 0),
      out,
    ).toBeGreaterThan(0);
    for (const k of DOWNSTREAM) expect(summary.faults[k], `${k}\n${out}`).toBeGreaterThan(0);
    expect(summary.analysis.served, out).toBeGreaterThan(250);
    const failed = summary.checks.filter((c) => !c.pass).map((c) => `${c.name}: ${c.value}`);
    expect(failed, out).toEqual([]);
    expect(code, out).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  }, 330_000);
});
