/**
 * The one registry of components (Redpanda Connect style): every source type, sink and consumer is
 * built from its config here. A new API needs only config; a new sink needs one folder and one line
 * in `src/producers/registry.ts`.
 */

import type { ConsumerConfig, SinkConfig, SourceConfig } from './config/schema.js';
import type { HourlyScheduler, HourlySchedulerConfig } from './consumers/hourly/index.js';
import type { Consumer } from './consumers/types.js';
import type { CoordinationConfig, OwnerIdentity } from './coordination/index.js';
import type { DeadLetterQueue } from './deadletter/index.js';
import type { LakeConfig } from './glue/config.js';
import type { GlueExecutor, QueryEngine } from './glue/types.js';
import type { Logger } from './log.js';
import { createHttpSource } from './pollers/http/index.js';
import type { Source } from './pollers/types.js';
import { createSink } from './producers/registry.js';
import type { Sink } from './producers/types.js';
import type { StateStore } from './state/index.js';

/** What every component factory may use. */
export interface ComponentDeps {
  state: StateStore;
  deadLetters: DeadLetterQueue;
  logger: Logger;
  /** The lake's zones and silver mappings (`lake` in config). */
  lakeConfig: LakeConfig;
  /** Leases shared with other tasks (`coordination` in config, when enabled), and who this task is. */
  coordination?: { config: CoordinationConfig; me: OwnerIdentity };
}

type Factory<C, T, D = ComponentDeps> = (config: C, deps: D) => T;

const sources: {
  [K in SourceConfig['type']]: Factory<
    Extract<SourceConfig, { type: K }>,
    Source,
    ComponentDeps & { sink: Sink }
  >;
} = {
  http: (config, deps) => createHttpSource(config, deps),
};

const consumers: {
  [K in ConsumerConfig['type']]: Factory<Extract<ConsumerConfig, { type: K }>, Consumer | Promise<Consumer>>;
} = {
  // Consumers are loaded on demand: the `run` role never pays for their S3 and Glue clients.
  bronze: async (config, deps) =>
    (await import('./consumers/bronze/index.js')).createBronzeWriter(config, deps),
  bronze_kafka: async (config, deps) =>
    (await import('./consumers/bronze/kafka-writer.js')).createKafkaBronzeWriter(config, deps),
  hourly: (config, deps) => createHourlyComponent(config, deps),
};

/**
 * The hourly scheduler with the executor and query engine its config names. The scheduler owns
 * neither; this wrapper closes both when the consumer stops.
 */
async function createHourlyComponent(
  config: HourlySchedulerConfig,
  deps: ComponentDeps,
): Promise<HourlyScheduler> {
  // Loaded on demand: the Glue, Athena and DuckDB clients (DuckDB is a native binding) cost start-up
  // time that roles without an hourly scheduler should not pay.
  let executor: GlueExecutor;
  if (config.executor.type === 'local') {
    const local = await import('./glue/local/executor.js');
    // Run records in the lake, so a scheduler taking over an hour after a crash can look runs up.
    executor = new local.LocalGlueExecutor({
      maxConcurrentRuns: config.executor.maxConcurrentRuns,
      prestart: config.executor.prestart,
      logger: deps.logger,
      runsDir: local.runsDirForLake(config.lakeUri),
    });
  } else {
    executor = new (await import('./glue/aws/executor.js')).AwsGlueExecutor({
      region: config.executor.region,
    });
  }
  let queries: QueryEngine | undefined;
  if (config.qualityQuery !== undefined) {
    queries =
      config.queryEngine.type === 'duckdb'
        ? await (await import('./glue/duckdb/engine.js')).DuckDbQueryEngine.open({ lakeUri: config.lakeUri })
        : new (await import('./glue/aws/athena.js')).AthenaQueryEngine({
            workgroup: config.queryEngine.workgroup,
            database: deps.lakeConfig.database,
            outputLocation: config.queryEngine.outputLocation,
            timeoutMs: config.queryEngine.timeoutMs,
          });
  }
  const { createHourlyScheduler } = await import('./consumers/hourly/index.js');
  const scheduler = createHourlyScheduler(config, {
    state: deps.state,
    logger: deps.logger,
    executor,
    ...(queries ? { queries } : {}),
    lakeConfig: deps.lakeConfig,
  });
  const stop = scheduler.stop.bind(scheduler);
  let stopped: Promise<void> | undefined;
  scheduler.stop = () => {
    stopped ??= (async () => {
      await stop();
      await executor.close();
      await queries?.close();
    })();
    return stopped;
  };
  return scheduler;
}

/** Builds a source from its config. */
export function buildSource(config: SourceConfig, deps: ComponentDeps & { sink: Sink }): Source {
  return sources[config.type](config, deps);
}

/**
 * Builds a sink from its config. Sink types are listed in `src/producers/registry.ts`, each loaded on
 * demand.
 */
export function buildSink(config: SinkConfig, deps: ComponentDeps): Promise<Sink> {
  return createSink(config, { deadLetters: deps.deadLetters, logger: deps.logger });
}

/** Builds a consumer from its config. */
export async function buildConsumer(config: ConsumerConfig, deps: ComponentDeps): Promise<Consumer> {
  return consumers[config.type](config as never, deps);
}
