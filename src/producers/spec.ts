/**
 * How a sink type declares itself (Redpanda Connect style): its config schema, what it needs from its
 * endpoint, and a factory loaded on demand. Bootstrap and `ingest local` ask the spec what a sink
 * needs ({@link SinkSpec.resources}); nothing outside a sink's folder reads its config fields.
 */
import type { z } from 'zod';
import type { DeadLetterQueue } from '../deadletter/index.js';
import type { Logger } from '../log.js';
import type { Sink } from './types.js';

/**
 * A thing a sink writes to that must exist before it starts. Each sink type adds its own kind.
 * - `kinesis-stream`: a Kinesis data stream (bootstrap creates it; `ingest local` serves it from its
 *   Kinesis emulator).
 * - `firehose-delivery-stream`: a DirectPut Firehose delivery stream writing the bronze layout
 *   (bootstrap creates it; `ingest local` serves it from moto and mirrors it into the file lake).
 * - `kafka-topic`: a Kafka topic (bootstrap creates it on the sink's brokers with the sink's
 *   TLS/SASL settings; `ingest local` starts a local broker and creates it there).
 */
export type SinkResource =
  | {
      kind: 'kinesis-stream' | 'firehose-delivery-stream';
      /** Stream name. */
      name: string;
      /** The sink this resource belongs to (for messages). */
      sink: string;
      /** The endpoint the sink's config names, when it names one. */
      endpoint?: string;
    }
  | {
      kind: 'firehose-delivery-stream';
      /** Delivery stream name. */
      name: string;
      /** The sink this resource belongs to (for messages). */
      sink: string;
      /** The endpoint the sink's config names, when it names one. */
      endpoint?: string;
    }
  | {
      kind: 'kafka-topic';
      /** Topic name. */
      name: string;
      /** The sink this resource belongs to (for messages). */
      sink: string;
      /** The brokers the sink's config names (`host:port`). */
      brokers: string[];
      /** Partitions of the topic when it is created. */
      partitions: number;
      /** Replication factor when it is created. @default the broker's */
      replicationFactor?: number;
    };

/** What every sink factory may use. */
export interface SinkDeps {
  /** Where records that can never be sent go. Only `put` is used. */
  deadLetters: Pick<DeadLetterQueue, 'put'>;
  logger: Logger;
}

/** One sink type: everything the registry, bootstrap, `ingest local` and the docs need from it. */
export interface SinkSpec<S extends z.ZodType<{ type: string; name: string }>> {
  /** The config schema (a `strictObject` with a literal `type`). */
  readonly schema: S;
  /** What the sink needs from its endpoint, from its config alone (no calls). */
  resources(config: z.output<S>): SinkResource[];
  /** Builds the sink; loads the sink's module (and its AWS or Kafka client) only when called. */
  create(config: z.output<S>, deps: SinkDeps): Promise<Sink>;
}

/** Declares a sink type; only fixes the types. */
export function defineSink<S extends z.ZodType<{ type: string; name: string }>>(
  spec: SinkSpec<S>,
): SinkSpec<S> {
  return spec;
}
