/**
 * Every sink type, one line each. The config schema of `sinks[]`, the factories, and what bootstrap
 * and `ingest local` prepare all come from here. A new sink is one folder (with a `spec.ts`) plus one
 * line in {@link SINK_SPECS}.
 */
import { z } from 'zod';
import { firehoseSink } from './firehose/spec.js';
import { kafkaSink } from './kafka/spec.js';
import { kinesisSink } from './kinesis/spec.js';
import type { SinkDeps, SinkResource, SinkSpec } from './spec.js';
import type { Sink } from './types.js';

/** The sink types. */
const SINK_SPECS = [kinesisSink, firehoseSink, kafkaSink] as const;

type SchemaOf<T> = T extends SinkSpec<infer S> ? S : never;
type SchemasOf<T extends readonly unknown[]> = { -readonly [K in keyof T]: SchemaOf<T[K]> };

/** The schema of one `sinks[]` entry: the union of every sink type's schema, by `type`. */
export const SinkSchema = z.discriminatedUnion(
  'type',
  SINK_SPECS.map((s) => s.schema) as unknown as SchemasOf<typeof SINK_SPECS>,
);

/** One parsed `sinks[]` entry. */
export type SinkConfig = z.infer<typeof SinkSchema>;

function specOf(config: SinkConfig): SinkSpec<z.ZodType<{ type: string; name: string }>> {
  const spec = SINK_SPECS.find((s) => (s.schema.shape.type as z.ZodLiteral<string>).value === config.type);
  if (!spec) throw new Error(`sink ${config.name}: unknown type ${config.type}`);
  return spec as unknown as SinkSpec<z.ZodType<{ type: string; name: string }>>;
}

/** What a sink needs from its endpoint (streams, delivery streams, topics), from config alone. */
export function sinkResources(config: SinkConfig): SinkResource[] {
  return specOf(config).resources(config);
}

/** Builds a sink from its config, loading its module on demand. */
export function createSink(config: SinkConfig, deps: SinkDeps): Promise<Sink> {
  return specOf(config).create(config, deps);
}
