/**
 * Landing one buffer in the lake, shared by every stream reader (Kinesis shards, Kafka partitions):
 * one gzip NDJSON object per (source, dt, hour) group, then the dead letters, each step retried
 * until it succeeds ({@link persistStep}). The caller checkpoints (or commits offsets) only after
 * this resolves, so nothing is ever marked read before it is durably written. Also the counters
 * both readers report.
 */
import type { DeadLetter, DeadLetterQueue } from '../../deadletter/index.js';
import { failureClassOf } from '../../errors.js';
import type { Lake } from '../../lake/index.js';
import type { Logger } from '../../log.js';
import type { ConsumerStats } from '../types.js';
import type { ShardBuffer } from './buffer.js';
import { bronzeWriteError } from './errors.js';
import { gzipNdjson, planObjects } from './objects.js';
import {
  bronzeBytesWrittenTotal,
  bronzeErrorsTotal,
  bronzeObjectsWrittenTotal,
  bronzeRecordsTotal,
  bronzeUncompressedBytesTotal,
  bronzeWriteDurationSeconds,
} from './telemetry.js';

/** The counters of a reader's {@link ConsumerStats} that are not per shard. */
export type BronzeCounts = Omit<ConsumerStats, 'shards' | 'recordsBuffered'>;

/** Counters behind a reader's stats and its `ingest_bronze_*` metrics. */
export class BronzeCounters {
  readonly counts: BronzeCounts = {
    kinesisRecordsRead: 0,
    recordsRead: 0,
    recordsLanded: 0,
    recordsDeadLettered: 0,
    objectsWritten: 0,
    bytesWritten: 0,
    uncompressedBytesWritten: 0,
    checkpointsWritten: 0,
    errors: 0,
  };

  constructor(private readonly consumer: string) {}

  /** Counts one failed attempt in `ingest_bronze_errors_total` and the stats. */
  countError(err: unknown): void {
    this.counts.errors += 1;
    bronzeErrorsTotal.inc({ consumer: this.consumer, class: failureClassOf(err) });
  }

  countObject(records: number, bytes: number, uncompressedBytes: number): void {
    const consumer = this.consumer;
    this.counts.objectsWritten += 1;
    this.counts.recordsLanded += records;
    this.counts.bytesWritten += bytes;
    this.counts.uncompressedBytesWritten += uncompressedBytes;
    bronzeObjectsWrittenTotal.inc({ consumer });
    bronzeRecordsTotal.inc({ consumer, outcome: 'landed' }, records);
    bronzeBytesWrittenTotal.inc({ consumer }, bytes);
    bronzeUncompressedBytesTotal.inc({ consumer }, uncompressedBytes);
  }

  countDeadLetters(n: number): void {
    this.counts.recordsDeadLettered += n;
    bronzeRecordsTotal.inc({ consumer: this.consumer, outcome: 'dead_lettered' }, n);
  }
}

/** Where a buffer came from and where it goes. */
export interface LandTarget {
  /** Consumer name (metric label, dead letters' component). */
  consumer: string;
  lake: Pick<Lake, 'put'>;
  deadLetters: Pick<DeadLetterQueue, 'put'>;
  counters: Pick<BronzeCounters, 'countObject' | 'countDeadLetters'>;
  log: Logger;
  /** The stream (Kinesis stream, Kafka topic) and shard (shard id, partition) in object names. */
  streamName: string;
  shardId: string;
  /** Where a record was read, for dead-letter reasons, e.g. `stream s, shard x, sequence 1`. */
  locate(sequenceNumber: string): string;
  /** Runs one durable step until it succeeds (see `persistStep`). */
  persist<T>(what: string, fn: () => Promise<T>): Promise<T>;
}

/**
 * Writes a buffer's objects, then its dead letters. Each step is retried until it succeeds.
 * @returns the objects written and their compressed bytes.
 * @throws what `persist` throws (the shutdown deadline, a non-retriable failure while stopping).
 */
export async function landBuffer(t: LandTarget, b: ShardBuffer): Promise<{ objects: number; bytes: number }> {
  const plans = planObjects(b.envelopes, t.streamName, t.shardId);
  let bytes = 0;
  for (const plan of plans) {
    const body = await gzipNdjson(plan.lines);
    const stopTimer = bronzeWriteDurationSeconds.startTimer({ consumer: t.consumer });
    await t.persist(`writing ${plan.key}`, async () => {
      try {
        await t.lake.put(plan.key, body, 'application/gzip');
      } catch (err) {
        throw bronzeWriteError(`cannot write ${plan.key}`, err);
      }
    });
    stopTimer();
    bytes += body.length;
    t.counters.countObject(plan.lines.length, body.length, plan.uncompressedBytes);
    t.log.debug(
      { shard: t.shardId, key: plan.key, records: plan.lines.length, bytes: body.length },
      'bronze object written',
    );
  }
  if (b.rejected.length > 0) {
    const letters: DeadLetter[] = b.rejected.map((r) => ({
      component: t.consumer,
      source: r.source,
      failureClass: 'malformed_response',
      reason: `${r.reason} (${t.locate(r.sequenceNumber)})`,
      data: r.data,
      ...(r.partitionKey === undefined ? {} : { partitionKey: r.partitionKey }),
    }));
    await t.persist(`writing ${letters.length} dead letters`, async () => {
      try {
        await t.deadLetters.put(letters);
      } catch (err) {
        throw bronzeWriteError('cannot write dead letters', err);
      }
    });
    t.counters.countDeadLetters(letters.length);
  }
  return { objects: plans.length, bytes };
}
