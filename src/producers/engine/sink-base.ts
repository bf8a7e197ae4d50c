/**
 * What every engine-backed sink does the same way besides the engine itself: forward `write`,
 * `flush`, `abandon` and `stats` to its {@link SinkEngine}, close once (engine first, then the
 * sink's client), and at `start()` wait for a destination that cannot be reached yet
 * ({@link EngineSink.waitForDestination}). A sink subclasses it with its driver, its `start()` and
 * its `ready()`.
 */
import { failureClassOf } from '../../errors.js';
import type { Logger } from '../../log.js';
import { waitUntilReady } from '../../retry/ready.js';
import { ProducerError } from '../errors.js';
import type { Delivery, OutgoingRecord, Sink } from '../types.js';
import {
  type EngineDeps,
  type EngineOptions,
  type EngineStats,
  type SinkDriver,
  SinkEngine,
} from './index.js';

/**
 * Failure classes of a service that does not answer (yet), as opposed to one that refuses: `start()`
 * waits for these (ECS would otherwise restart the task in a loop) and fails fast on the others.
 */
const UNREACHABLE = new Set(['network', 'timeout', 'http_5xx', 'throttled', 'malformed_response']);

/** How {@link EngineSink.waitForDestination} describes the destination and reads its errors. */
export interface WaitForDestination<T> {
  /** The describe call (DescribeStreamSummary, DescribeDeliveryStream, metadata...). */
  describe: () => Promise<T>;
  /** Classifies an error `describe` threw. */
  classify: (err: unknown) => ProducerError;
  /** The error to fail with at once when the destination does not exist, else `undefined`. */
  missing: (classified: ProducerError, err: unknown) => ProducerError | undefined;
  /** The destination in messages, e.g. `Kinesis stream "orders"`. */
  what: string;
  /** The endpoint in messages. */
  endpoint: string;
  /** Backoff between attempts (the sink's `retry`); at least 100 ms base. */
  retry: { baseDelayMs: number; maxDelayMs: number };
  /** Aborting ends the wait with the last failure. */
  signal?: AbortSignal | undefined;
}

/** What every engine-backed sink's factory takes (a sink adds its `client`): the engine's, with the base logger. */
export interface EngineSinkDeps extends Omit<EngineDeps, 'log'> {
  /** The base logger; the sink logs through a child with its fields. */
  logger: Logger;
}

/** The engine's dependencies from a factory's, with the sink's child logger. */
export function engineDepsOf(deps: EngineSinkDeps, log: Logger): EngineDeps {
  return {
    deadLetters: deps.deadLetters,
    log,
    ...(deps.sleep ? { sleep: deps.sleep } : {}),
    ...(deps.random ? { random: deps.random } : {}),
    ...(deps.now ? { now: deps.now } : {}),
  };
}

/**
 * A sink's client, created on first use unless one was given (tests pass a fake); `release()`
 * closes only a client created here.
 */
export class LazyClient<C extends { close?(): void }> {
  private client: C | undefined;
  private readonly owns: boolean;

  constructor(
    given: C | undefined,
    private readonly make: () => C,
  ) {
    this.client = given;
    this.owns = given === undefined;
  }

  get(): C {
    this.client ??= this.make();
    return this.client;
  }

  release(): void {
    if (this.owns) this.client?.close?.();
  }
}

/** The base of every engine-backed sink; see the module comment. */
export abstract class EngineSink<C extends { close?(): void }> implements Sink {
  readonly name: string;
  protected readonly log: Logger;
  protected readonly engine: SinkEngine;
  private readonly component: string;
  private closePromise: Promise<void> | undefined;

  /**
   * @param options - the engine's settings (the sink's parsed config; see `./schema.ts`).
   * @param driver - the sink's limits, batch forming, send call and error classification.
   * @param deps - dead letters, the sink's logger (a child with its fields) and test clocks.
   * @param client - the sink's client (released after the engine closed).
   */
  constructor(
    options: EngineOptions,
    driver: SinkDriver,
    deps: EngineDeps,
    protected readonly client: LazyClient<C>,
  ) {
    this.name = options.name;
    this.log = deps.log;
    this.component = driver.component;
    this.engine = new SinkEngine(options, driver, deps);
  }

  abstract start(signal?: AbortSignal): Promise<void>;
  abstract ready(): Promise<boolean>;

  /** A point-in-time view of the buffer. */
  stats(): EngineStats {
    return this.engine.stats();
  }

  write(records: OutgoingRecord[]): Promise<Delivery[]> {
    return this.engine.write(records);
  }

  flush(): Promise<void> {
    return this.engine.flush();
  }

  abandon(reason: string): number {
    return this.engine.abandon(reason);
  }

  close(): Promise<void> {
    this.closePromise ??= (async () => {
      await this.engine.close();
      this.client.release();
      this.log.info({ event: 'sink_closed' }, `${this.component} sink closed`);
    })();
    return this.closePromise;
  }

  /**
   * Calls `describe` until it answers. While the service cannot be reached (network, timeouts, 5xx,
   * throttling) it waits with full-jitter backoff, `/readyz` not ready with the reason, logging on
   * the first and every tenth attempt.
   * @throws the `missing` error when the destination does not exist; a {@link ProducerError} when
   *   the service refuses (access denied, a KMS key: a config mistake, fail fast) or `signal` aborted.
   */
  protected waitForDestination<T>(w: WaitForDestination<T>): Promise<T> {
    const attempt = async (): Promise<T> => {
      try {
        return await w.describe();
      } catch (err) {
        const e = w.classify(err);
        const missing = w.missing(e, err);
        if (missing) {
          this.log.error({ event: 'destination_missing', endpoint: w.endpoint }, missing.message);
          throw missing;
        }
        throw new ProducerError(`cannot describe ${w.what} at ${w.endpoint}: ${e.message}`, e.failureClass, {
          retriable: e.retriable,
          cause: err,
          ...(e.code === undefined ? {} : { code: e.code }),
        });
      }
    };
    return waitUntilReady(attempt, {
      readinessKey: `sink:${this.name}`,
      log: this.log,
      event: 'sink_waiting_for_destination',
      fields: { endpoint: w.endpoint },
      waitingFor: 'it',
      reason: (err) => (err as Error).message,
      retryIf: (err) => UNREACHABLE.has(failureClassOf(err)),
      retry: w.retry,
      signal: w.signal,
    });
  }
}
