import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { CreateStreamCommand, DescribeStreamSummaryCommand, KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import {
  collectOutput,
  nodeWatchdogArgs,
  removePidFile,
  staleProcess,
  writePidFile,
} from '../runtime/children.js';
import { ListenError } from '../telemetry/listen.js';

/** Finds a free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Builds a Kinesis client for an emulator endpoint: plain HTTP/1.1 (NodeHttpHandler), dummy credentials. */
export function emulatorKinesisClient(endpoint: string, region = 'us-east-1'): KinesisClient {
  return new KinesisClient({
    endpoint,
    region,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    requestHandler: new NodeHttpHandler({ connectionTimeout: 5_000, requestTimeout: 30_000 }),
    maxAttempts: 1,
  });
}

export interface KinesisLocal {
  /** `http://127.0.0.1:PORT`, the emulator's plain HTTP port. */
  endpoint: string;
  process: ChildProcess;
  /** Pauses the emulator process (SIGSTOP): calls hang, as with a stalled service. */
  pause(): void;
  /** Resumes a paused emulator (SIGCONT). */
  resume(): void;
  stop(): Promise<void>;
}

/** The file kinesis-mock persists its streams and records to (its `PERSIST_FILE_NAME` default). */
export const PERSIST_FILE = 'kinesis-data.json';

/**
 * Node arguments that make kinesis-mock's periodic persist atomic: its write stream to `file` goes to
 * `<file>.tmp`, renamed over `file` once complete (on the stream's `finish`, caught in `emit`: fs2
 * removes every listener of its streams). kinesis-mock truncates and rewrites the file in place, so a
 * kill in the middle (our SIGKILL, the watchdog's exit) would otherwise leave it empty.
 */
export function atomicPersistArgs(file: string): string[] {
  const code = `import fs from 'node:fs';import {resolve} from 'node:path';const target=${JSON.stringify(resolve(file))};const open=fs.createWriteStream;fs.createWriteStream=function(path,opts){if(resolve(String(path))!==target)return open.call(fs,path,opts);const s=open.call(fs,target+'.tmp',opts);const emit=s.emit;s.emit=function(ev,...a){if(ev==='finish'&&!s.errored)fs.renameSync(target+'.tmp',target);return emit.call(this,ev,...a)};return s;};`;
  return ['--import', `data:text/javascript,${encodeURIComponent(code)}`];
}

/**
 * Refuses a persisted data file that is not JSON (left empty by a crash of a version that persisted in
 * place): kinesis-mock would only say `NoSuchElementException`.
 * @throws Error naming the file and what to do.
 */
function checkPersistedData(dir: string): void {
  const file = join(dir, PERSIST_FILE);
  if (!existsSync(file)) return;
  try {
    JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw new Error(
      `kinesis-local: its data file ${file} is damaged (empty or not JSON; a crash while it was written). The records in it are lost: remove the file, or run with --fresh`,
    );
  }
}

/**
 * Starts kinesis-mock from the npm package `kinesis-local` (the emulator LocalStack itself runs) on a
 * free plain-HTTP port and waits until it answers. Streams listed in `streams` (`name:shards`) are
 * created and waited for until ACTIVE.
 *
 * The emulator dies with this process, even on SIGKILL: it stays in this process group and a
 * watchdog in it exits once its parent is gone ({@link nodeWatchdogArgs}). With `persistDir`, its
 * pid and port are kept in `<persistDir>.pid`; a start that finds an earlier emulator still alive
 * there refuses to share its data.
 * @throws ListenError (the CLI exits 2 with its one line) when an emulator of an earlier run still
 *   holds `persistDir`.
 */
export async function startKinesisLocal(
  options: {
    streams?: { name: string; shards: number }[];
    port?: number;
    /** Persist the emulator's data in this directory so a restart keeps streams, records and sequence numbers. */
    persistDir?: string;
    log?: (line: string) => void;
  } = {},
): Promise<KinesisLocal> {
  const require = createRequire(import.meta.url);
  const main = require.resolve('kinesis-local/main.js');
  const pidPath = options.persistDir ? `${options.persistDir.replace(/\/+$/, '')}.pid` : undefined;
  const stale = pidPath ? staleProcess(pidPath) : undefined;
  if (stale) {
    throw new ListenError(
      `kinesis-local: an emulator of an earlier run (pid ${stale.pid}, started ${stale.startedAt}) still holds port ${stale.port} and ${options.persistDir} (stop it: kill ${stale.pid})`,
    );
  }
  if (options.persistDir) checkPersistedData(options.persistDir);
  const port = options.port ?? (await freePort());
  const tlsPort = await freePort();
  const preload = [
    ...nodeWatchdogArgs(),
    ...(options.persistDir ? atomicPersistArgs(join(options.persistDir, PERSIST_FILE)) : []),
  ];
  const child = spawn(process.execPath, [...preload, main], {
    env: {
      ...process.env,
      KINESIS_MOCK_PLAIN_PORT: String(port),
      KINESIS_MOCK_TLS_PORT: String(tlsPort),
      KINESIS_MOCK_CERT_PATH: join(dirname(main), 'server.json'),
      CREATE_STREAM_DURATION: '0ms',
      LOG_LEVEL: 'WARN',
      ...(options.persistDir
        ? {
            SHOULD_PERSIST_DATA: 'true',
            LOAD_DATA_IF_EXISTS: 'true',
            PERSIST_PATH: options.persistDir,
            PERSIST_INTERVAL: '500ms',
          }
        : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = collectOutput(child, options.log);
  if (pidPath && child.pid !== undefined) {
    writePidFile(pidPath, { pid: child.pid, port, what: 'kinesis-local' });
    child.once('exit', () => removePidFile(pidPath));
  }
  const endpoint = `http://127.0.0.1:${port}`;
  const client = emulatorKinesisClient(endpoint);
  const deadline = Date.now() + 60_000;
  let up = false;
  while (!up) {
    if (child.exitCode !== null)
      throw new Error(`kinesis-local exited (${child.exitCode}): ${output.join('')}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`kinesis-local did not answer on ${endpoint} within 60 s: ${output.join('')}`);
    }
    try {
      await client.send(new DescribeStreamSummaryCommand({ StreamName: '__probe__' }));
      up = true;
    } catch (err) {
      if ((err as { name?: string }).name === 'ResourceNotFoundException') up = true;
      else await new Promise((r) => setTimeout(r, 200));
    }
  }
  for (const s of options.streams ?? []) {
    try {
      await client.send(new CreateStreamCommand({ StreamName: s.name, ShardCount: s.shards }));
    } catch (err) {
      // A persisted emulator already has its streams.
      if ((err as { name?: string }).name !== 'ResourceInUseException') throw err;
    }
    for (;;) {
      const d = await client.send(new DescribeStreamSummaryCommand({ StreamName: s.name }));
      if (d.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  client.destroy();
  return {
    endpoint,
    process: child,
    pause: () => child.kill('SIGSTOP'),
    resume: () => child.kill('SIGCONT'),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      if (options.persistDir) {
        // Give the emulator one persist interval to write its data file, then stop it.
        child.kill('SIGCONT');
        await new Promise((r) => setTimeout(r, 1_000));
      }
      child.kill('SIGKILL');
      await exited;
    },
  };
}
