/** One shard's buffer: the records read since its last checkpoint, like Firehose's BufferingHints. */
import { type ParsedEnvelope, parseRecord, type RejectedRecord } from './records.js';

/** Records read from one shard since its last checkpoint. */
export class ShardBuffer {
  readonly envelopes: ParsedEnvelope[] = [];
  /** Records (or NDJSON lines) that are not envelopes: they go to the dead-letter location. */
  readonly rejected: RejectedRecord[] = [];
  /** Uncompressed bytes (NDJSON lines with newlines, plus rejected data). */
  bytes = 0;
  /** When the first record entered the buffer (epoch ms). */
  startedAtMs?: number;
  /** Last sequence number in the buffer. */
  lastSequenceNumber?: string;
  /** `ApproximateArrivalTimestamp` of the first and last record, epoch ms. */
  firstArrivalMs?: number;
  lastArrivalMs?: number;

  /** Envelopes plus rejected records held. */
  get size(): number {
    return this.envelopes.length + this.rejected.length;
  }

  /**
   * Adds one Kinesis record: its envelopes (one, or several NDJSON lines or KPL sub-records) and
   * what cannot be parsed.
   * @returns how many logical records it held (envelopes plus rejected ones).
   */
  add(
    sequenceNumber: string,
    data: Uint8Array,
    partitionKey?: string,
    arrival?: Date,
    nowMs = Date.now(),
  ): number {
    const parsed = parseRecord({
      sequenceNumber,
      data,
      ...(partitionKey === undefined ? {} : { partitionKey }),
    });
    this.startedAtMs ??= nowMs;
    for (const e of parsed.envelopes) {
      this.envelopes.push(e);
      this.bytes += Buffer.byteLength(e.line, 'utf8') + 1;
    }
    for (const r of parsed.rejected) {
      this.rejected.push(r);
      this.bytes += r.data.length;
    }
    this.lastSequenceNumber = sequenceNumber;
    const arrivalMs = arrival?.getTime();
    if (arrivalMs !== undefined) {
      this.firstArrivalMs ??= arrivalMs;
      this.lastArrivalMs = arrivalMs;
    }
    return parsed.envelopes.length + parsed.rejected.length;
  }

  /** Milliseconds until the buffer is due by time (`intervalSecs` after its first record); Infinity when empty. */
  dueInMs(intervalSecs: number, nowMs = Date.now()): number {
    if (this.startedAtMs === undefined) return Number.POSITIVE_INFINITY;
    return this.startedAtMs + intervalSecs * 1000 - nowMs;
  }
}
