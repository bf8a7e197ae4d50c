import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireBuiltCli, spawnCli, tempDir, waitFor } from '../support/cli.js';

/**
 * `ingest local` stopped by SIGTERM mid-run says what it did not do (issue 7, point 8): which
 * sources had not completed a poll, whether accepted records were still to land, and that the lake
 * did not run; it reports the run incomplete and exits 1, and leaves no "complete" behind.
 */
describe('ingest local under SIGTERM', () => {
  beforeAll(() => requireBuiltCli());

  it('prints what was incomplete and that the lake did not run, and exits 1', async () => {
    const dir = tempDir('e2e-local-sigterm');
    const text = readFileSync('config/local.yaml', 'utf8').replace(
      '    pagination:\n      type: linkHeader',
      // GitHub's five pages at one request every two seconds: its poll is still running at the signal.
      '    pagination:\n      type: linkHeader\n    rateLimit: { requestsPerSec: 0.5, burst: 1, maxConcurrent: 1 }',
    );
    if (!text.includes('requestsPerSec: 0.5')) throw new Error('config/local.yaml changed shape');
    const cfg = join(dir, 'slow.yaml');
    writeFileSync(cfg, text);
    const p = spawnCli(['local', '--config', cfg, '--fresh', '--fixture-port', '0'], {
      LOG_LEVEL: 'info',
      INGEST_STATE_DIR: join(dir, 'state'),
      INGEST_LAKE_URI: `file://${join(dir, 'lake')}`,
      INGEST_RUN_PORT: '0',
      INGEST_CONSUME_PORT: '0',
    });
    await waitFor(
      async () => p.stderr().includes('"event":"role_started","role":"run"'),
      60_000,
      'the run role started',
    );
    await new Promise((r) => setTimeout(r, 2_000));
    p.child.kill('SIGTERM');
    const { code } = await p.exited;
    const out = p.stdout();
    expect(code, p.stderr().slice(-2_000)).toBe(1);
    expect(out).toContain('STOPPED by a signal before the run finished:');
    expect(out).toMatch(/ {2}polls: not completed for [^\n]*github\.issues/);
    expect(out).toMatch(/ {2}landing: /);
    expect(out).toContain('  lake: not run');
    expect(out).toContain('INCOMPLETE: stopped by a signal');
    expect(out).not.toContain('complete: every accepted record landed');
  }, 120_000);
});
