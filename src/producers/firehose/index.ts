/**
 * The Firehose sink: writes records to an Amazon Data Firehose DirectPut delivery stream with
 * PutRecordBatch, on the shared sink engine (`../engine`: buffer, backpressure, per-key ordering of
 * sends, partial-failure retry of only the failed entries, dead letters, abandon at the shutdown
 * deadline; ADR 5, ADR 8). This folder supplies only Firehose's own parts: the limits (500 records
 * and 4 MiB per call, 1,000 KiB per record), newline-delimited records (`driver.ts`), the call
 * (`client.ts`) and error classification (`errors.ts`).
 *
 * Firehose writes what it receives to S3 in arrival order per buffer, with no per-key ordering
 * guarantee; the lake deduplicates by record id and keeps the latest version (ADR 3), so ordering
 * is not needed for correctness. Delivery is at least once: a timed-out call may have been applied.
 * @example
 * ```ts
 * const sink = createFirehoseSink({ type: 'firehose', deliveryStreamName: 'ingest-bronze' }, { deadLetters, logger });
 * await sink.start();
 * await sink.write([{ source: 'api.orders', partitionKey: 'api.orders:1', data }]);
 * ```
 */
import type { z } from 'zod';
import { ConfigError } from '../../errors.js';
import { EngineSink, type EngineSinkDeps, engineDepsOf, LazyClient } from '../engine/sink-base.js';
import type { Sink } from '../types.js';
import { createFirehoseClient, type PutRecordBatchClient } from './client.js';
import { type FirehoseSinkConfig, FirehoseSinkSchema } from './config.js';
import { FirehoseDriver } from './driver.js';
import { classifyFirehoseError, DeliveryStreamUnusableError } from './errors.js';

export * from './client.js';
export * from './config.js';
export { FirehoseDriver, firehoseData } from './driver.js';
export * from './errors.js';

/** The config as written (before defaults). */
export type FirehoseSinkInput = z.input<typeof FirehoseSinkSchema>;

export interface FirehoseSinkDeps extends EngineSinkDeps {
  /** The Firehose client. @default createFirehoseClient from config and env, created on first use */
  client?: PutRecordBatchClient;
}

class FirehoseSinkImpl extends EngineSink<PutRecordBatchClient> {
  constructor(
    private readonly cfg: FirehoseSinkConfig,
    deps: FirehoseSinkDeps,
    client: LazyClient<PutRecordBatchClient>,
  ) {
    super(
      cfg,
      new FirehoseDriver(cfg, () => client.get()),
      engineDepsOf(
        deps,
        deps.logger.child({
          component: 'firehose',
          sink: cfg.name,
          deliveryStream: cfg.deliveryStreamName,
        }),
      ),
      client,
    );
  }

  /**
   * Waits for the delivery stream (DescribeDeliveryStream) while Firehose cannot be reached.
   * @throws DeliveryStreamUnusableError when it does not exist, is being deleted or is not DirectPut
   *   (PutRecordBatch is refused on a stream with a Kinesis or MSK source).
   */
  async start(signal?: AbortSignal): Promise<void> {
    const client = this.client.get();
    const name = this.cfg.deliveryStreamName;
    const what = `Firehose delivery stream "${name}"`;
    const summary = await this.waitForDestination({
      describe: () => client.describeDeliveryStream(name),
      classify: classifyFirehoseError,
      missing: (e, err) =>
        e.code === 'ResourceNotFoundException'
          ? new DeliveryStreamUnusableError(`${what} does not exist at ${client.endpoint}`, err)
          : undefined,
      what,
      endpoint: client.endpoint,
      retry: this.cfg.retry,
      signal,
    });
    if (summary.type !== 'DirectPut') {
      throw new DeliveryStreamUnusableError(
        `${what} at ${client.endpoint} has source ${summary.type}: this sink needs a DirectPut delivery stream (PutRecordBatch is refused otherwise)`,
      );
    }
    if (summary.status.startsWith('DELETING') || summary.status.endsWith('FAILED')) {
      throw new DeliveryStreamUnusableError(`${what} at ${client.endpoint} is ${summary.status}`);
    }
    this.log.info(
      { event: 'sink_started', endpoint: client.endpoint, status: summary.status },
      'firehose sink started',
    );
  }

  async ready(): Promise<boolean> {
    try {
      const { status } = await this.client.get().describeDeliveryStream(this.cfg.deliveryStreamName);
      return status === 'ACTIVE';
    } catch {
      return false;
    }
  }
}

/** A Firehose sink (a {@link Sink} plus `stats()`). */
export type FirehoseSink = FirehoseSinkImpl;

/**
 * Creates the Firehose sink (see the module comment).
 * @param config - the sink's config (`FirehoseSinkSchema`; defaults applied here).
 * @param deps.client - a {@link PutRecordBatchClient}; by default an SDK client from config and env.
 * @throws ConfigError when the config does not match the schema.
 */
export function createFirehoseSink(config: FirehoseSinkInput, deps: FirehoseSinkDeps): Sink & FirehoseSink {
  const parsed = FirehoseSinkSchema.safeParse(config);
  if (!parsed.success)
    throw new ConfigError(`firehose sink config: ${parsed.error.message}`, { cause: parsed.error });
  const cfg = parsed.data;
  const client = new LazyClient(deps.client, () =>
    createFirehoseClient({
      region: cfg.region,
      endpoint: cfg.endpoint,
      requestTimeoutMs: cfg.requestTimeoutMs,
    }),
  );
  return new FirehoseSinkImpl(cfg, deps, client);
}
