/**
 * cfn-lint (the project venv's, 1.58) on the synthesized templates: exit 0, no rule ignored.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupSynth, synth } from './synth.js';

const CFN_LINT = join(import.meta.dirname, '..', '..', '.venv', 'bin', 'cfn-lint');

afterAll(cleanupSynth);

function lint(file: string): { status: number | null; output: string } {
  const r = spawnSync(CFN_LINT, ['--format', 'parseable', '--', file], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('cfn-lint', () => {
  it('is installed (make venv)', () => {
    expect(existsSync(CFN_LINT), `${CFN_LINT} missing: run make venv`).toBe(true);
    expect(execFileSync(CFN_LINT, ['--version'], { encoding: 'utf8' })).toMatch(/cfn-lint 1\./);
  });

  it.each([
    ['default context', {}],
    ['useFirehose=false, provisioned', { useFirehose: 'false', streamMode: 'provisioned', shardCount: '2' }],
    ['sink=firehose (DirectPut)', { sink: 'firehose' }],
    ['budgetsCache, sourceSecrets', { budgetsCache: 'true', sourceSecrets: 'ingest/*,github/token' }],
  ])('passes on the template (%s)', (_name, context) => {
    const s = synth(context);
    const file = join(s.outdir, 'lint.template.json');
    writeFileSync(file, JSON.stringify(s.template.toJSON(), null, 1));
    const { status, output } = lint(file);
    expect(output).toBe('');
    expect(status).toBe(0);
  });

  it('fails on a broken template (the check can fail)', () => {
    const s = synth();
    const broken = structuredClone(s.json);
    const table = Object.values(broken.Resources).find((r) => r.Type === 'AWS::DynamoDB::Table');
    if (!table) throw new Error('no table');
    table.Properties.BillingMode = 'FREE_OF_CHARGE';
    const file = join(s.outdir, 'broken.template.json');
    writeFileSync(file, JSON.stringify(broken));
    const { status, output } = lint(file);
    expect(status).not.toBe(0);
    expect(output).toMatch(/BillingMode|FREE_OF_CHARGE/);
  });
});
