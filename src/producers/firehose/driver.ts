/**
 * What the engine needs from Firehose: the PutRecordBatch limits (500 records and 4 MiB per call,
 * 1,000 KiB per record: PutRecordBatch API reference), newline-delimited records, the call, and
 * per-entry results from `FailedPutCount` and `RequestResponses`.
 */

import { type Sized, selectBatch } from '../engine/batching.js';
import type { BatchUnit, EngineEntry, SinkDriver, UnitResult, UnitSelection } from '../engine/index.js';
import type { OutgoingRecord } from '../types.js';
import type { PutRecordBatchClient } from './client.js';
import type { FirehoseSinkConfig } from './config.js';
import {
  classifyFirehoseEntryError,
  classifyFirehoseError,
  FirehoseRecordTooLargeError,
  type ProducerError,
  PutRecordBatchError,
} from './errors.js';
import { producerFirehosePartialFailuresTotal } from './telemetry.js';

const NEWLINE = 0x0a;

/** The bytes Firehose receives for a record: its data, plus a newline when `newlineDelimited`. */
export function firehoseData(data: Uint8Array, newline: boolean): Uint8Array {
  if (!newline) return data;
  const out = new Uint8Array(data.byteLength + 1);
  out.set(data);
  out[data.byteLength] = NEWLINE;
  return out;
}

export class FirehoseDriver implements SinkDriver {
  readonly component = 'firehose';
  readonly callName: string;
  /** Per-record limit: `maxRecordBytes`, or `maxBatchBytes` if smaller (a record must fit a call). */
  private readonly recordLimit: number;
  private readonly extra: number;
  private readonly sizeOf = (e: Sized) => (e as EngineEntry).dataBytes + this.extra;

  constructor(
    private readonly cfg: FirehoseSinkConfig,
    private readonly client: () => PutRecordBatchClient,
  ) {
    this.callName = `PutRecordBatch to delivery stream "${cfg.deliveryStreamName}"`;
    this.recordLimit = Math.min(cfg.maxRecordBytes, cfg.maxBatchBytes);
    this.extra = cfg.newlineDelimited ? 1 : 0;
  }

  validate(record: OutgoingRecord): ProducerError | undefined {
    const bytes = record.data.byteLength + this.extra;
    return bytes > this.recordLimit ? new FirehoseRecordTooLargeError(bytes, this.recordLimit) : undefined;
  }

  /**
   * Oldest first, within the call limits counted as Firehose counts them (data plus newline; the
   * partition key is not sent). Several records of a key may share a call, in order (Firehose does
   * not order records anyway); a key with a call in flight or backing off waits (engine rule).
   */
  select(pending: readonly EngineEntry[], isBlocked: (key: string) => boolean): UnitSelection {
    const s = selectBatch(pending, {
      maxBatchRecords: this.cfg.maxBatchRecords,
      maxBatchBytes: this.cfg.maxBatchBytes,
      isBlocked,
      sizeOf: this.sizeOf,
    });
    return { ...s, units: s.indexes.map((i) => ({ indexes: [i] })) };
  }

  /**
   * One PutRecordBatch. `FailedPutCount` must equal the entries carrying an `ErrorCode`, and there
   * must be one response per record: otherwise the answer cannot say which records failed, and the
   * whole call is retried (at least once: a record may then be delivered twice).
   */
  async send(units: readonly BatchUnit[]): Promise<UnitResult[]> {
    const out = await this.client().putRecordBatch({
      DeliveryStreamName: this.cfg.deliveryStreamName,
      Records: units.map((u) => ({ Data: firehoseData(u.entries[0]!.record.data, this.extra === 1) })),
    });
    const responses = out.RequestResponses ?? [];
    const failed = responses.filter((r) => r.ErrorCode).length;
    if (responses.length !== units.length || (out.FailedPutCount ?? failed) !== failed) {
      throw new PutRecordBatchError(
        `PutRecordBatch returned ${responses.length} responses (${failed} with an ErrorCode, FailedPutCount ${out.FailedPutCount}) for ${units.length} records`,
        'malformed_response',
        { retriable: true, code: 'MalformedResponse' },
      );
    }
    if (failed > 0) producerFirehosePartialFailuresTotal.inc({ sink: this.cfg.name });
    return responses.map((r) =>
      r.ErrorCode
        ? { ok: false, error: classifyFirehoseEntryError(r.ErrorCode, r.ErrorMessage) }
        : { ok: true, ...(r.RecordId === undefined ? {} : { sequenceNumber: r.RecordId }) },
    );
  }

  classify(err: unknown): ProducerError {
    return classifyFirehoseError(err);
  }
}
