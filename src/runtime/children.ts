/**
 * Child processes that die with their parent, even when the parent is SIGKILLed (no handler runs),
 * and the pid files that let the next start find a stale one.
 *
 * Node has no `prctl(PR_SET_PDEATHSIG)`, so a Node child gets a watchdog instead: a preloaded module
 * (`--import data:…`) that polls `process.ppid` and exits once it changed (the parent died and the
 * child was re-parented). Python children set the parent-death signal themselves (`lakelib.py`).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';

/** How often a watched Node child checks its parent, in milliseconds. */
export const WATCHDOG_INTERVAL_MS = 250;

/**
 * Whether a process runs on this host (signal 0; EPERM means it exists but belongs to another user).
 * A zombie (exited, not yet reaped by its new parent) counts as gone (Linux: `/proc/<pid>/stat`).
 */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return process.platform !== 'linux';
  }
}

/**
 * Node arguments that make a Node child exit within {@link WATCHDOG_INTERVAL_MS} once this process
 * is gone: put them before the child's script.
 * @example spawn(process.execPath, [...nodeWatchdogArgs(), script])
 */
export function nodeWatchdogArgs(parentPid: number = process.pid): string[] {
  const code = `const p=${parentPid};const t=setInterval(()=>{if(process.ppid!==p)process.exit(137)},${WATCHDOG_INTERVAL_MS});t.unref();`;
  return ['--import', `data:text/javascript,${encodeURIComponent(code)}`];
}

/** What a pid file records about a child server. */
export interface PidFile {
  pid: number;
  host: string;
  /** The port it listens on, when it has one. */
  port?: number;
  /** What it is, for messages (`kinesis-local`). */
  what: string;
  startedAt: string;
}

/** Writes a pid file (removed by {@link removePidFile} when the child stops). */
export function writePidFile(path: string, info: Omit<PidFile, 'host' | 'startedAt'>): void {
  const file: PidFile = { ...info, host: hostname(), startedAt: new Date().toISOString() };
  // Its folder may not exist yet (a fresh clone, or `--fresh` just removed it).
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(file));
}

export function removePidFile(path: string): void {
  rmSync(path, { force: true });
}

/**
 * A process of an earlier run that is still alive on this host, from its pid file; `undefined` when
 * there is none (no file, another host, or the process is gone: the stale file is removed).
 */
export function staleProcess(path: string): PidFile | undefined {
  let file: PidFile;
  try {
    file = JSON.parse(readFileSync(path, 'utf8')) as PidFile;
  } catch {
    return undefined;
  }
  if (file.host === hostname() && file.pid !== process.pid && pidAlive(file.pid)) return file;
  removePidFile(path);
  return undefined;
}

/**
 * Keeps the last `maxChunks` chunks a child wrote to stdout and stderr (for the error when it fails
 * to start), passing each to `log` too.
 * @returns the live array of kept chunks.
 */
export function collectOutput(
  child: { stdout?: NodeJS.ReadableStream | null; stderr?: NodeJS.ReadableStream | null },
  log?: (line: string) => void,
  maxChunks = 50,
): string[] {
  const output: string[] = [];
  const collect = (b: Buffer | string): void => {
    const line = b.toString();
    output.push(line);
    if (output.length > maxChunks) output.shift();
    log?.(line);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  return output;
}
