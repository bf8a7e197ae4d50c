/**
 * Reading the dead-letter location back: the objects `DeadLetterQueue` writes
 * (`dead-letter/component=<c>/dt=YYYY-MM-DD/hour=HH/<name>.json.gz`, gzip NDJSON), filtered by
 * component, source, time range and reason, for `ingest dead-letters list` and `replay`.
 */
import { gunzipSync } from 'node:zlib';
import { StorageError } from '../errors.js';
import type { Lake } from '../lake/index.js';

/** The zone dead letters live in, and the zone that records which objects were replayed. */
export const DEAD_LETTER_PREFIX = 'dead-letter/';
export const REPLAYED_PREFIX = 'dead-letter-replayed/';

/** The key of the marker that records that a dead-letter object was replayed. */
export function replayMarkerKey(objectKey: string): string {
  return `${REPLAYED_PREFIX}${objectKey.slice(DEAD_LETTER_PREFIX.length)}.json`;
}

/** The dead-letter object a replay marker stands for. */
function replayedObjectOf(markerKey: string): string {
  return `${DEAD_LETTER_PREFIX}${markerKey.slice(REPLAYED_PREFIX.length).replace(/\.json$/, '')}`;
}

/** One dead letter as read back. */
export interface StoredDeadLetter {
  /** The object it was read from, relative to the lake root. */
  key: string;
  /** Line number in the object, from 1. */
  line: number;
  deadLetteredAt: string;
  component: string;
  source: string;
  failureClass: string;
  reason: string;
  partitionKey?: string;
  /** The record as it was accepted. */
  data: Uint8Array;
}

/** Which dead letters to select; every field is optional and they combine with AND. */
export interface DeadLetterFilter {
  /** Only this component (`kinesis`, `bronze`, or a source name for records that could not be wrapped). */
  component?: string;
  /** Only records of this source (config name). */
  source?: string;
  /** Only dead letters written at or after this instant. */
  since?: Date;
  /** Only dead letters written before this instant. */
  until?: Date;
  /** Only reasons containing this text (case-insensitive). */
  reason?: string;
}

const KEY = /^dead-letter\/component=([^/]+)\/dt=(\d{4}-\d{2}-\d{2})\/hour=(\d{2})\/[^/]+\.json\.gz$/;
const HOUR_MS = 3_600_000;

/** Whether an object's hour can hold letters the filter selects (prunes by key, before reading). */
function objectMayMatch(key: string, filter: DeadLetterFilter): boolean {
  const m = KEY.exec(key);
  if (!m) return false;
  if (filter.component !== undefined && m[1] !== filter.component) return false;
  const hourStart = Date.parse(`${m[2]}T${m[3]}:00:00Z`);
  if (filter.since && hourStart + HOUR_MS <= filter.since.getTime()) return false;
  if (filter.until && hourStart >= filter.until.getTime()) return false;
  return true;
}

function letterMatches(l: StoredDeadLetter, filter: DeadLetterFilter): boolean {
  if (filter.source !== undefined && l.source !== filter.source) return false;
  const at = Date.parse(l.deadLetteredAt);
  if (filter.since && !(at >= filter.since.getTime())) return false;
  if (filter.until && !(at < filter.until.getTime())) return false;
  if (filter.reason !== undefined && !l.reason.toLowerCase().includes(filter.reason.toLowerCase()))
    return false;
  return true;
}

/**
 * Parses one dead-letter object.
 * @throws StorageError (not retriable) naming the object and line when a line is not a dead letter.
 */
export function parseDeadLetterObject(key: string, body: Uint8Array): StoredDeadLetter[] {
  let text: string;
  try {
    text = gunzipSync(body).toString('utf8');
  } catch (err) {
    throw new StorageError(`dead-letter object ${key} is not gzip: ${(err as Error).message}`, {
      cause: err,
      retriable: false,
    });
  }
  const out: StoredDeadLetter[] = [];
  text.split('\n').forEach((raw, i) => {
    if (raw === '') return;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(raw) as Record<string, unknown>;
    } catch (err) {
      throw new StorageError(`dead-letter object ${key} line ${i + 1} is not JSON`, {
        cause: err,
        retriable: false,
      });
    }
    const data =
      typeof o.data === 'string'
        ? Buffer.from(o.data, 'utf8')
        : typeof o.data_base64 === 'string'
          ? Buffer.from(o.data_base64, 'base64')
          : undefined;
    if (data === undefined || typeof o.source !== 'string' || typeof o.reason !== 'string') {
      throw new StorageError(`dead-letter object ${key} line ${i + 1} lacks data, source or reason`, {
        retriable: false,
      });
    }
    out.push({
      key,
      line: i + 1,
      deadLetteredAt: String(o.dead_lettered_at ?? ''),
      component: String(o.component ?? ''),
      source: o.source,
      failureClass: String(o.failure_class ?? ''),
      reason: o.reason,
      ...(typeof o.partition_key === 'string' ? { partitionKey: o.partition_key } : {}),
      data,
    });
  });
  return out;
}

/** One dead-letter object and the selected letters in it. */
export interface DeadLetterObject {
  key: string;
  /** Whether `ingest dead-letters replay` already replayed this object. */
  replayed: boolean;
  /** Letters in the object, selected or not. */
  total: number;
  letters: StoredDeadLetter[];
}

/**
 * Reads the dead letters a filter selects, object by object, oldest first (keys sort by time).
 * Objects whose hour lies outside the time range are not read.
 * @throws StorageError when the lake cannot be listed or read, or an object is not dead letters.
 */
export async function* readDeadLetters(
  lake: Lake,
  filter: DeadLetterFilter = {},
): AsyncGenerator<DeadLetterObject> {
  const prefix =
    filter.component === undefined
      ? DEAD_LETTER_PREFIX
      : `${DEAD_LETTER_PREFIX}component=${filter.component}/`;
  const keys = (await lake.list(prefix)).filter((k) => objectMayMatch(k, filter));
  const replayed = new Set((await lake.list(REPLAYED_PREFIX)).map(replayedObjectOf));
  for (const key of keys) {
    const body = await lake.get(key);
    if (body === undefined) continue; // removed since the listing
    const all = parseDeadLetterObject(key, body);
    const letters = all.filter((l) => letterMatches(l, filter));
    if (letters.length > 0) yield { key, replayed: replayed.has(key), total: all.length, letters };
  }
}
