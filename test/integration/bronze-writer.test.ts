/**
 * The bronze writer against real emulators: kinesis-local (kinesis-mock) for the stream, a `file://`
 * lake in a temp dir, and moto's S3 for an `s3://bucket/prefix` lake.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BronzeWriter,
  BronzeWriterSchema,
  checkpointKey,
  createBronzeWriter,
  gunzipNdjson,
  type ShardCheckpoint,
} from '../../src/consumers/bronze/index.js';
import { DeadLetterQueue } from '../../src/deadletter/index.js';
import type { Envelope } from '../../src/envelope.js';
import { type Lake, openLake } from '../../src/lake/index.js';
import {
  emulatorKinesisClient,
  type KinesisLocal,
  startKinesisLocal,
} from '../../src/local/kinesis-local.js';
import { silentLogger } from '../../src/log.js';
import { FileStateStore } from '../../src/state/index.js';
import { registry } from '../../src/telemetry/index.js';
import { lastSequenceByShard } from '../support/kinesis.js';
import { type Moto, startMoto } from '../support/moto.js';

const STREAM_FILE = 'bronze-file';
const STREAM_S3 = 'bronze-s3';
const STREAM_BAD = 'bronze-bad';
const SOURCES = ['fakestore.carts', 'fakestore.products', 'usgs.quakes'];
const KEY_RE =
  /^bronze\/source=([a-z0-9._-]+)\/dt=(\d{4}-\d{2}-\d{2})\/hour=(\d{2})\/([a-z0-9-]+)-(shardId-\d+)-(\d+)\.json\.gz$/;

let kl: KinesisLocal;
let kinesis: KinesisClient;
let moto: Moto;
let tmp: string;

beforeAll(async () => {
  [kl, moto] = await Promise.all([
    startKinesisLocal({
      streams: [
        { name: STREAM_FILE, shards: 2 },
        { name: STREAM_S3, shards: 2 },
        { name: STREAM_BAD, shards: 1 },
      ],
    }),
    startMoto(),
  ]);
  kinesis = emulatorKinesisClient(kl.endpoint);
  tmp = await mkdtemp(join(tmpdir(), 'bronze-it-'));
});

afterAll(async () => {
  kinesis?.destroy();
  await Promise.all([kl?.stop(), moto?.stop()]);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** 60 envelopes over three sources, `ingested_at` from 09:30 to 10:29 UTC (two hours). */
function makeEnvelopes(tag: string): Envelope[] {
  return Array.from({ length: 60 }, (_, i) => ({
    source: SOURCES[i % SOURCES.length] as string,
    id: `${tag}-${i}`,
    ingested_at: new Date(Date.UTC(2024, 2, 5, 9, 30 + i, 7, 123)).toISOString(),
    payload: { n: i, text: 'x'.repeat(40) },
  }));
}

/**
 * Puts the envelopes: most one per record, the last six as two NDJSON records of three envelopes
 * (producer-side aggregation). Returns the last sequence number put on each shard.
 */
async function putEnvelopes(stream: string, envelopes: Envelope[]): Promise<Map<string, string>> {
  const single = envelopes.slice(0, -6);
  const aggregated = [envelopes.slice(-6, -3), envelopes.slice(-3)];
  const entries = [
    ...single.map((e, i) => ({ PartitionKey: `pk-${i}`, Data: Buffer.from(JSON.stringify(e)) })),
    ...aggregated.map((group, i) => ({
      PartitionKey: `agg-${i}`,
      Data: Buffer.from(`${group.map((e) => JSON.stringify(e)).join('\n')}\n`),
    })),
  ];
  const res = await kinesis.send(new PutRecordsCommand({ StreamName: stream, Records: entries }));
  expect(res.FailedRecordCount ?? 0).toBe(0);
  return lastSequenceByShard(res);
}

interface Landed {
  keys: string[];
  /** Every envelope id landed, with how often. */
  counts: Map<string, number>;
  envelopes: Envelope[];
}

/** Reads every bronze object: checks its key against its lines, gunzips and parses it. */
async function readBronze(
  list: () => Promise<string[]>,
  get: (key: string) => Promise<Uint8Array>,
): Promise<Landed> {
  const keys = (await list()).filter((k) => k.startsWith('bronze/'));
  const counts = new Map<string, number>();
  const envelopes: Envelope[] = [];
  for (const key of keys) {
    const m = KEY_RE.exec(key);
    expect(m, key).not.toBeNull();
    const lines = await gunzipNdjson(await get(key));
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      const e = JSON.parse(line) as Envelope;
      expect(e.source).toBe(m?.[1]);
      expect(e.ingested_at.slice(0, 10)).toBe(m?.[2]);
      expect(e.ingested_at.slice(11, 13)).toBe(m?.[3]);
      counts.set(e.id, (counts.get(e.id) ?? 0) + 1);
      envelopes.push(e);
    }
  }
  return { keys, counts, envelopes };
}

function readFileLake(lake: Lake): Promise<Landed> {
  return readBronze(
    () => lake.list('bronze/'),
    async (k) => {
      const body = await lake.get(k);
      if (!body) throw new Error(`missing ${k}`);
      return body;
    },
  );
}

function expectExactlyOnce(landed: Landed, envelopes: Envelope[]): void {
  expect(landed.envelopes).toHaveLength(envelopes.length);
  for (const e of envelopes) expect(landed.counts.get(e.id), e.id).toBe(1);
  // Envelopes land unchanged.
  const byId = new Map(landed.envelopes.map((e) => [e.id, e]));
  for (const e of envelopes) expect(byId.get(e.id)).toEqual(e);
}

async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 45_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function config(name: string, streamName: string, lakeUri: string) {
  return BronzeWriterSchema.parse({
    type: 'bronze',
    name,
    streamName,
    lakeUri,
    // Several buffers per shard (each envelope is ~150 bytes), and a short interval for the rest.
    bufferMaxBytes: 2048,
    bufferIntervalSecs: 1,
    pollIntervalMs: 100,
    retryBaseDelayMs: 50,
  });
}

async function stopQuickly(writer: BronzeWriter): Promise<void> {
  const t0 = Date.now();
  await writer.stop();
  expect(Date.now() - t0).toBeLessThan(5_000);
}

describe('bronze writer with a file:// lake', () => {
  it('lands every envelope exactly once, checkpoints, resumes without rewriting, and replays idempotently', async () => {
    const dir = join(tmp, 'file');
    const lakeUri = `file://${join(dir, 'lake')}`;
    const lake = openLake(lakeUri);
    const state = new FileStateStore(join(dir, 'state'));
    const deadLetters = new DeadLetterQueue(openLake(`file://${join(dir, 'dlq')}`));
    const envelopes = makeEnvelopes('file');
    const lastSeq = await putEnvelopes(STREAM_FILE, envelopes);
    expect(lastSeq.size).toBe(2);
    const deps = { state, deadLetters, logger: silentLogger, kinesis, lake };

    // 1. First run: everything lands.
    const first = createBronzeWriter(config('bronze-file', STREAM_FILE, lakeUri), deps);
    await first.start();
    expect(await first.ready()).toBe(true);
    await waitFor('60 envelopes landed', () => first.stats().recordsLanded >= 60);
    await stopQuickly(first);
    const stats1 = first.stats();
    expect(stats1).toMatchObject({
      kinesisRecordsRead: 56,
      recordsRead: 60,
      recordsLanded: 60,
      recordsDeadLettered: 0,
    });
    expect(stats1.objectsWritten).toBeGreaterThan(SOURCES.length * 2);
    const landed1 = await readFileLake(lake);
    expectExactlyOnce(landed1, envelopes);
    expect(landed1.keys).toHaveLength(stats1.objectsWritten);
    expect(new Set(landed1.keys.map((k) => KEY_RE.exec(k)?.[3]))).toEqual(new Set(['09', '10']));
    expect(new Set(landed1.keys.map((k) => KEY_RE.exec(k)?.[5]))).toEqual(new Set(lastSeq.keys()));
    for (const [shardId, seq] of lastSeq) {
      const cp = await state.get<ShardCheckpoint>(checkpointKey('bronze-file', STREAM_FILE, shardId));
      expect(cp?.value.sequenceNumber).toBe(seq);
      expect(first.stats().shards[shardId]?.checkpoint).toBe(seq);
    }

    // 2. Restart over the same state: nothing is read again, nothing is written.
    const second = createBronzeWriter(config('bronze-file', STREAM_FILE, lakeUri), deps);
    await second.start();
    await waitFor('both shards reading', () =>
      Object.values(second.stats().shards).every((s) => s.state === 'reading' && s.millisBehindLatest === 0),
    );
    await new Promise((r) => setTimeout(r, 1_500));
    await stopQuickly(second);
    expect(second.stats()).toMatchObject({ kinesisRecordsRead: 0, recordsLanded: 0, objectsWritten: 0 });
    const landed2 = await readFileLake(lake);
    expect(landed2.keys).toEqual(landed1.keys);
    expectExactlyOnce(landed2, envelopes);

    // 3. Lose the checkpoints and replay: the same objects are overwritten, none is added.
    for (const shardId of lastSeq.keys())
      await state.delete(checkpointKey('bronze-file', STREAM_FILE, shardId));
    const third = createBronzeWriter(config('bronze-file', STREAM_FILE, lakeUri), deps);
    await third.start();
    await waitFor('60 envelopes landed again', () => third.stats().recordsLanded >= 60);
    await stopQuickly(third);
    expect(third.stats().objectsWritten).toBe(stats1.objectsWritten);
    const landed3 = await readFileLake(lake);
    expect(landed3.keys).toEqual(landed1.keys);
    expectExactlyOnce(landed3, envelopes);
    for (const [shardId, seq] of lastSeq) {
      const cp = await state.get<ShardCheckpoint>(checkpointKey('bronze-file', STREAM_FILE, shardId));
      expect(cp?.value.sequenceNumber).toBe(seq);
    }
    await state.close();
  });

  it('dead-letters a non-JSON record and an envelope without id, with reasons, and lands the rest', async () => {
    const dir = join(tmp, 'bad');
    const lakeUri = `file://${join(dir, 'lake')}`;
    const lake = openLake(lakeUri);
    const dlqLake = openLake(`file://${join(dir, 'dlq')}`);
    const state = new FileStateStore(join(dir, 'state'));
    const good = makeEnvelopes('bad').slice(0, 5);
    const noId: Record<string, unknown> = { ...good[0], id: undefined };
    delete noId.id;
    const res = await kinesis.send(
      new PutRecordsCommand({
        StreamName: STREAM_BAD,
        Records: [
          ...good.slice(0, 2).map((e) => ({ PartitionKey: e.id, Data: Buffer.from(JSON.stringify(e)) })),
          { PartitionKey: 'junk', Data: Buffer.from('this is not json') },
          { PartitionKey: 'no-id', Data: Buffer.from(JSON.stringify(noId)) },
          ...good.slice(2).map((e) => ({ PartitionKey: e.id, Data: Buffer.from(JSON.stringify(e)) })),
        ],
      }),
    );
    expect(res.FailedRecordCount ?? 0).toBe(0);
    const deadLettered = () =>
      (
        registry.getSingleMetric('ingest_bronze_records_total') as unknown as {
          get(): Promise<{ values: { labels: Record<string, string>; value: number }[] }>;
        }
      )
        .get()
        .then(
          (m) =>
            m.values.find((v) => v.labels.consumer === 'bronze-bad' && v.labels.outcome === 'dead_lettered')
              ?.value ?? 0,
        );

    const writer = createBronzeWriter(config('bronze-bad', STREAM_BAD, lakeUri), {
      state,
      deadLetters: new DeadLetterQueue(dlqLake),
      logger: silentLogger,
      kinesis,
      lake,
    });
    await writer.start();
    await waitFor('all records handled', () => {
      const s = writer.stats();
      return s.recordsLanded + s.recordsDeadLettered >= 7;
    });
    await stopQuickly(writer);
    expect(writer.stats()).toMatchObject({ recordsRead: 7, recordsLanded: 5, recordsDeadLettered: 2 });
    expect(await deadLettered()).toBe(2);
    expectExactlyOnce(await readFileLake(lake), good);

    const letters: Record<string, unknown>[] = [];
    for (const key of await dlqLake.list('dead-letter/')) {
      expect(key).toMatch(
        /^dead-letter\/component=bronze-bad\/dt=\d{4}-\d{2}-\d{2}\/hour=\d{2}\/.+\.json\.gz$/,
      );
      for (const line of await gunzipNdjson((await dlqLake.get(key)) as Uint8Array))
        letters.push(JSON.parse(line));
    }
    expect(letters).toHaveLength(2);
    const junk = letters.find((l) => l.partition_key === 'junk');
    const missing = letters.find((l) => l.partition_key === 'no-id');
    expect(junk).toMatchObject({
      data: 'this is not json',
      source: 'unknown',
      failure_class: 'malformed_response',
    });
    expect(junk?.reason).toMatch(/^not valid JSON.*\(stream bronze-bad, shard shardId-\d+, sequence \d+\)$/);
    expect(missing).toMatchObject({ source: good[0]?.source, data: JSON.stringify(noId) });
    expect(missing?.reason).toMatch(/^missing or empty "id"/);
    // The shard is checkpointed past the bad records too.
    const cp = await state.get<ShardCheckpoint>(
      checkpointKey('bronze-bad', STREAM_BAD, 'shardId-000000000000'),
    );
    expect(cp?.value.sequenceNumber).toBe(res.Records?.at(-1)?.SequenceNumber);
    await state.close();
  });
});

describe('bronze writer with an s3:// lake on moto', () => {
  it('lands every envelope exactly once under the prefix, with the clients built from the environment', async () => {
    const bucket = 'bronze-it';
    const s3 = new S3Client({
      endpoint: moto.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const envelopes = makeEnvelopes('s3');
    const lastSeq = await putEnvelopes(STREAM_S3, envelopes);
    const state = new FileStateStore(join(tmp, 's3', 'state'));

    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_ENDPOINT_URL_KINESIS: kl.endpoint,
      AWS_ENDPOINT_URL_S3: moto.endpoint,
    });
    try {
      // No client and no lake injected: both come from the environment and the lake URI.
      const writer = createBronzeWriter(config('bronze-s3', STREAM_S3, `s3://${bucket}/lake/prefix`), {
        state,
        deadLetters: new DeadLetterQueue(openLake(`file://${join(tmp, 's3', 'dlq')}`)),
        logger: silentLogger,
      });
      await landInS3(writer);
    } finally {
      process.env = saved;
    }

    async function landInS3(writer: BronzeWriter): Promise<void> {
      await writer.start();
      expect(await writer.ready()).toBe(true);
      await waitFor('60 envelopes landed', () => writer.stats().recordsLanded >= 60);
      await stopQuickly(writer);

      const listed: string[] = [];
      let token: string | undefined;
      do {
        const page = await s3.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: 'lake/prefix/', ContinuationToken: token }),
        );
        listed.push(...(page.Contents ?? []).map((o) => o.Key ?? ''));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      expect(listed.length).toBe(writer.stats().objectsWritten);
      expect(listed.every((k) => k.startsWith('lake/prefix/bronze/'))).toBe(true);
      const landed = await readBronze(
        async () => listed.map((k) => k.slice('lake/prefix/'.length)),
        async (k) => {
          const obj = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `lake/prefix/${k}` }));
          return (await obj.Body?.transformToByteArray()) ?? new Uint8Array();
        },
      );
      expectExactlyOnce(landed, envelopes);
      for (const [shardId, seq] of lastSeq) {
        const cp = await state.get<ShardCheckpoint>(checkpointKey('bronze-s3', STREAM_S3, shardId));
        expect(cp?.value.sequenceNumber).toBe(seq);
      }
    }
    s3.destroy();
    await state.close();
  });
});
