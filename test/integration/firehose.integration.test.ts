/**
 * The Firehose sink against moto's Firehose server delivering to moto's S3: the delivery stream
 * bootstrap creates (DirectPut, ExtendedS3, dynamic partitioning, GZIP, `.json.gz`), PutRecordBatch
 * within the limits, and the local mirror landing every record once in the bronze layout.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DescribeDeliveryStreamCommand, FirehoseClient } from '@aws-sdk/client-firehose';
import { CreateBucketCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BRONZE_FIREHOSE_PREFIX, ensureDeliveryStream } from '../../src/bootstrap/firehose.js';
import { openLake } from '../../src/lake/index.js';
import { startFirehoseLocal } from '../../src/local/firehose-local.js';
import { silentLogger } from '../../src/log.js';
import { createFirehoseSink } from '../../src/producers/firehose/index.js';
import type { OutgoingRecord } from '../../src/producers/types.js';
import { type Moto, startMoto } from '../support/moto.js';
import { listKeys, motoS3Client } from '../support/s3.js';

const noDeadLetters = {
  put: async () => {
    throw new Error('no dead letters expected');
  },
};

function envelopes(n: number, pad = 0): OutgoingRecord[] {
  return Array.from({ length: n }, (_, i) => {
    const source = ['api.orders', 'api.users', 'api.items'][i % 3]!;
    const data = new TextEncoder().encode(
      JSON.stringify({ source, id: `${i}`, payload: { pad: 'x'.repeat(pad) } }),
    );
    return { source, partitionKey: `${source}:${i}`, data };
  });
}

describe('firehose sink against moto', () => {
  let moto: Moto;
  beforeAll(async () => {
    process.env.AWS_ACCESS_KEY_ID ??= 'test';
    process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
    process.env.AWS_REGION ??= 'us-east-1';
    moto = await startMoto();
  }, 60_000);
  afterAll(async () => moto?.stop());

  it('creates the DirectPut bronze stream and delivers every record once, newline-delimited, within 500 records per call', async () => {
    const firehose = new FirehoseClient({ endpoint: moto.endpoint, region: 'us-east-1' });
    const s3 = motoS3Client(moto.endpoint);
    await s3.send(new CreateBucketCommand({ Bucket: 'fh-lake' }));
    const plan = { name: 'fh-bronze', bucket: 'fh-lake', prefix: 'lake' };
    const opts = { roleArn: 'arn:aws:iam::123456789012:role/x', url: moto.endpoint, waitMs: 30_000 };
    expect((await ensureDeliveryStream(firehose, plan, opts)).status).toBe('created');
    expect((await ensureDeliveryStream(firehose, plan, opts)).status).toBe('exists');
    const d = (await firehose.send(new DescribeDeliveryStreamCommand({ DeliveryStreamName: 'fh-bronze' })))
      .DeliveryStreamDescription!;
    expect(d.DeliveryStreamType).toBe('DirectPut');
    const dest = d.Destinations![0]!.ExtendedS3DestinationDescription!;
    expect(dest.Prefix).toBe(`lake/${BRONZE_FIREHOSE_PREFIX}`);
    expect(dest.CompressionFormat).toBe('GZIP');
    firehose.destroy();

    const sink = createFirehoseSink(
      {
        type: 'firehose',
        name: 'fh-int',
        deliveryStreamName: 'fh-bronze',
        endpoint: moto.endpoint,
        lingerMs: 5,
      },
      { deadLetters: noDeadLetters, logger: silentLogger },
    );
    await sink.start();
    const records = envelopes(1_234);
    const deliveries = await sink.write(records);
    await sink.close();
    expect(deliveries.every((x) => x.status === 'delivered')).toBe(true);

    // moto writes each call as one object (uncompressed, the prefix's !{} expressions verbatim).
    const keys = await listKeys(s3, 'fh-lake', 'lake/');
    expect(keys.length).toBeGreaterThanOrEqual(3);
    const lines: string[] = [];
    for (const key of keys) {
      const body = await (
        await s3.send(new GetObjectCommand({ Bucket: 'fh-lake', Key: key }))
      ).Body!.transformToString();
      expect(body.endsWith('\n')).toBe(true);
      const part = body.split('\n').slice(0, -1);
      expect(part.length).toBeLessThanOrEqual(500);
      lines.push(...part);
    }
    expect(lines.map((l) => (JSON.parse(l) as { id: string }).id).sort()).toEqual(
      records.map((_, i) => String(i)).sort(),
    );
    s3.destroy();
  }, 120_000);

  it('ingest local path: the mirror lands every record once in bronze/source=/dt=/hour= as gzip NDJSON', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fh-mirror-'));
    const lakeUri = `file://${dir}`;
    const local = await startFirehoseLocal({ deliveryStreams: ['fh-local'], lakeUri, logger: silentLogger });
    try {
      const sink = createFirehoseSink(
        { type: 'firehose', name: 'fh-mirror', deliveryStreamName: 'fh-local', endpoint: local.endpoint },
        { deadLetters: noDeadLetters, logger: silentLogger },
      );
      await sink.start();
      await sink.write(envelopes(600, 2_000));
      await sink.close();
      await local.stop();
      expect(local.stats().records).toBe(600);
      const lake = openLake(lakeUri);
      const seen = new Map<string, number>();
      for (const key of await lake.list('bronze/')) {
        const m = /^bronze\/source=([^/]+)\/dt=\d{4}-\d{2}-\d{2}\/hour=\d{2}\/[^/]+\.json\.gz$/.exec(key);
        expect(m, key).not.toBeNull();
        for (const line of gunzipSync((await lake.get(key))!)
          .toString('utf8')
          .split('\n')) {
          if (!line) continue;
          const e = JSON.parse(line) as { source: string; id: string };
          expect(e.source).toBe(m![1]);
          seen.set(e.id, (seen.get(e.id) ?? 0) + 1);
        }
      }
      expect(seen.size).toBe(600);
      expect([...seen.values()].every((c) => c === 1)).toBe(true);
    } finally {
      await local.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
