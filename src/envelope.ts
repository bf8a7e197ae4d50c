import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';

/**
 * The record envelope: one JSON object per Kinesis record and one line per record in bronze.
 * See docs/adr/0003-record-id-scheme.md for how `id` is derived.
 */
export interface Envelope {
  /** The source's config name, e.g. `fakestore.carts`. */
  source: string;
  /** Deterministic id: the same upstream record version always gives the same id. */
  id: string;
  /** When the service fetched the record: ISO-8601 UTC with milliseconds. */
  ingested_at: string;
  /** When the event happened upstream (ISO-8601 UTC), when the source names a field for it. */
  event_time?: string;
  /** The poll's cursor value, when the source is incremental. */
  cursor?: string;
  /** The upstream record, unchanged. */
  payload: unknown;
}

/** How a source derives ids, partition keys and event times from a payload. */
export interface EnvelopeSpec {
  source: string;
  /**
   * Dot path(s) of the upstream entity key, e.g. `id`, or `['country', 'station']` for a composite
   * key (see {@link entityKeyOf}).
   */
  idField?: string | readonly string[];
  /** Dot path of the upstream version, e.g. `updated_at` or `properties.updated`. */
  versionField?: string;
  /** Dot path of the event time (ISO string, or epoch milliseconds). */
  eventTimeField?: string;
  /** Dot path of the partition key; defaults to `idField`, else the record id. */
  partitionKeyField?: string;
  /** IANA time zone of zoneless event times. @default 'UTC' */
  timezone?: string;
}

/** `JSON.rawJSON` / `JSON.isRawJSON` (Node 22, TC39 "JSON.parse source text access"). */
const RawJSON = JSON as unknown as {
  rawJSON(text: string): { readonly rawJSON: string };
  isRawJSON(value: unknown): value is { readonly rawJSON: string };
};

/**
 * Whether `text` holds a run of 16 or more digits: every integer beyond ±2^53 (9007199254740992,
 * 16 digits) does, so when this is false plain `JSON.parse` loses nothing. A run inside a string
 * or a long fraction gives a false positive (the slower lossless parse, still correct), never a
 * false negative. A regular-expression test: about a fifth of the cost of `JSON.parse` on the same
 * text (a hand-written character loop costs as much as the parse).
 */
export function mayHoldUnsafeInteger(text: string): boolean {
  return LONG_DIGIT_RUN.test(text);
}

const LONG_DIGIT_RUN = /\d{16}/;

/**
 * `JSON.parse` that loses no digits: an integer beyond ±2^53 (a 64-bit id, say) is kept as its
 * source text in a raw-JSON value, which `JSON.stringify` writes back unchanged, so the payload in
 * bronze carries exactly the digits the API sent and two distinct big ids never collide.
 * The reviver (about 6× the cost of plain `JSON.parse`) runs only when
 * {@link mayHoldUnsafeInteger} finds a digit run long enough to be such an integer.
 * @throws SyntaxError on invalid JSON, as `JSON.parse`.
 */
export function parseJsonLossless(text: string): unknown {
  if (!mayHoldUnsafeInteger(text)) return JSON.parse(text);
  return JSON.parse(text, function (
    this: unknown,
    _key: string,
    value: unknown,
    context?: { source?: string },
  ) {
    if (
      typeof value === 'number' &&
      !Number.isSafeInteger(value) &&
      context?.source &&
      /^-?\d+$/.test(context.source)
    ) {
      return RawJSON.rawJSON(context.source);
    }
    return value;
  } as (this: unknown, key: string, value: unknown) => unknown);
}

/** Reads a dot path (`a.b.0.c`) out of a JSON value; `''` returns the value itself. */
export function getPath(value: unknown, path: string): unknown {
  if (path === '') return value;
  let cur: unknown = value;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/** SHA-256 (hex) of the RFC 8785 canonical JSON of `value`: key order and spacing do not matter. */
export function contentHash(value: unknown): string {
  return createHash('sha256')
    .update(canonicalize(value) ?? 'null')
    .digest('hex');
}

function scalar(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (RawJSON.isRawJSON(value)) return value.rawJSON;
  if (typeof value === 'string') return value === '' ? undefined : value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  return canonicalize(value);
}

/** The configured key paths of a spec, as a list (empty when no `idField`). */
export function idPaths(spec: Pick<EnvelopeSpec, 'idField'>): readonly string[] {
  const { idField } = spec;
  if (idField === undefined) return [];
  return typeof idField === 'string' ? [idField] : idField;
}

/** Escapes one part of a composite key so that `|` only ever separates parts. */
const keyPart = (v: string): string => v.replace(/%/g, '%25').replace(/\|/g, '%7C');

/**
 * The upstream entity key of a payload (ADR 0003), or `undefined` when it has none:
 * - one path: the value as text (`7`, `nc73138176`; objects as canonical JSON);
 * - several paths: the parts joined with `|`, each with `%` and `|` percent-escaped (`US|42`);
 * - a path that resolves to nothing (absent, `null` or `''`) makes the whole key absent.
 */
export function entityKeyOf(spec: Pick<EnvelopeSpec, 'idField'>, payload: unknown): string | undefined {
  const paths = idPaths(spec);
  if (paths.length === 0) return undefined;
  if (paths.length === 1) return scalar(getPath(payload, paths[0]!));
  const parts: string[] = [];
  for (const path of paths) {
    const v = scalar(getPath(payload, path));
    if (v === undefined) return undefined;
    parts.push(keyPart(v));
  }
  return parts.join('|');
}

/** The pieces of a record's identity, and the configured fields that resolved to nothing. */
export interface RecordIdentity {
  /** The record id (see {@link recordId}). */
  id: string;
  /** The entity key, or the record id when the record has no key. */
  entity: string;
  /** Whether {@link entity} came from `idField` (false: it is the content-hash id). */
  keyed: boolean;
  /** Configured `idField` paths and `versionField` that resolved to nothing in this payload
   * ({@link wrap} adds `partitionKeyField`). */
  missing: string[];
}

/**
 * The record id and entity key of a payload (ADR 0003):
 * - key and version configured and present: `<key>@<version>`;
 * - key only (or the version absent): `<key>@sha256:<first 32 hex of the canonical payload hash>`;
 * - otherwise: `sha256:<canonical payload hash>`, and the entity key is that id.
 */
export function identify(spec: EnvelopeSpec, payload: unknown): RecordIdentity {
  const paths = idPaths(spec);
  const missing: string[] = [];
  for (const p of paths) if (scalar(getPath(payload, p)) === undefined) missing.push(p);
  const key = missing.length === 0 ? entityKeyOf(spec, payload) : undefined;
  const version = spec.versionField ? scalar(getPath(payload, spec.versionField)) : undefined;
  if (spec.versionField && version === undefined) missing.push(spec.versionField);
  let id: string;
  if (key !== undefined && version !== undefined) id = `${key}@${version}`;
  else if (key !== undefined) id = `${key}@sha256:${contentHash(payload).slice(0, 32)}`;
  else id = `sha256:${contentHash(payload)}`;
  return { id, entity: key ?? id, keyed: key !== undefined, missing };
}

/** The record id (see {@link identify}). */
export function recordId(spec: EnvelopeSpec, payload: unknown): string {
  return identify(spec, payload).id;
}

/** The upstream entity key, used for change detection; falls back to the record id. */
export function entityKey(spec: EnvelopeSpec, payload: unknown, id: string): string {
  return entityKeyOf(spec, payload) ?? id;
}

/** An ISO-8601 date or date-time without `Z` or an offset (`2024-03-01`, `2024-03-01T10:15:00.5`). */
const ZONELESS = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?$/;

/** Offset of `timeZone` from UTC at the instant `utcMs`, in milliseconds (IANA zone, via Intl). */
function zoneOffsetMs(timeZone: string, utcMs: number): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(new Date(utcMs));
  const f = (t: string) => Number(parts.find((p) => p.type === t)?.value);
  const asUtc = Date.UTC(f('year'), f('month') - 1, f('day'), f('hour'), f('minute'), f('second'));
  return asUtc - Math.floor(utcMs / 1000) * 1000;
}

/**
 * Normalises an ISO string or epoch-milliseconds number to ISO-8601 UTC, or undefined.
 * A zoneless string (no `Z`, no offset) is wall-clock time in `timeZone` (an IANA name), UTC by
 * default: the same rule as the `bronze_to_silver` job's timestamp columns (issue 11), so the
 * envelope and Spark never disagree on an instant (`Date.parse` alone would read it as the host's
 * local time).
 * @param timeZone - IANA zone of zoneless values. @default 'UTC'
 */
export function toIsoTime(value: unknown, timeZone = 'UTC'): string | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return new Date(value).toISOString();
  if (typeof value === 'string' && value !== '') {
    const m = ZONELESS.exec(value);
    if (m) {
      const [y, mo, d, h, mi, sec] = m.slice(1, 7).map((x) => Number(x ?? 0)) as number[];
      const ms = Number(((m[7] ?? '') + '000').slice(0, 3));
      const wall = Date.UTC(y!, mo! - 1, d!, h!, mi!, sec!, ms);
      if (Number.isNaN(wall)) return undefined;
      if (timeZone === 'UTC') return new Date(wall).toISOString();
      // The offset at the wall time, corrected once for a DST change between the two instants.
      const first = wall - zoneOffsetMs(timeZone, wall);
      return new Date(wall - zoneOffsetMs(timeZone, first)).toISOString();
    }
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
  }
  return undefined;
}

/** A Kinesis partition key is 1-256 Unicode characters (Kinesis PutRecords API reference). */
export const MAX_PARTITION_KEY_CHARS = 256;

/**
 * Wraps one upstream record as an {@link Envelope} and returns it with its partition key.
 * The partition key defaults to the entity key so one entity's versions stay ordered on one shard;
 * keys longer than 256 characters are replaced by their SHA-256 so Kinesis accepts them.
 * `keyed` and `missing` are those of {@link identify}.
 */
export function wrap(
  spec: EnvelopeSpec,
  payload: unknown,
  now: Date,
  cursor?: string,
): { envelope: Envelope; partitionKey: string; entity: string; keyed: boolean; missing: string[] } {
  const { id, entity, keyed, missing } = identify(spec, payload);
  const eventTime = spec.eventTimeField
    ? toIsoTime(getPath(payload, spec.eventTimeField), spec.timezone)
    : undefined;
  const envelope: Envelope = {
    source: spec.source,
    id,
    ingested_at: now.toISOString(),
    ...(eventTime === undefined ? {} : { event_time: eventTime }),
    ...(cursor === undefined ? {} : { cursor }),
    payload,
  };
  const pkField = spec.partitionKeyField;
  // Default `<source>:<entity key>` (design brief, "Partition key"): one entity's versions stay on
  // one shard, and two sources whose ids overlap (FakeStore products, carts and users 1..20) do
  // not share a hot key that strict ordering would serialise.
  // A `partitionKeyField` that resolves to nothing falls back to the default and is reported with
  // the key fields (`missing`: the poller logs `key_fields_missing` and counts it), never silently.
  const configured = pkField ? scalar(getPath(payload, pkField)) : undefined;
  if (pkField && configured === undefined && !missing.includes(pkField)) missing.push(pkField);
  let partitionKey = configured ?? `${spec.source}:${entity}`;
  if (partitionKey.length > MAX_PARTITION_KEY_CHARS) partitionKey = contentHash(partitionKey);
  return { envelope, partitionKey, entity, keyed, missing };
}
