import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBuiltCli, spawnCli, tempDir } from '../support/cli.js';

/**
 * Clean failures through the real CLI (issue 7): a config file that cannot be read, a YAML alias
 * bomb, a misspelled key and a port already in use each exit 2 with one line on stderr, no stack trace.
 */
const dir = tempDir('e2e-clean-failures');
let holder: Server;
let taken: number;

beforeAll(async () => {
  requireBuiltCli();
  holder = createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
  taken = (holder.address() as { port: number }).port;
});
afterAll(() => new Promise<void>((r) => holder.close(() => r())));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Runs the CLI and returns its exit code and stderr. */
async function cli(args: string[], env: Record<string, string> = {}) {
  const p = spawnCli(args, { LOG_LEVEL: 'error', ...env }, dir);
  const { code } = await p.exited;
  return { code, stderr: p.stderr(), stdout: p.stdout() };
}

function expectOneLine(stderr: string, line: string) {
  expect(stderr).toBe(`ingest: ${line}\n`);
  expect(stderr).not.toMatch(/\n\s+at /);
}

const quiet = (telemetry: string) => `sources: []
state: { type: file, path: ${join(dir, 'state')} }
deadLetter: { uri: file://${join(dir, 'lake')} }
telemetry: ${telemetry}
`;

describe('clean failures: exit 2 with one line', () => {
  it('a missing config file', async () => {
    const r = await cli(['validate-config', 'missing.yaml']);
    expect(r.code).toBe(2);
    expectOneLine(r.stderr, 'missing.yaml: cannot read config file: no such file');
  });

  it('a directory given as the config file', async () => {
    const r = await cli(['run', '--config', dir]);
    expect(r.code).toBe(2);
    expectOneLine(r.stderr, `${dir}: cannot read config file: it is a directory`);
  });

  it('a YAML alias bomb', async () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++) {
      const [prev, cur] = [String.fromCharCode(96 + i), String.fromCharCode(97 + i)];
      lines.push(`${cur}: &${cur} [${Array(9).fill(`*${prev}`).join(', ')}]`);
    }
    const bomb = file('bomb.yaml', `${lines.join('\n')}\n`);
    const r = await cli(['validate-config', bomb]);
    expect(r.code).toBe(2);
    expectOneLine(
      r.stderr,
      `${bomb}: invalid YAML: Excessive alias count indicates a resource exhaustion attack (aliases may expand to at most 100 nodes)`,
    );
  });

  it('invalid YAML', async () => {
    const bad = file('bad.yaml', 'sources:\n  - name: a\n  type: http\n');
    const r = await cli(['validate-config', bad]);
    expect(r.code).toBe(2);
    expectOneLine(
      r.stderr,
      `${bad}: invalid YAML: All mapping items must start at the same column at line 3, column 1`,
    );
  });

  it('a misspelled key names the nearest known one; an unset variable in a comment is ignored', async () => {
    const cfg = file(
      'typo.yaml',
      '# set ${NOT_SET_ANYWHERE} for production\nsources:\n  - { name: a, type: http, url: "http://127.0.0.1:1/a", intervalSec: 5 }\n',
    );
    const r = await cli(['validate-config', cfg]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `ingest: ${cfg}: invalid configuration\n  sources[0].intervalSec: unknown key; did you mean \`intervalSecs\`?\n`,
    );
  });

  it('role run with its telemetry port in use', async () => {
    const cfg = file('run.yaml', quiet(`{ host: 127.0.0.1, runPort: ${taken} }`));
    const r = await cli(['run', '--config', cfg]);
    expect(r.code).toBe(2);
    expectOneLine(
      r.stderr,
      `telemetry server: cannot listen on 127.0.0.1:${taken}: the port is already in use (choose another port: telemetry.runPort / telemetry.consumePort, or --port)`,
    );
  });

  it('role consume with --port in use', async () => {
    const cfg = file('consume.yaml', quiet('{ host: 127.0.0.1 }'));
    const r = await cli(['consume', '--config', cfg, '--port', String(taken)]);
    expect(r.code).toBe(2);
    expectOneLine(
      r.stderr,
      `telemetry server: cannot listen on 127.0.0.1:${taken}: the port is already in use (choose another port: telemetry.runPort / telemetry.consumePort, or --port)`,
    );
  });

  it('ingest local with the fixture port in use, when a source reads from the fixture server', async () => {
    const r = await cli([
      'local',
      '--config',
      join(process.cwd(), 'config/local.yaml'),
      '--fixture-port',
      String(taken),
    ]);
    expect(r.code).toBe(2);
    expectOneLine(
      r.stderr,
      `fixture server: cannot listen on 127.0.0.1:${taken}: the port is already in use (pass --fixture-port 0 for any free port)`,
    );
  });
});

/** Live processes whose environment mentions `text` (Linux /proc). */
function processesWithEnv(text: string): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/environ`, 'latin1').includes(text);
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe('ingest local without fixture sources', () => {
  it('a telemetry port in use exits 2 in one line and stops the Kinesis emulator it started', async () => {
    const state = join(dir, 'local-port-state');
    const cfg = file(
      'local-port.yaml',
      quiet(`{ host: 127.0.0.1, runPort: 0, consumePort: ${taken} }`).replace(join(dir, 'state'), state),
    );
    const r = await cli(['local', '--config', cfg]);
    expect(r.code).toBe(2);
    expectOneLine(
      r.stderr,
      `telemetry server: cannot listen on 127.0.0.1:${taken}: the port is already in use (choose another port: telemetry.runPort / telemetry.consumePort, or --port)`,
    );
    // The emulator persists under <state>/../kinesis: no process with that in its environment is left.
    expect(processesWithEnv(join(dir, 'kinesis'))).toEqual([]);
  });

  it('does not start the fixture server, so its port being taken does not matter', async () => {
    const cfg = file('no-fixtures.yaml', quiet('{ host: 127.0.0.1, runPort: 0, consumePort: 0 }'));
    const r = await cli(['local', '--config', cfg, '--fixture-port', String(taken)]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('complete: every accepted record landed');
  });
});
