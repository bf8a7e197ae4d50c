/**
 * Benchmarks of the hot paths that do not depend on an emulator's speed (kinesis-mock is slow per
 * record by design, so it is never benchmarked): wrapping records in envelopes, splitting batches,
 * and the Kinesis sink's buffer/batch/ack loop against an in-memory client.
 * Run: `make bench` (vitest bench). It prints ops/s and latency figures per case.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'vitest';
import { DeadLetterQueue } from '../src/deadletter/index.js';
import { wrap } from '../src/envelope.js';
import { openLake } from '../src/lake/index.js';
import { silentLogger } from '../src/log.js';
import { recordBytes, splitIntoBatches } from '../src/producers/kinesis/batcher.js';
import { createKinesisSink } from '../src/producers/kinesis/index.js';
import { FakePutRecordsClient } from '../src/producers/kinesis/testing.js';
import type { OutgoingRecord } from '../src/producers/types.js';

const usgs = JSON.parse(readFileSync('fixtures/usgs/all_day_2019-01-30.geojson', 'utf8')) as {
  features: unknown[];
};
const features = usgs.features;
const spec = {
  source: 'usgs.earthquakes',
  idField: 'id',
  versionField: 'properties.updated',
  eventTimeField: 'properties.time',
};
const now = new Date();
const records: OutgoingRecord[] = features.map((f) => {
  const { envelope, partitionKey } = wrap(spec, f, now);
  return { source: spec.source, partitionKey, data: Buffer.from(JSON.stringify(envelope)) };
});
const many = Array.from({ length: 20 }, (_, i) =>
  records.map((r) => ({ ...r, partitionKey: `${r.partitionKey}-${i}` })),
).flat();

test('envelope: wrap 233 USGS features', async ({ bench }) => {
  await bench.compare(
    bench('id from key@version', () => {
      for (const f of features) wrap(spec, f, now);
    }),
    bench('id from SHA-256 of canonical JSON', () => {
      for (const f of features) wrap({ source: 's' }, f, now);
    }),
  );
});

test(`batching: split ${many.length} records into PutRecords batches`, async ({ bench }) => {
  const sized = many.map((r) => ({ partitionKey: r.partitionKey, bytes: recordBytes(r) }));
  await bench('splitIntoBatches', () => {
    splitIntoBatches(sized, { maxBatchRecords: 500, maxBatchBytes: 5 * 1024 * 1024 });
  }).run();
});

test(`kinesis sink: write and acknowledge ${many.length} records, in-memory client`, async ({ bench }) => {
  const deadLetters = new DeadLetterQueue(openLake(`file://${mkdtempSync(join(tmpdir(), 'bench-'))}`));
  const once = (ordering: 'strict' | 'relaxed') => async () => {
    const sink = createKinesisSink(
      { type: 'kinesis', streamName: 'bench', lingerMs: 0, ordering },
      { deadLetters, logger: silentLogger, client: new FakePutRecordsClient() },
    );
    await sink.start();
    await sink.write(many);
    await sink.close();
  };
  await bench.compare(
    bench('relaxed ordering', once('relaxed')),
    bench('strict per-key ordering', once('strict')),
    {
      iterations: 20,
    },
  );
});
