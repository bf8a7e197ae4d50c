/**
 * Starts and stops moto's server (`moto[server]` from the project venv, see requirements-dev.txt) on
 * a free port: S3, DynamoDB, Glue, Athena and Firehose control planes, for integration tests and for
 * `ingest local --run-tasks` (the lease table).
 *
 * moto's server is threaded and its DynamoDB backend holds no lock between evaluating a
 * `ConditionExpression` and writing the item: under concurrency two conditional writes on one key can
 * both succeed (measured with moto 5.2.5: 20 concurrent `attribute_not_exists` puts on one key, 1
 * and then 3 rounds of 100 had two winners; none with `atomicWrites`). Where conditional writes must be atomic (leases), start it with
 * `atomicWrites: true`: DynamoDB's item writes then take one lock.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freePort } from './kinesis-local.js';

export interface Moto {
  /** `http://127.0.0.1:PORT`. */
  endpoint: string;
  process: ChildProcess;
  /** Kills the server and waits for it to exit. Safe to call twice. */
  stop(): Promise<void>;
}

/** Python that sets the parent-death signal (Linux prctl) and then execs `argv[1:]`. */
const DIE_WITH_PARENT =
  'import ctypes, os, signal, sys; ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0); os.execv(sys.argv[1], sys.argv[1:])';

/** Where `make venv` puts moto's server. */
export const MOTO_SERVER = resolve(import.meta.dirname, '../../.venv/bin/moto_server');

/**
 * moto's own `moto_server`, still threaded, with one lock around DynamoDB's item writes (put, update,
 * delete, transactions): a condition is then evaluated and applied atomically, as in DynamoDB, while
 * reads and other services stay concurrent.
 */
const ATOMIC_WRITES_SERVER = [
  'import functools, sys, threading',
  'from moto.dynamodb.models import DynamoDBBackend',
  'lock = threading.RLock()',
  'def locked(f):',
  '    @functools.wraps(f)',
  '    def g(*a, **k):',
  '        with lock:',
  '            return f(*a, **k)',
  '    return g',
  "for name in ('put_item', 'update_item', 'delete_item', 'transact_write_items'):",
  '    setattr(DynamoDBBackend, name, locked(getattr(DynamoDBBackend, name)))',
  'from moto.server import main',
  'main(sys.argv[1:])',
].join('\n');

/**
 * Starts `.venv/bin/moto_server -H 127.0.0.1 -p <free port>` and waits until it answers HTTP.
 * @param options.timeoutMs - how long to wait for it to answer. @default 30_000
 * @param options.atomicWrites - make DynamoDB's conditional writes atomic (see the module comment).
 *   @default false (moto as installed)
 * @throws Error telling to run `make venv` when the venv is missing, or with moto's output when it
 * exits or does not answer in time.
 */
export async function startMoto(options: { timeoutMs?: number; atomicWrites?: boolean } = {}): Promise<Moto> {
  if (!existsSync(MOTO_SERVER)) {
    throw new Error(
      `moto_server not found at ${MOTO_SERVER}: run \`make venv\` (python3 -m venv .venv && .venv/bin/pip install -r requirements-dev.txt) first`,
    );
  }
  const port = await freePort();
  // Dies with the test process, even on SIGKILL: the venv's Python sets PR_SET_PDEATHSIG, then
  // becomes moto_server (the signal survives exec).
  const python = join(MOTO_SERVER, '..', 'python');
  const serverArgs = ['-H', '127.0.0.1', '-p', String(port)];
  const args = options.atomicWrites
    ? [python, '-c', ATOMIC_WRITES_SERVER, ...serverArgs]
    : [MOTO_SERVER, ...serverArgs];
  const child = spawn(python, ['-c', DIE_WITH_PARENT, ...args], {
    cwd: resolve(import.meta.dirname, '../..'),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const collect = (b: Buffer) => {
    output.push(b.toString());
    if (output.length > 50) output.shift();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`moto_server exited (${child.exitCode}) before answering: ${output.join('')}`);
    }
    try {
      const res = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      break;
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`moto_server did not answer on ${endpoint} in time: ${output.join('')}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { endpoint, process: child, stop };
}
