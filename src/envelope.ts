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
  /** Dot path of the upstream key, e.g. `id`. */
  idField?: string;
  /** Dot path of the upstream version, e.g. `updated_at` or `properties.updated`. */
  versionField?: string;
  /** Dot path of the event time (ISO string, or epoch milliseconds). */
  eventTimeField?: string;
  /** Dot path of the partition key; defaults to `idField`, else the record id. */
  partitionKeyField?: string;
}

/** `JSON.rawJSON` / `JSON.isRawJSON` (Node 22, TC39 "JSON.parse source text access"). */
const RawJSON = JSON as unknown as {
  rawJSON(text: string): { readonly rawJSON: string };
  isRawJSON(value: unknown): value is { readonly rawJSON: string };
};

/**
 * `JSON.parse` that loses no digits: an integer beyond ±2^53 (a 64-bit id, say) is kept as its
 * source text in a raw-JSON value, which `JSON.stringify` writes back unchanged, so the payload in
 * bronze carries exactly the digits the API sent and two distinct big ids never collide.
 * @throws SyntaxError on invalid JSON, as `JSON.parse`.
 */
export function parseJsonLossless(text: string): unknown {
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

/**
 * The record id (ADR 0003):
 * - key and version configured and present: `<key>@<version>`;
 * - key only: `<key>@sha256:<first 32 hex of the canonical payload hash>`;
 * - otherwise: `sha256:<canonical payload hash>`.
 */
export function recordId(spec: EnvelopeSpec, payload: unknown): string {
  const key = spec.idField ? scalar(getPath(payload, spec.idField)) : undefined;
  const version = spec.versionField ? scalar(getPath(payload, spec.versionField)) : undefined;
  if (key !== undefined && version !== undefined) return `${key}@${version}`;
  if (key !== undefined) return `${key}@sha256:${contentHash(payload).slice(0, 32)}`;
  return `sha256:${contentHash(payload)}`;
}

/** The upstream entity key, used for change detection; falls back to the record id. */
export function entityKey(spec: EnvelopeSpec, payload: unknown, id: string): string {
  const key = spec.idField ? scalar(getPath(payload, spec.idField)) : undefined;
  return key ?? id;
}

/** Normalises an ISO string or epoch-milliseconds number to ISO-8601 UTC, or undefined. */
export function toIsoTime(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return new Date(value).toISOString();
  if (typeof value === 'string' && value !== '') {
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
  }
  return undefined;
}

/** A Kinesis partition key is 1-256 Unicode characters (Kinesis PutRecords API reference). */
export const MAX_PARTITION_KEY_CHARS = 256;

/**
 * Wraps one upstream record as an {@link Envelope} and returns it with its partition key.
 * The partition key defaults to the upstream key so one entity's versions stay ordered on one shard;
 * keys longer than 256 characters are replaced by their SHA-256 so Kinesis accepts them.
 */
export function wrap(
  spec: EnvelopeSpec,
  payload: unknown,
  now: Date,
  cursor?: string,
): { envelope: Envelope; partitionKey: string; entity: string } {
  const id = recordId(spec, payload);
  const eventTime = spec.eventTimeField ? toIsoTime(getPath(payload, spec.eventTimeField)) : undefined;
  const envelope: Envelope = {
    source: spec.source,
    id,
    ingested_at: now.toISOString(),
    ...(eventTime === undefined ? {} : { event_time: eventTime }),
    ...(cursor === undefined ? {} : { cursor }),
    payload,
  };
  const entity = entityKey(spec, payload, id);
  const pkField = spec.partitionKeyField ?? spec.idField;
  let partitionKey = (pkField ? scalar(getPath(payload, pkField)) : undefined) ?? entity;
  if (partitionKey.length > MAX_PARTITION_KEY_CHARS) partitionKey = contentHash(partitionKey);
  return { envelope, partitionKey, entity };
}
