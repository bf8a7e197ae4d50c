import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nodeWatchdogArgs, pidAlive, staleProcess, writePidFile } from './children.js';

const dir = mkdtempSync(join(tmpdir(), 'children-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Alive and not a zombie (a SIGKILLed parent's child is reaped by init a moment later). */
function running(pid: number): boolean {
  if (!pidAlive(pid)) return false;
  const stat = spawnSync('ps', ['-o', 'stat=', '-p', String(pid)])
    .stdout.toString()
    .trim();
  return stat !== '' && !stat.startsWith('Z');
}

describe('child processes', () => {
  it('a Node child with the watchdog exits once its parent is SIGKILLed', async () => {
    const args = JSON.stringify(nodeWatchdogArgs(999_999_999));
    const parentCode = `
      const { spawn } = require('node:child_process');
      const args = JSON.parse(process.env.WD_ARGS).map((a) => a.replace('999999999', String(process.pid)));
      const c = spawn(process.execPath, [...args, '-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
      console.log(c.pid);
      setInterval(() => {}, 1000);`;
    const parent = spawn(process.execPath, ['-e', parentCode], {
      env: { ...process.env, WD_ARGS: args },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const childPid = await new Promise<number>((resolve) =>
      parent.stdout.once('data', (b: Buffer) => resolve(Number(b.toString().trim()))),
    );
    expect(running(childPid)).toBe(true);
    expect(pidAlive(childPid)).toBe(true);
    parent.kill('SIGKILL');
    const deadline = Date.now() + 10_000;
    while (running(childPid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(running(childPid)).toBe(false);
    expect(pidAlive(childPid)).toBe(false);
  });

  it('a pid file of a live process is stale; one of a dead process is removed', () => {
    const live = join(dir, 'live.pid');
    writePidFile(live, { pid: process.ppid, port: 4567, what: 'kinesis-local' });
    expect(staleProcess(live)).toMatchObject({ pid: process.ppid, port: 4567, what: 'kinesis-local' });

    const gone = join(dir, 'gone.pid');
    writePidFile(gone, { pid: spawnSync('true').pid!, what: 'kinesis-local' });
    expect(staleProcess(gone)).toBeUndefined();
    expect(existsSync(gone)).toBe(false);
    expect(staleProcess(join(dir, 'absent.pid'))).toBeUndefined();
  });

  it('writes a pid file into a folder that does not exist yet (a fresh clone: ./data)', () => {
    const nested = join(dir, 'fresh', 'data', 'kinesis.pid');
    writePidFile(nested, { pid: process.ppid, what: 'kinesis-local' });
    expect(staleProcess(nested)).toMatchObject({ pid: process.ppid });
  });
});
