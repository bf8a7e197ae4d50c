/**
 * Firehose for `ingest local`: moto's Firehose, delivering to moto's S3, mirrored into the file lake.
 *
 * moto implements PutRecordBatch to an ExtendedS3 destination by writing each call's records,
 * concatenated and uncompressed, to one object at `<Prefix>YYYY/MM/DD/HH/<name>-<version>-<time>-<uuid>`.
 * It evaluates no `!{...}` prefix expressions (no dynamic partitioning) and does not compress. So a
 * mirror does here what Firehose's dynamic partitioning does in AWS (ADR 8): every
 * {@link MIRROR_INTERVAL_MS}, it reads each new moto object, splits its lines by the envelope's
 * `source` and writes `bronze/source=<source>/dt=<YYYY-MM-DD>/hour=<HH>/<object>.json.gz` (gzip
 * NDJSON; the date and hour are moto's arrival time, as `!{timestamp:...}` would give), then
 * deletes the moto object. Lines without a `source` go to `bronze-errors/partitioning-failed/...`, as
 * Firehose's error prefix would receive them.
 *
 * Names are deterministic from the moto object, so mirroring an object twice overwrites rather than
 * duplicates. Limitation: moto keeps objects in memory. Records Firehose (moto) accepted but the
 * mirror has not yet copied (up to one interval plus one sweep) are lost if the process is killed
 * with SIGKILL: the sink acknowledged them, so the pollers recorded them as seen. A clean stop
 * (SIGTERM, the end of the run) sweeps once more before moto stops.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { FirehoseClient } from '@aws-sdk/client-firehose';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { ensureDeliveryStream } from '../bootstrap/firehose.js';
import { openLake } from '../lake/index.js';
import type { Logger } from '../log.js';
import { startMoto } from './moto.js';

/** How often the mirror copies moto's objects into the lake, ms. */
export const MIRROR_INTERVAL_MS = 200;

/** The moto bucket the delivery streams write to. */
export const LOCAL_FIREHOSE_BUCKET = 'ingest-local-firehose';

/** What the mirror did so far. */
export interface MirrorStats {
  /** Records (lines) written to bronze. */
  records: number;
  /** moto objects mirrored. */
  objects: number;
  /** Lines without a `source` (written under `bronze-errors/`). */
  failedRecords: number;
}

export interface FirehoseLocal {
  /** moto's endpoint (Firehose and S3). */
  endpoint: string;
  stats(): MirrorStats;
  /** Sweeps once more, then stops moto. Safe to call twice. */
  stop(): Promise<void>;
}

const ARRIVAL = /(\d{4})\/(\d{2})\/(\d{2})\/(\d{2})\/([^/]+)$/;

/**
 * The bronze objects of one moto object: lines grouped by `source`, keyed as Firehose's dynamic
 * partitioning would key them. Pure.
 * @param key - the moto object's key (its arrival time and name are read from it).
 * @param body - its content (NDJSON; gunzipped first when gzip).
 */
export function partitionObject(key: string, body: Uint8Array): { key: string; lines: string[] }[] {
  const m = ARRIVAL.exec(key);
  const [, y, mo, d, h, name] = m ?? [];
  const at = m ? `dt=${y}-${mo}-${d}/hour=${h}` : 'dt=unknown/hour=unknown';
  const base = (name ?? key.replaceAll('/', '_')).replace(/[^A-Za-z0-9_.-]/g, '_');
  const text = (body[0] === 0x1f && body[1] === 0x8b ? gunzipSync(body) : Buffer.from(body)).toString('utf8');
  const groups = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let source: unknown;
    try {
      source = (JSON.parse(line) as { source?: unknown }).source;
    } catch {
      source = undefined;
    }
    const prefix =
      typeof source === 'string' && source && !source.includes('/')
        ? `bronze/source=${source}/${at}/`
        : `bronze-errors/partitioning-failed/${at}/`;
    const lines = groups.get(prefix) ?? [];
    groups.set(prefix, lines);
    lines.push(line);
  }
  return [...groups].map(([prefix, lines]) => ({ key: `${prefix}${base}.json.gz`, lines }));
}

/**
 * Starts moto, creates the bucket and each DirectPut delivery stream (`../bootstrap/firehose.ts`),
 * and mirrors into `lakeUri` (see the module comment).
 */
export async function startFirehoseLocal(options: {
  deliveryStreams: string[];
  lakeUri: string;
  logger: Logger;
  intervalMs?: number;
}): Promise<FirehoseLocal> {
  const moto = await startMoto();
  const common = { endpoint: moto.endpoint, region: process.env.AWS_REGION ?? 'us-east-1' };
  const s3 = new S3Client({ ...common, forcePathStyle: true });
  const firehose = new FirehoseClient(common);
  const lake = openLake(options.lakeUri);
  const stats: MirrorStats = { records: 0, objects: 0, failedRecords: 0 };
  try {
    await s3.send(new CreateBucketCommand({ Bucket: LOCAL_FIREHOSE_BUCKET }));
    for (const name of options.deliveryStreams) {
      await ensureDeliveryStream(
        firehose,
        { name, bucket: LOCAL_FIREHOSE_BUCKET, prefix: '' },
        { roleArn: 'arn:aws:iam::123456789012:role/ingest-firehose', url: moto.endpoint, waitMs: 30_000 },
      );
    }
  } catch (err) {
    firehose.destroy();
    s3.destroy();
    await moto.stop();
    throw err;
  }
  firehose.destroy();

  const sweep = async () => {
    let token: string | undefined;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({ Bucket: LOCAL_FIREHOSE_BUCKET, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) {
        const body = await (
          await s3.send(new GetObjectCommand({ Bucket: LOCAL_FIREHOSE_BUCKET, Key: o.Key! }))
        ).Body!.transformToByteArray();
        for (const part of partitionObject(o.Key!, body)) {
          await lake.put(part.key, gzipSync(`${part.lines.join('\n')}\n`), 'application/gzip');
          if (part.key.startsWith('bronze-errors/')) stats.failedRecords += part.lines.length;
          else stats.records += part.lines.length;
        }
        await s3.send(new DeleteObjectCommand({ Bucket: LOCAL_FIREHOSE_BUCKET, Key: o.Key! }));
        stats.objects++;
      }
      token = page.NextContinuationToken;
    } while (token);
  };

  let stopped = false;
  let stopping: Promise<void> | undefined;
  let failures = 0;
  const loop = (async () => {
    while (!stopped) {
      try {
        await sweep();
        failures = 0;
      } catch (err) {
        if (failures++ % 25 === 0)
          options.logger.warn(
            { event: 'firehose_mirror_failed', err },
            'Firehose mirror sweep failed; retrying.',
          );
      }
      await new Promise((r) => setTimeout(r, options.intervalMs ?? MIRROR_INTERVAL_MS));
    }
  })();

  return {
    endpoint: moto.endpoint,
    stats: () => ({ ...stats }),
    stop() {
      stopping ??= (async () => {
        stopped = true;
        await loop;
        try {
          await sweep();
        } finally {
          s3.destroy();
          await moto.stop();
        }
      })();
      return stopping;
    },
  };
}
