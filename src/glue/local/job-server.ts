/**
 * The Node side of the local job server (`job_server.py`): one Python process holding one
 * SparkSession (one JVM) that runs the Glue job scripts, so a local hour pays Spark's start-up once
 * instead of once per job. JSON lines: requests on its stdin, replies on its stdout (see the Python
 * module's docstring for the protocol).
 *
 * Process rules:
 * - it runs in its own process group, so {@link JobServer.stop} also stops the JVM PySpark started;
 * - it dies with this process, even on SIGKILL: `LAKE_PARENT_PID` makes it set a parent-death signal
 *   (`prctl(PR_SET_PDEATHSIG)`), and it exits when its stdin closes; the JVM exits with its driver;
 * - it keeps this process alive only while a run is in flight (an idle server is `unref`ed);
 * - when it exits, every run in flight rejects with {@link JobServerExitedError} carrying the tail of
 *   its stderr; it is not restarted here (the executor starts a new one for the next run). A reply
 *   that says its session broke (`exiting`) makes it stop {@link JobServer.accepting} runs at once.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Writable } from 'node:stream';
import { GlueError } from '../errors.js';
import { tail } from './run-records.js';

export interface JobServerOptions {
  /** The Python interpreter (the project venv's). */
  python: string;
  /** Path of `job_server.py`. */
  script: string;
  /** Working folder (a relative `file://./lake` resolves against it). */
  cwd: string;
  /** Its whole environment. */
  env: NodeJS.ProcessEnv;
  /** After SIGTERM, how long {@link JobServer.stop} waits before SIGKILL, in milliseconds. */
  killGraceMs: number;
  /** How much of the end of its stderr an exit error carries, in characters. */
  errorTailChars: number;
}

/** The reply to one run request. */
export interface JobReply {
  ok: boolean;
  /** What the job's `main(argv, spark)` returned, when a dict. */
  summary?: Record<string, unknown> | null;
  /** `<ExceptionType>: <message>` of a failed run. */
  error?: string;
  /** The Python traceback of a failed run. */
  traceback?: string;
  /** Wall time of the run inside the server, in seconds. */
  secs: number;
}

/** The job server exited (crashed, was killed or could not start) before it replied. */
export class JobServerExitedError extends GlueError {
  constructor(message: string) {
    super(message, { retriable: true });
  }
}

interface Pending {
  resolve: (reply: JobReply) => void;
  reject: (err: Error) => void;
}

const KEEP_STDERR_CHARS = 64 * 1024;

/** One running `job_server.py`; see the module docs. */
export class JobServer {
  /** Its pid (the process group leader). */
  readonly pid: number | undefined;
  /** Resolves when the SparkSession is up, with its start-up time in seconds; rejects when it exits first. */
  readonly ready: Promise<number>;
  /** Resolves when the process has exited, with what ended it (`exited (code 3): <stderr tail>`). */
  readonly exited: Promise<string>;
  private readonly child: ChildProcess;
  private readonly pending = new Map<string, Pending>();
  private stderrText = '';
  private fatal?: string;
  private exitError?: JobServerExitedError;
  private exiting = false;
  /** Set by {@link JobServer.stop}: its exit is expected. */
  stopping = false;

  constructor(private readonly options: JobServerOptions) {
    this.child = spawn(options.python, [options.script], {
      cwd: options.cwd,
      env: options.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    this.pid = this.child.pid;
    let onReady!: (secs: number) => void;
    let onFail!: (err: Error) => void;
    this.ready = new Promise<number>((ok, fail) => {
      onReady = ok;
      onFail = fail;
    });
    this.ready.catch(() => {});
    this.child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      this.stderrText = (this.stderrText + s).slice(-KEEP_STDERR_CHARS);
    });
    let buffered = '';
    this.child.stdout?.setEncoding('utf8').on('data', (s: string) => {
      buffered += s;
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        this.onLine(buffered.slice(0, nl), onReady);
        buffered = buffered.slice(nl + 1);
      }
    });
    // EPIPE when it died first: the exit handler reports that.
    this.child.stdin?.on('error', () => {});
    this.exited = new Promise<string>((done) => {
      const end = (why: string): void => {
        if (this.exitError) return;
        const detail = this.fatal ?? tail(this.stderrText, options.errorTailChars);
        this.exitError = new JobServerExitedError(
          `the local job server (${options.python} ${options.script}, pid ${this.pid ?? '?'}) ${why}${detail ? `: ${detail}` : ''}`,
        );
        onFail(this.exitError);
        for (const p of this.pending.values()) p.reject(this.exitError);
        this.pending.clear();
        done(this.exitError.message);
      };
      this.child.on('error', (err) => end(`could not run: ${err.message}`));
      this.child.on('close', (code, signal) => end(`exited (${signal ?? `code ${code}`})`));
    });
    this.setRef(false);
  }

  /** Whether it has not exited. */
  get alive(): boolean {
    return this.exitError === undefined;
  }

  /** Whether it takes new runs: alive and not about to exit (it said its session broke). */
  get accepting(): boolean {
    return this.alive && !this.exiting;
  }

  /** Runs in flight (sent, not replied to). */
  get inFlight(): number {
    return this.pending.size;
  }

  /**
   * Runs a job script's `main(argv, spark)` on the shared session.
   * @param argv - job arguments as Glue passes them (`--JOB_NAME job --k v ...`).
   * @returns the reply, also when the job failed (`ok: false`).
   * @throws JobServerExitedError when the server exits (or already had) before it replied.
   */
  run(id: string, script: string, argv: string[]): Promise<JobReply> {
    if (this.exitError) return Promise.reject(this.exitError);
    return new Promise<JobReply>((resolve, reject) => {
      this.pending.set(id, {
        resolve: (r) => this.settle(id, () => resolve(r)),
        reject: (e) => this.settle(id, () => reject(e)),
      });
      this.setRef(true);
      (this.child.stdin as Writable).write(`${JSON.stringify({ id, script, argv })}\n`);
    });
  }

  /** SIGTERM to its process group, SIGKILL after `killGraceMs`; resolves once it exited. Idempotent. */
  async stop(): Promise<void> {
    const pid = this.pid;
    this.stopping = true;
    if (pid === undefined || !this.alive) {
      await this.exited;
      return;
    }
    const signal = (sig: NodeJS.Signals): void => {
      try {
        process.kill(-pid, sig);
      } catch {
        // already gone
      }
    };
    signal('SIGTERM');
    const grace = setTimeout(() => signal('SIGKILL'), this.options.killGraceMs);
    await this.exited;
    clearTimeout(grace);
  }

  private settle(id: string, then: () => void): void {
    this.pending.delete(id);
    if (this.pending.size === 0) this.setRef(false);
    then();
  }

  /** An idle server does not keep this process alive; one with runs in flight does. */
  private setRef(on: boolean): void {
    type Handle = { ref?(): void; unref?(): void };
    const { stdin, stdout, stderr } = this.child;
    for (const h of [this.child, stdin, stdout, stderr] as (Handle | null)[]) {
      if (h === null) continue;
      if (on) h.ref?.();
      else h.unref?.();
    }
  }

  private onLine(line: string, onReady: (secs: number) => void): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.stderrText += `\n(unparsable reply line) ${line}`;
      return;
    }
    if (msg.ready === true) {
      onReady(Number(msg.startup_secs));
    } else if (typeof msg.fatal === 'string') {
      this.fatal = msg.fatal;
    } else if (typeof msg.id === 'string') {
      const { id, exiting, ...reply } = msg;
      if (exiting === true) this.exiting = true;
      this.pending.get(id)?.resolve(reply as unknown as JobReply);
    }
  }
}
