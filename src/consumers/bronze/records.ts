/**
 * Pure parsing of Kinesis records into envelopes: a record's data is one JSON envelope, NDJSON
 * with several envelopes (one per line) when the producer batches them, or a KPL aggregate of such
 * records (the Kinesis sink's `aggregation`). Anything that is not a valid
 * envelope is returned as a rejection with its reason, for the dead-letter location: never dropped.
 */
import type { Envelope } from '../../envelope.js';
import { decodeAggregated, isAggregated, type UserRecord } from '../../producers/kinesis/kpl.js';
import { MalformedRecordError } from './errors.js';

/** One Kinesis record as the writer keeps it. */
export interface ShardRecord {
  /** Kinesis sequence number (decimal string, up to 128 digits). */
  sequenceNumber: string;
  /** The record's data blob. */
  data: Uint8Array;
  partitionKey?: string;
  /** `ApproximateArrivalTimestamp` in epoch milliseconds, when Kinesis gave one. */
  approximateArrivalMs?: number;
}

/** An envelope ready for bronze. */
export interface ParsedEnvelope {
  /** The sequence number of the Kinesis record holding it. */
  sequenceNumber: string;
  source: string;
  id: string;
  /** Partition date `YYYY-MM-DD`, UTC, from `ingested_at`. */
  dt: string;
  /** Partition hour `HH` (00-23), UTC, from `ingested_at`. */
  hour: string;
  /** The NDJSON line written to bronze (the envelope's own text when it was one line, no newline). */
  line: string;
}

/** A record (or one line of an NDJSON record) that is not a valid envelope. */
export interface RejectedRecord {
  sequenceNumber: string;
  /** Why it was rejected, e.g. `not valid JSON: Unexpected token...` or `missing or empty "id"`. */
  reason: string;
  /** The `source` field when it could be read, else `unknown`. */
  source: string;
  /** The rejected bytes: the whole record, or the offending line. */
  data: Uint8Array;
  partitionKey?: string;
}

/** The outcome of parsing one Kinesis record. */
export interface ParsedRecord {
  envelopes: ParsedEnvelope[];
  rejected: RejectedRecord[];
}

/**
 * Source names become the `source=` partition and a path segment: letters, digits, `.`, `_`, `-`,
 * starting with a letter or digit, at most 255 characters (a file name's limit).
 */
export const SOURCE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;

const decoder = new TextDecoder('utf-8', { fatal: true });

/** The UTC partition (`dt`, `hour`) of an `ingested_at` value. @throws MalformedRecordError */
export function partitionOf(ingestedAt: string): { dt: string; hour: string } {
  const ms = Date.parse(ingestedAt);
  if (Number.isNaN(ms))
    throw new MalformedRecordError(`"ingested_at" is not a date: ${JSON.stringify(ingestedAt)}`);
  const iso = new Date(ms).toISOString();
  if (!/^\d{4}-/.test(iso)) throw new MalformedRecordError(`"ingested_at" is out of range: ${ingestedAt}`);
  return { dt: iso.slice(0, 10), hour: iso.slice(11, 13) };
}

/**
 * Checks a parsed JSON value is an envelope: an object with non-empty string `source` (matching
 * {@link SOURCE_PATTERN}), `id` and `ingested_at` (a date; the partition is its UTC date and hour).
 * @returns the fields bronze needs. @throws MalformedRecordError with the reason.
 */
export function validateEnvelope(value: unknown): Pick<Envelope, 'source' | 'id' | 'ingested_at'> & {
  dt: string;
  hour: string;
} {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new MalformedRecordError(`not a JSON object (${Array.isArray(value) ? 'array' : typeof value})`);
  }
  const v = value as Record<string, unknown>;
  for (const field of ['source', 'id', 'ingested_at'] as const) {
    if (typeof v[field] !== 'string' || v[field] === '') {
      throw new MalformedRecordError(`missing or empty "${field}"`);
    }
  }
  const source = v.source as string;
  if (!SOURCE_PATTERN.test(source)) {
    throw new MalformedRecordError(`"source" is not a valid partition value: ${JSON.stringify(source)}`);
  }
  const ingestedAt = v.ingested_at as string;
  return { source, id: v.id as string, ingested_at: ingestedAt, ...partitionOf(ingestedAt) };
}

function sourceOf(value: unknown): string {
  const s = (value as { source?: unknown } | null)?.source;
  return typeof s === 'string' && SOURCE_PATTERN.test(s) ? s : 'unknown';
}

function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Builds rejections of one Kinesis record: its sequence number and partition key, a reason and bytes. */
function rejecter(
  record: ShardRecord,
): (reason: string, bytes: Uint8Array, source?: string) => RejectedRecord {
  const { sequenceNumber, partitionKey } = record;
  return (reason, bytes, source = 'unknown') => ({
    sequenceNumber,
    reason,
    source,
    data: bytes,
    ...(partitionKey === undefined ? {} : { partitionKey }),
  });
}

/**
 * Parses one Kinesis record. The data must be UTF-8. When the whole text parses as JSON it is one
 * envelope (which may span several lines: it is then re-serialised onto one line); otherwise it is
 * read as NDJSON, one envelope per non-blank line, and each bad line is rejected on its own with its
 * 1-based line number. A line that parses is written to bronze as it came (so numbers and key order
 * stay exactly as the producer wrote them).
 *
 * A KPL-aggregated record (magic `F3 89 9A C2`, see `producers/kinesis/kpl.ts`) is deaggregated
 * first: its MD5 and protobuf are checked (a bad one rejects the whole record, with the reason), then
 * each user record's data is parsed as above, in order, each rejection naming the user record and
 * carrying its own partition key. Every envelope keeps the Kinesis record's sequence number: object
 * names and checkpoints stay by Kinesis sequence number (a replay re-reads whole aggregates, so the
 * names stay deterministic), and user records within one aggregate keep their packing order.
 */
export function parseRecord(record: ShardRecord): ParsedRecord {
  const { sequenceNumber, data } = record;
  const reject = rejecter(record);
  if (isAggregated(data)) {
    let users: UserRecord[];
    try {
      users = decodeAggregated(data);
    } catch (err) {
      return { envelopes: [], rejected: [reject(`bad KPL-aggregated record: ${reasonOf(err)}`, data)] };
    }
    if (users.length === 0)
      return { envelopes: [], rejected: [reject('KPL-aggregated record with no user records', data)] };
    const out: ParsedRecord = { envelopes: [], rejected: [] };
    users.forEach((user, i) => {
      const inner = parsePlain({ sequenceNumber, data: user.data, partitionKey: user.partitionKey });
      out.envelopes.push(...inner.envelopes);
      for (const r of inner.rejected)
        out.rejected.push({ ...r, reason: `KPL user record ${i + 1} of ${users.length}: ${r.reason}` });
    });
    return out;
  }
  return parsePlain(record);
}

/** {@link parseRecord} for a record that is not a KPL aggregate (or one user record of one). */
function parsePlain(record: ShardRecord): ParsedRecord {
  const { sequenceNumber, data } = record;
  const reject = rejecter(record);
  let text: string;
  try {
    text = decoder.decode(data);
  } catch {
    return { envelopes: [], rejected: [reject('not valid UTF-8', data)] };
  }
  if (text.trim() === '') return { envelopes: [], rejected: [reject('empty record', data)] };

  const out: ParsedRecord = { envelopes: [], rejected: [] };
  const accept = (value: unknown, line: string, bytes: Uint8Array, prefix: string): void => {
    try {
      const e = validateEnvelope(value);
      out.envelopes.push({ sequenceNumber, source: e.source, id: e.id, dt: e.dt, hour: e.hour, line });
    } catch (err) {
      out.rejected.push(reject(prefix + reasonOf(err), bytes, sourceOf(value)));
    }
  };

  let whole: unknown;
  let wholeParsed = false;
  try {
    whole = JSON.parse(text);
    wholeParsed = true;
  } catch {
    // Not one JSON document: read as NDJSON below.
  }
  if (wholeParsed) {
    const trimmed = text.trim();
    accept(whole, /[\r\n]/.test(trimmed) ? JSON.stringify(whole) : trimmed, data, '');
    return out;
  }
  const lines = text.split('\n');
  const many = lines.filter((l) => l.trim() !== '').length > 1;
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const bytes = new TextEncoder().encode(line);
    const prefix = many ? `line ${i + 1}: ` : '';
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      out.rejected.push(reject(`${prefix}not valid JSON: ${reasonOf(err)}`, bytes));
      return;
    }
    accept(value, line, bytes, prefix);
  });
  return out;
}
