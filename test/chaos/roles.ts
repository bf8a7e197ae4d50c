/**
 * The `run` and `consume` roles as real processes (`node dist/cli.js run|consume --config FILE`):
 * start, signal (SIGTERM / SIGKILL) and restart them, keep each incarnation's output in its own log
 * file, notice exits nobody asked for, and sample their memory from /proc/<pid>/status.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export type Role = 'run' | 'consume';

export interface SignalOutcome {
  role: Role;
  signal: 'SIGTERM' | 'SIGKILL';
  /** Seconds from the signal to the exit. */
  secs: number;
  code: number | null;
  exitSignal: string | null;
  /** Whether this was the final, clean stop at the end of the run. */
  final: boolean;
  /** The orchestrator had to SIGKILL it after the SIGTERM timed out. */
  timedOut: boolean;
}

export interface UnexpectedExit {
  role: Role;
  code: number | null;
  signal: string | null;
  atSecs: number;
  /** Seconds the process had been running. */
  livedSecs: number;
  /** It exited while the stream was stalled or down (the orchestrator's `outage()` said so). */
  duringOutage: boolean;
  log: string;
  tail: string;
}

/** Reads VmHWM (peak resident set) and VmRSS of a process in KiB, or undefined once it is gone. */
export function readMemKb(pid: number): { hwm: number; rss: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]);
    const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
    return Number.isFinite(hwm) && Number.isFinite(rss) ? { hwm, rss } : undefined;
  } catch {
    return undefined;
  }
}

export class RoleProcess {
  readonly role: Role;
  incarnations = 0;
  /** Highest VmHWM seen over every incarnation, KiB. */
  peakKb = 0;
  /** Latest VmRSS sample, KiB. */
  rssKb = 0;
  readonly logs: string[] = [];
  readonly unexpected: UnexpectedExit[] = [];
  private child: ChildProcess | undefined;
  private exited: Promise<{ code: number | null; signal: string | null }> | undefined;
  private expecting = false;
  private autoRestart = true;
  private readonly cli: string;
  private readonly configFile: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly logDir: string;
  private readonly t0: number;
  private readonly outage: () => boolean;

  constructor(opts: {
    role: Role;
    cli: string;
    configFile: string;
    env: NodeJS.ProcessEnv;
    logDir: string;
    t0: number;
    /** Whether the stream is stalled or down right now. */
    outage?: () => boolean;
  }) {
    this.outage = opts.outage ?? (() => false);
    this.role = opts.role;
    this.cli = opts.cli;
    this.configFile = opts.configFile;
    this.env = opts.env;
    this.logDir = opts.logDir;
    this.t0 = opts.t0;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): void {
    this.incarnations++;
    const log = join(this.logDir, `${this.role}.${this.incarnations}.log`);
    this.logs.push(log);
    const fd = openSync(log, 'a');
    const child = spawn(process.execPath, [this.cli, this.role, '--config', this.configFile], {
      env: this.env,
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    this.child = child;
    this.expecting = false;
    const started = Date.now();
    this.exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
    void this.exited.then(({ code, signal }) => {
      if (this.child !== child || this.expecting) return;
      let tail = '';
      try {
        tail = readFileSync(log, 'utf8').split('\n').slice(-6).join('\n');
      } catch {}
      this.unexpected.push({
        role: this.role,
        code,
        signal,
        atSecs: (Date.now() - this.t0) / 1000,
        livedSecs: (Date.now() - started) / 1000,
        duringOutage: this.outage(),
        log,
        tail,
      });
      console.log(`[chaos] ${this.role} exited unexpectedly (code ${code}, signal ${signal}); see ${log}`);
      if (this.autoRestart) setTimeout(() => this.autoRestart && !this.running && this.start(), 2_000);
    });
  }

  /** Samples memory now; called every second and right before a signal. */
  sample(): void {
    const m = this.child?.pid && this.running ? readMemKb(this.child.pid) : undefined;
    if (!m) return;
    this.peakKb = Math.max(this.peakKb, m.hwm);
    this.rssKb = m.rss;
  }

  /**
   * Sends a signal and waits for the exit. A SIGTERM that has not ended the process after
   * `timeoutSecs` is followed by SIGKILL and reported as timed out.
   */
  async signal(
    sig: 'SIGTERM' | 'SIGKILL',
    opts: { timeoutSecs: number; final?: boolean },
  ): Promise<SignalOutcome> {
    const child = this.child;
    if (!child || !this.running || !this.exited) throw new Error(`${this.role} is not running`);
    this.sample();
    this.expecting = true;
    if (opts.final) this.autoRestart = false;
    const t = Date.now();
    child.kill(sig);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutSecs * 1000);
    const { code, signal } = await this.exited;
    clearTimeout(timer);
    return {
      role: this.role,
      signal: sig,
      secs: (Date.now() - t) / 1000,
      code,
      exitSignal: signal,
      final: opts.final ?? false,
      timedOut,
    };
  }
}
