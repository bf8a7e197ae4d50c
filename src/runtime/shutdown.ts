import type { Logger } from '../log.js';
import type { Role } from './roles.js';

/**
 * Graceful shutdown on SIGTERM or SIGINT. Create it first thing, before a role starts, so a signal
 * that arrives during startup (ECS may stop a task at any time) is remembered and honoured as soon
 * as the roles are up, instead of killing the process by the default action.
 */
export class Shutdown {
  private signal: NodeJS.Signals | undefined;
  private started: { roles: Role[]; logger: Logger; timeoutSecs: number } | undefined;
  private readonly aborter = new AbortController();
  /** Aborted at the first SIGTERM/SIGINT: a role still starting (waiting for its stream) gives up. */
  readonly startup: AbortSignal = this.aborter.signal;

  constructor() {
    const onSignal = (signal: NodeJS.Signals) => {
      if (this.signal) return;
      this.signal = signal;
      this.aborter.abort(new Error(`${signal} during startup`));
      if (this.started) this.stop();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }

  /**
   * Waits for SIGTERM or SIGINT, then stops the roles within `timeoutSecs` and exits: 0 when the
   * stop completed in time, 1 otherwise (ECS sends SIGKILL `stopTimeout` seconds after SIGTERM).
   */
  waitAndStop(roles: Role[], logger: Logger, timeoutSecs: number): Promise<never> {
    this.started = { roles, logger, timeoutSecs };
    if (this.signal) this.stop();
    return new Promise<never>(() => undefined);
  }

  private stop(): void {
    const { roles, logger, timeoutSecs } = this.started!;
    logger.info(
      { event: 'shutdown', signal: this.signal, timeoutSecs },
      'shutting down: stop polling, flush, checkpoint',
    );
    const timer = setTimeout(() => {
      logger.error({ event: 'shutdown_timeout', timeoutSecs }, 'shutdown did not finish in time');
      process.exit(1);
    }, timeoutSecs * 1000);
    timer.unref();
    // Leave the last fifth (at most 5 s) to close the state store and the telemetry server.
    const deadlineMs = Date.now() + timeoutSecs * 1000 - Math.min(5_000, timeoutSecs * 200);
    Promise.all(roles.map((r) => r.stop(deadlineMs)))
      .then(() => {
        logger.info({ event: 'shutdown_complete' }, 'stopped cleanly');
        process.exit(0);
      })
      .catch((err: unknown) => {
        logger.error({ event: 'shutdown_failed', err }, 'shutdown failed');
        process.exit(1);
      });
  }
}
