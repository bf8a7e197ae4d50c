/**
 * Firehose sink benchmark: the sink's buffer/batch/ack loop sending realistic envelopes (the USGS
 * fixture's ~1 KB records) with PutRecordBatch, against an in-memory client (the engine's own cost)
 * and against moto's Firehose delivering to moto's S3 (a real HTTP round trip per call; moto is an
 * emulator, so that figure is a floor of the client path, not of AWS). Prints records/s, calls and
 * records/call per case, and checks every record was delivered.
 *
 * Run: `make bench` (all benches), or `vitest bench --run bench/firehose-sink.bench.ts`;
 * FIREHOSE_BENCH_RECORDS (100000) and FIREHOSE_BENCH_MOTO_RECORDS (20000) set the sizes.
 */
import { readFileSync } from 'node:fs';
import { FirehoseClient } from '@aws-sdk/client-firehose';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { test } from 'vitest';
import { ensureDeliveryStream } from '../src/bootstrap/firehose.js';
import { wrap } from '../src/envelope.js';
import { startMoto } from '../src/local/moto.js';
import { silentLogger } from '../src/log.js';
import { createFirehoseSink, type PutRecordBatchClient } from '../src/producers/firehose/index.js';
import { FakeFirehoseClient } from '../src/producers/firehose/testing.js';
import type { OutgoingRecord } from '../src/producers/types.js';

const RECORDS = Number(process.env.FIREHOSE_BENCH_RECORDS ?? 100_000);
const MOTO_RECORDS = Number(process.env.FIREHOSE_BENCH_MOTO_RECORDS ?? 20_000);

const usgs = JSON.parse(readFileSync('fixtures/usgs/all_day_2019-01-30.geojson', 'utf8')) as {
  features: unknown[];
};
const spec = { source: 'usgs.earthquakes', idField: 'id', versionField: 'properties.updated' };
const now = new Date();
const base = usgs.features.map((f) => wrap(spec, f, now));

function records(n: number): OutgoingRecord[] {
  return Array.from({ length: n }, (_, i) => {
    const { envelope, partitionKey } = base[i % base.length]!;
    return {
      source: spec.source,
      partitionKey: `${partitionKey}-${i}`,
      data: Buffer.from(JSON.stringify({ ...envelope, id: `${envelope.id}-${i}` })),
    };
  });
}

async function run(
  name: string,
  n: number,
  client: PutRecordBatchClient & { calls?: unknown[] },
  calls: () => number,
) {
  const input = records(n);
  const bytes = input.reduce((s, r) => s + r.data.byteLength, 0);
  const sink = createFirehoseSink(
    { type: 'firehose', name, deliveryStreamName: 'bench-bronze', lingerMs: 20, maxInFlightBatches: 4 },
    {
      deadLetters: {
        put: async () => {
          throw new Error('dead letter in bench');
        },
      },
      logger: silentLogger,
      client,
    },
  );
  await sink.start();
  const t0 = performance.now();
  // Writers hand over pages of 100 records, as a poller does.
  const writes: Promise<unknown>[] = [];
  for (let i = 0; i < n; i += 100) writes.push(sink.write(input.slice(i, i + 100)));
  const deliveries = (await Promise.all(writes)).flat() as { status: string }[];
  await sink.close();
  const secs = (performance.now() - t0) / 1000;
  const delivered = deliveries.filter((d) => d.status === 'delivered').length;
  if (delivered !== n) throw new Error(`${name}: ${delivered} of ${n} delivered`);
  const c = calls();
  console.log(
    `${name.padEnd(10)} ${String(n).padStart(7)} records (${(bytes / n).toFixed(0)} B avg)  ${(n / secs).toFixed(0).padStart(7)} records/s  ${String(c).padStart(5)} PutRecordBatch calls  ${(n / c).toFixed(1)} records/call  ${secs.toFixed(2)} s`,
  );
}

test('firehose sink: records/s, PutRecordBatch calls and records/call (in-memory, moto)', async () => {
  const mem = new FakeFirehoseClient();
  await run('in-memory', RECORDS, mem, () => mem.calls.length);

  const moto = await startMoto();
  try {
    const common = {
      endpoint: moto.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    };
    const s3 = new S3Client({ ...common, forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: 'bench-lake' }));
    const fh = new FirehoseClient(common);
    await ensureDeliveryStream(
      fh,
      { name: 'bench-bronze', bucket: 'bench-lake', prefix: '' },
      { roleArn: 'arn:aws:iam::123456789012:role/x', url: moto.endpoint, waitMs: 30_000 },
    );
    fh.destroy();
    s3.destroy();
    process.env.AWS_ACCESS_KEY_ID ??= 'test';
    process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
    process.env.AWS_REGION ??= 'us-east-1';
    const { createFirehoseClient } = await import('../src/producers/firehose/client.js');
    const real = createFirehoseClient({ endpoint: moto.endpoint });
    let motoCalls = 0;
    const counted: PutRecordBatchClient = {
      endpoint: real.endpoint,
      putRecordBatch: (i) => {
        motoCalls++;
        return real.putRecordBatch(i);
      },
      describeDeliveryStream: (n) => real.describeDeliveryStream(n),
      close: () => real.close?.(),
    };
    await run('moto', MOTO_RECORDS, counted, () => motoCalls);
  } finally {
    await moto.stop();
  }
}, 600_000);
