/**
 * The one registry of components (Redpanda Connect style): every source type, sink and consumer is
 * built from its config here. A new API needs only config; a new sink needs one folder and one line
 * below, plus its schema in `src/config/schema.ts`.
 */
import type { ConsumerConfig, SinkConfig, SourceConfig } from './config/schema.js';
import { createBronzeWriter } from './consumers/bronze/index.js';
import type { Consumer } from './consumers/types.js';
import type { DeadLetterQueue } from './deadletter/index.js';
import type { Logger } from './log.js';
import { createHttpSource } from './pollers/http/index.js';
import type { Source } from './pollers/types.js';
import { createKinesisSink } from './producers/kinesis/index.js';
import type { Sink } from './producers/types.js';
import type { StateStore } from './state/index.js';

/** What every component factory may use. */
export interface ComponentDeps {
  state: StateStore;
  deadLetters: DeadLetterQueue;
  logger: Logger;
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

const sinks: { [K in SinkConfig['type']]: Factory<Extract<SinkConfig, { type: K }>, Sink> } = {
  kinesis: (config, deps) =>
    createKinesisSink(config, { deadLetters: deps.deadLetters, logger: deps.logger }),
};

const consumers: { [K in ConsumerConfig['type']]: Factory<Extract<ConsumerConfig, { type: K }>, Consumer> } =
  {
    bronze: (config, deps) => createBronzeWriter(config, deps),
  };

/** Builds a source from its config. */
export function buildSource(config: SourceConfig, deps: ComponentDeps & { sink: Sink }): Source {
  return sources[config.type](config, deps);
}

/** Builds a sink from its config. */
export function buildSink(config: SinkConfig, deps: ComponentDeps): Sink {
  return sinks[config.type](config, deps);
}

/** Builds a consumer from its config. */
export function buildConsumer(config: ConsumerConfig, deps: ComponentDeps): Consumer {
  return consumers[config.type](config, deps);
}
