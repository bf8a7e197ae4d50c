/**
 * Hours in bronze: parsing `bronze/source=<s>/dt=YYYY-MM-DD/hour=HH/<object>` keys, hour arithmetic
 * (UTC) and the fingerprint of an hour's objects. Pure functions, no I/O.
 */
import { createHash } from 'node:crypto';

/** Where bronze lives in the lake. */
export const BRONZE_PREFIX = 'bronze/';

/** An hour as `YYYY-MM-DDTHH` (UTC), e.g. `2024-01-31T23`. Sorts chronologically as a string. */
export type HourId = string;

const KEY_PATTERN = /^bronze\/source=([^/]+)\/dt=(\d{4})-(\d{2})-(\d{2})\/hour=(\d{2})\/(.+)$/;
const HOUR_PATTERN = /^(\d{4})-(\d{2})-(\d{2})T(\d{2})$/;

/** One bronze object key, parsed. */
export interface BronzeObject {
  key: string;
  source: string;
  hour: HourId;
}

/**
 * Parses a bronze object key. Returns `undefined` for anything else: other layouts, invalid dates or
 * hours, folder markers (`…/`) and hidden or marker objects (`_SUCCESS`, `.tmp` files, names starting
 * with `_` or `.`).
 */
export function parseBronzeKey(key: string): BronzeObject | undefined {
  const m = KEY_PATTERN.exec(key);
  if (!m) return undefined;
  const [, source, y, mo, d, h, rest] = m as unknown as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if (rest.endsWith('/') || rest.endsWith('.tmp')) return undefined;
  const base = rest.slice(rest.lastIndexOf('/') + 1);
  if (base.startsWith('_') || base.startsWith('.')) return undefined;
  const hour = `${y}-${mo}-${d}T${h}`;
  if (!isValidHour(hour)) return undefined;
  return { key, source, hour };
}

/** True when `hour` is a real `YYYY-MM-DDTHH` UTC hour. */
export function isValidHour(hour: string): boolean {
  const m = HOUR_PATTERN.exec(hour);
  if (!m) return false;
  const [y, mo, d, h] = m.slice(1).map(Number) as [number, number, number, number];
  const t = new Date(Date.UTC(y, mo - 1, d, h));
  return h < 24 && t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d && h >= 0;
}

/** The hour containing `date` (UTC). */
export function hourOf(date: Date): HourId {
  return date.toISOString().slice(0, 13);
}

/** Start of an hour, epoch milliseconds. */
export function hourStartMs(hour: HourId): number {
  return Date.parse(`${hour}:00:00.000Z`);
}

/** End of an hour (start of the next), epoch milliseconds. */
export function hourEndMs(hour: HourId): number {
  return hourStartMs(hour) + 3_600_000;
}

/** True once `now` is at least `graceSecs` past the hour's end: no more data is expected. */
export function isClosed(hour: HourId, now: Date, graceSecs: number): boolean {
  return now.getTime() >= hourEndMs(hour) + graceSecs * 1000;
}

/** Bronze of one hour: object keys by source, both sorted. */
export interface BronzeHour {
  hour: HourId;
  /** Source → sorted object keys. */
  sources: Map<string, string[]>;
}

/**
 * Groups bronze object keys by hour and source. Keys that are not bronze objects are ignored.
 * @returns hours in chronological order.
 */
export function groupBronze(keys: Iterable<string>): BronzeHour[] {
  const hours = new Map<HourId, Map<string, string[]>>();
  for (const key of keys) {
    const o = parseBronzeKey(key);
    if (!o) continue;
    let sources = hours.get(o.hour);
    if (!sources) {
      sources = new Map();
      hours.set(o.hour, sources);
    }
    const list = sources.get(o.source);
    if (list) list.push(key);
    else sources.set(o.source, [key]);
  }
  return [...hours.keys()].sort().map((hour) => {
    const bySource = hours.get(hour)!;
    const sources = new Map(
      [...bySource.keys()].sort().map((s) => [s, [...bySource.get(s)!].sort()] as [string, string[]]),
    );
    return { hour, sources };
  });
}

/**
 * Fingerprint of a set of object keys: SHA-256 (hex) of the sorted, de-duplicated keys, one per line.
 * Bronze object names are unique per write (stream, shard, first sequence number; Firehose adds a
 * UUID) and a replay rewrites the same name with the same records, so new data means new keys.
 */
export function fingerprintKeys(keys: Iterable<string>): string {
  const sorted = [...new Set(keys)].sort();
  return createHash('sha256').update(sorted.join('\n')).digest('hex');
}

/** `YYYY-MM-DDTHH` values as a SQL list of string literals: `'2024-01-01T00','2024-01-01T01'`. */
export function sqlHourList(hours: readonly HourId[]): string {
  for (const h of hours) if (!isValidHour(h)) throw new RangeError(`not an hour: ${h}`);
  return hours.map((h) => `'${h}'`).join(',');
}

/**
 * The UTC days (`YYYY-MM-DD`) that the window of the last `lookbackHours` hours before `now` touches,
 * oldest first. The scheduler lists only `bronze/source=<s>/dt=<day>/` for these days, so a cycle's
 * listing grows with the window and the number of sources, never with the age of the lake (issue 11).
 * @param lookbackHours - hours back from `now`, at least 1.
 */
export function windowDays(now: Date, lookbackHours: number): string[] {
  const days: string[] = [];
  const last = hourStartMs(hourOf(now));
  for (let t = last - (lookbackHours - 1) * 3_600_000; t <= last; t += 3_600_000) {
    const day = new Date(t).toISOString().slice(0, 10);
    if (days[days.length - 1] !== day) days.push(day);
  }
  return days;
}

/** The bronze prefix of one source's day: `bronze/source=<source>/dt=<day>/`. */
export function bronzeDayPrefix(source: string, day: string): string {
  return `${BRONZE_PREFIX}source=${source}/dt=${day}/`;
}
