/**
 * A local Redis for shared rate budgets (bottleneck's Redis datastore), in tests and `ingest local`:
 * Debian's `redis-server` (installed by `make tools`), started on a free port on 127.0.0.1 without
 * persistence, and stopped again.
 *
 * The server dies with this process, even on SIGKILL: it is started through util-linux `setpriv
 * --pdeathsig KILL` (Linux `PR_SET_PDEATHSIG`), so the kernel kills it when its parent is gone.
 *
 * @module
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { collectOutput } from '../runtime/children.js';
import { freePort } from './kinesis-local.js';

/** A running local `redis-server`. */
export interface LocalRedis {
  /** `redis://127.0.0.1:PORT`. */
  url: string;
  host: string;
  port: number;
  process: ChildProcess;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@link startRedis}. */
export interface StartRedisOptions {
  /** TCP port. @default a free port */
  port?: number;
  /** The server binary. @default `redis-server` on PATH */
  binary?: string;
  /** How long to wait for the server to answer `PING`, in milliseconds. @default 10000 */
  startTimeoutMs?: number;
  /** Receives the server's output lines. */
  log?: (line: string) => void;
}

/** Whether `redis-server` can be run here (it is on PATH). */
export function redisServerAvailable(binary = 'redis-server'): boolean {
  return spawnSync(binary, ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Sends `PING` and resolves whether `+PONG` came back within 1 s. */
function ping(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (b) => done(b.toString().startsWith('+PONG')));
  });
}

/**
 * Starts `redis-server` on 127.0.0.1 (no RDB/AOF persistence, no protected-mode prompt) and waits
 * until it answers `PING`.
 *
 * @throws Error naming `make tools` when `redis-server` is not installed, or with the server's last
 *   output when it exits or does not answer within `startTimeoutMs`.
 * @example
 * ```ts
 * const redis = await startRedis();
 * // ... new IORedis(redis.url) ...
 * await redis.stop();
 * ```
 */
export async function startRedis(options: StartRedisOptions = {}): Promise<LocalRedis> {
  const binary = options.binary ?? 'redis-server';
  if (!redisServerAvailable(binary)) {
    throw new Error(
      `${binary} not found: install Debian's redis-server (make tools, or apt-get install redis-server)`,
    );
  }
  const host = '127.0.0.1';
  const port = options.port ?? (await freePort());
  const args = [
    '--port',
    String(port),
    '--bind',
    host,
    '--save',
    '',
    '--appendonly',
    'no',
    '--protected-mode',
    'no',
    '--daemonize',
    'no',
    '--loglevel',
    'warning',
  ];
  const child = spawn('setpriv', ['--pdeathsig', 'KILL', binary, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = collectOutput(child, options.log);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + (options.startTimeoutMs ?? 10_000);
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`redis-server exited (${child.exitCode}): ${output.join('')}`);
    if (await ping(host, port)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`redis-server did not answer on ${host}:${port}: ${output.join('')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url: `redis://${host}:${port}`, host, port, process: child, stop };
}
