/**
 * Pure planning and encoding of bronze objects. One flushed shard buffer becomes one gzip NDJSON
 * object per (source, dt, hour) group, named after the stream, the shard and the first Kinesis
 * sequence number of the group. Because a buffer always starts right after the shard's checkpoint,
 * a replay from that checkpoint produces the same keys and overwrites the same objects.
 */
import { promisify } from 'node:util';
import { gunzip as gunzipCb, gzip as gzipCb } from 'node:zlib';
import type { ParsedEnvelope } from './records.js';

const gzipAsync = promisify(gzipCb);
const gunzipAsync = promisify(gunzipCb);

/** One object to write. */
export interface BronzeObjectPlan {
  /** Lake key: `bronze/source=<source>/dt=YYYY-MM-DD/hour=HH/<stream>-<shardId>-<firstSequenceNumber>.json.gz`. */
  key: string;
  source: string;
  /** `YYYY-MM-DD`, UTC. */
  dt: string;
  /** `HH`, UTC. */
  hour: string;
  /** Sequence number of the first Kinesis record of the group (in buffer order). */
  firstSequenceNumber: string;
  /** Sequence number of the last Kinesis record of the group. */
  lastSequenceNumber: string;
  /** NDJSON lines, in sequence order, without newlines. */
  lines: string[];
  /** Bytes of the NDJSON body (UTF-8, one `\n` after each line). */
  uncompressedBytes: number;
}

/** The bronze key of a group. All parts must already be path-safe (see `SOURCE_PATTERN`). */
export function bronzeKey(parts: {
  source: string;
  dt: string;
  hour: string;
  streamName: string;
  shardId: string;
  firstSequenceNumber: string;
}): string {
  const { source, dt, hour, streamName, shardId, firstSequenceNumber } = parts;
  return `bronze/source=${source}/dt=${dt}/hour=${hour}/${streamName}-${shardId}-${firstSequenceNumber}.json.gz`;
}

/** Bytes one line takes in an NDJSON body (UTF-8 plus its newline). */
export function lineBytes(line: string): number {
  return Buffer.byteLength(line, 'utf8') + 1;
}

/**
 * Groups a buffer's envelopes into objects by (source, dt, hour). Deterministic: objects come in
 * the order their group first appears, lines keep buffer order.
 * @param envelopes - the buffer, in sequence order.
 */
export function planObjects(
  envelopes: ParsedEnvelope[],
  streamName: string,
  shardId: string,
): BronzeObjectPlan[] {
  const groups = new Map<string, BronzeObjectPlan>();
  for (const e of envelopes) {
    const g = `${e.source}\u0000${e.dt}\u0000${e.hour}`;
    let plan = groups.get(g);
    if (!plan) {
      plan = {
        key: bronzeKey({
          source: e.source,
          dt: e.dt,
          hour: e.hour,
          streamName,
          shardId,
          firstSequenceNumber: e.sequenceNumber,
        }),
        source: e.source,
        dt: e.dt,
        hour: e.hour,
        firstSequenceNumber: e.sequenceNumber,
        lastSequenceNumber: e.sequenceNumber,
        lines: [],
        uncompressedBytes: 0,
      };
      groups.set(g, plan);
    }
    plan.lines.push(e.line);
    plan.lastSequenceNumber = e.sequenceNumber;
    plan.uncompressedBytes += lineBytes(e.line);
  }
  return [...groups.values()];
}

/** The NDJSON body of lines: each line followed by `\n`. */
export function encodeNdjson(lines: string[]): Buffer {
  return Buffer.from(lines.length === 0 ? '' : `${lines.join('\n')}\n`, 'utf8');
}

/** Gzips NDJSON lines (off the event loop's main thread, in libuv's pool). */
export async function gzipNdjson(lines: string[]): Promise<Uint8Array> {
  return gzipAsync(encodeNdjson(lines));
}

/** Reads back a gzip NDJSON object into its lines (blank lines skipped). */
export async function gunzipNdjson(body: Uint8Array): Promise<string[]> {
  const text = (await gunzipAsync(body)).toString('utf8');
  return text.split('\n').filter((l) => l !== '');
}
