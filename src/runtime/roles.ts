/**
 * The service's roles: `run` (pollers and their sinks) and `consume` (stream consumers). Each role
 * serves `/metrics`, `/healthz` and `/readyz` on its own port and stops cleanly: stop polling, flush
 * the sinks, flush and checkpoint the consumers.
 */
import type { Config } from '../config/schema.js';
import type { Consumer } from '../consumers/types.js';
import { LeasedSourceGroup, newInstanceId, processOwner } from '../coordination/index.js';
import { DeadLetterQueue } from '../deadletter/index.js';
import { openLake } from '../lake/index.js';
import type { Logger } from '../log.js';
import { closeSharedAgents } from '../pollers/http/index.js';
import type { Source } from '../pollers/types.js';
import type { Sink } from '../producers/types.js';
import { buildConsumer, buildSink, buildSource, type ComponentDeps } from '../registry.js';
import { FileStateStore, type StateStore } from '../state/index.js';
import { collectProcessMetrics, startTelemetryServer } from '../telemetry/index.js';

export interface Role {
  /** Telemetry port actually bound. */
  port: number;
  /**
   * Stops the role: no new work, flush, checkpoint. Resolves when done.
   * @param deadlineMs - when (ms since the epoch) to give up on work still waiting for a failing
   *   dependency: the run role then abandons unacknowledged records (they are polled again after a
   *   restart, never dead-lettered) so the stop resolves in time. @default no deadline
   */
  stop(deadlineMs?: number): Promise<void>;
}

export interface RunRole extends Role {
  sources: Source[];
  sinks: Sink[];
}

export interface ConsumeRole extends Role {
  consumers: Consumer[];
}

/**
 * Opens the state store chosen in config. The DynamoDB store's module (and its SDK) is loaded only
 * when config names it.
 */
export async function openStateStore(config: Config): Promise<StateStore> {
  switch (config.state.type) {
    case 'file':
      return new FileStateStore(config.state.path);
    case 'dynamodb': {
      const { DynamoDbStateStore } = await import('../state/dynamodb.js');
      return new DynamoDbStateStore({ tableName: config.state.tableName, region: config.state.region });
    }
  }
}

/** The dependencies every component gets: state store, dead-letter queue, logger, lake config. */
export async function commonDeps(config: Config, logger: Logger): Promise<ComponentDeps> {
  return {
    state: await openStateStore(config),
    deadLetters: new DeadLetterQueue(openLake(config.deadLetter.uri)),
    logger,
    lakeConfig: config.lake,
    ...(config.coordination.enabled
      ? { coordination: { config: config.coordination, me: processOwner(newInstanceId()) } }
      : {}),
  };
}

async function allReady(checks: (() => Promise<boolean>)[]): Promise<boolean> {
  const results = await Promise.all(checks.map((c) => c().catch(() => false)));
  return results.every(Boolean);
}

/**
 * Starts role `run`: builds the sinks and sources from config, checks every sink (a missing stream
 * fails here with a clear error), then starts polling.
 * @param options.port - telemetry port; @default config.telemetry.runPort
 */
export async function startRunRole(
  config: Config,
  logger: Logger,
  options: { port?: number; signal?: AbortSignal } = {},
): Promise<RunRole> {
  collectProcessMetrics();
  const deps = await commonDeps(config, logger);
  const sinks = await Promise.all(config.sinks.map((s) => buildSink(s, deps)));
  const sinkByName = new Map(sinks.map((s) => [s.name, s]));
  let started = false;
  // Serve /readyz first: while a sink waits for an unreachable stream, it answers 503 with why.
  const telemetry = await startTelemetryServer({
    port: options.port ?? config.telemetry.runPort,
    host: config.telemetry.host,
    ready: async () => started && allReady(sinks.map((s) => () => s.ready())),
  });
  let sources: Source[];
  let leased: LeasedSourceGroup | undefined;
  try {
    for (const sink of sinks) await sink.start(options.signal);
    const build = (s: Config['sources'][number], state: StateStore): Source => {
      const sink = s.sink === undefined ? sinks[0] : sinkByName.get(s.sink);
      if (!sink) throw new Error(`source ${s.name}: no sink configured`);
      return buildSource(s, { ...deps, state, sink });
    };
    // Validate every source (and its sink) up front, leased or not.
    sources = config.sources.map((s) => build(s, deps.state));
    if (config.coordination.enabled) {
      await Promise.all(sources.map((s) => s.stop()));
      const byName = new Map(config.sources.map((s) => [s.name, s]));
      leased = new LeasedSourceGroup({
        names: config.sources.map((s) => s.name),
        build: (name, state) => build(byName.get(name)!, state),
        state: deps.state,
        config: config.coordination,
        me: deps.coordination?.me ?? processOwner(newInstanceId()),
        logger,
      });
      sources = leased.sources;
    }
  } catch (err) {
    await Promise.all(sinks.map((s) => s.close().catch(() => undefined)));
    await deps.state.close();
    await telemetry.close();
    throw err;
  }
  started = true;
  if (leased) await leased.start();
  else for (const source of sources) source.start();
  logger.info(
    {
      event: 'role_started',
      role: 'run',
      sources: sources.length,
      ...(leased ? { leased: leased.held() } : {}),
      sinks: sinks.length,
      port: telemetry.port,
    },
    'run role started',
  );
  return {
    port: telemetry.port,
    sources,
    sinks,
    stop: async (deadlineMs?: number) => {
      // A poll waiting on a failing sink cannot finish by itself: at the deadline the sinks abandon
      // what is unacknowledged, the waiting writes reject, and the polls end without recording it.
      const abandonTimer =
        deadlineMs === undefined
          ? undefined
          : setTimeout(
              () => {
                for (const s of sinks)
                  s.abandon('shutdown deadline reached while the sink was not acknowledging');
              },
              Math.max(0, deadlineMs - Date.now()),
            );
      try {
        // Leased: the in-flight polls finish before their leases are released.
        await leased?.stop();
        await Promise.all(sources.map((s) => s.stop()));
        await Promise.all(sinks.map((s) => s.close()));
      } finally {
        if (abandonTimer !== undefined) clearTimeout(abandonTimer);
      }
      await closeSharedAgents();
      await deps.state.close();
      await telemetry.close();
      logger.info({ event: 'role_stopped', role: 'run' }, 'run role stopped');
    },
  };
}

/**
 * Starts role `consume`: builds and starts every consumer from config.
 * @param options.port - telemetry port; @default config.telemetry.consumePort
 */
export async function startConsumeRole(
  config: Config,
  logger: Logger,
  options: { port?: number; signal?: AbortSignal } = {},
): Promise<ConsumeRole> {
  collectProcessMetrics();
  const deps = await commonDeps(config, logger);
  const consumers: Consumer[] = [];
  let started = false;
  // Bind the port first: a port in use fails the role before any consumer reads a record.
  const telemetry = await startTelemetryServer({
    port: options.port ?? config.telemetry.consumePort,
    host: config.telemetry.host,
    ready: async () => started && allReady(consumers.map((c) => () => c.ready())),
  });
  // A SIGTERM while a consumer waits for its stream at start-up stops the waiting consumers.
  const onAbort = () => {
    for (const c of consumers) void c.stop().catch(() => undefined);
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (const c of config.consumers) consumers.push(await buildConsumer(c, deps));
    for (const c of consumers) await c.start();
    options.signal?.removeEventListener('abort', onAbort);
  } catch (err) {
    options.signal?.removeEventListener('abort', onAbort);
    await Promise.all(consumers.map((c) => c.stop().catch(() => undefined)));
    await telemetry.close();
    throw err;
  }
  started = true;
  logger.info(
    { event: 'role_started', role: 'consume', consumers: consumers.length, port: telemetry.port },
    'consume role started',
  );
  return {
    port: telemetry.port,
    consumers,
    stop: async () => {
      await Promise.all(consumers.map((c) => c.stop()));
      await deps.state.close();
      await telemetry.close();
      logger.info({ event: 'role_stopped', role: 'consume' }, 'consume role stopped');
    },
  };
}

export { Shutdown } from './shutdown.js';
