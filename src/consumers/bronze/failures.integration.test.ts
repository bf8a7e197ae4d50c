/**
 * Lake writes that fail for good (issue 7), against real emulators: kinesis-local (kinesis-mock) for
 * the stream and moto's S3 for an `s3://` lake. The bucket is deleted mid-run: every shard is marked
 * failed (log line, metric, `/readyz` condition served by the real telemetry server) and no
 * checkpoint moves; the bucket is recreated: the shards resume by themselves and every record lands,
 * once. Then `stop()` while the bucket is gone: it returns within `shutdownTimeoutMs`, checkpoints
 * nothing, and a restart writes what was missing.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor as waitUntil } from '../../../test/support/cli.js';
import { lastSequenceByShard } from '../../../test/support/kinesis.js';
import { type Moto, startMoto } from '../../../test/support/moto.js';
import { deleteBucket as deleteBucketOf, landedIdCounts, motoS3Client } from '../../../test/support/s3.js';
import { DeadLetterQueue } from '../../deadletter/index.js';
import type { Envelope } from '../../envelope.js';
import { openLake } from '../../lake/index.js';
import { emulatorKinesisClient, type KinesisLocal, startKinesisLocal } from '../../local/kinesis-local.js';
import { FileStateStore } from '../../state/index.js';
import { registry, startTelemetryServer } from '../../telemetry/index.js';
import {
  type BronzeWriter,
  BronzeWriterSchema,
  checkpointKey,
  createBronzeWriter,
  type ShardCheckpoint,
} from './index.js';

const STREAM = 'bronze-failures';
const BUCKET = 'bronze-failures';
const CONSUMER = 'bronze-fail';

let kl: KinesisLocal;
let moto: Moto;
let kinesis: KinesisClient;
let s3: S3Client;
let tmp: string;

beforeAll(async () => {
  [kl, moto] = await Promise.all([
    startKinesisLocal({ streams: [{ name: STREAM, shards: 2 }] }),
    startMoto(),
  ]);
  kinesis = emulatorKinesisClient(kl.endpoint);
  s3 = motoS3Client(moto.endpoint);
  tmp = await mkdtemp(join(tmpdir(), 'bronze-failures-'));
});

afterAll(async () => {
  kinesis?.destroy();
  s3?.destroy();
  await Promise.all([kl?.stop(), moto?.stop()]);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** Waits until `check` holds (30 s at most). */
function waitFor(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  return waitUntil(check, 30_000, what);
}

function envelopes(tag: string, n: number): Envelope[] {
  return Array.from({ length: n }, (_, i) => ({
    source: 'fail.test',
    id: `${tag}-${i}`,
    ingested_at: new Date(Date.UTC(2024, 2, 5, 10, i % 60, 7, 123)).toISOString(),
    payload: { n: i },
  }));
}

/** Puts the envelopes one per record; returns the last sequence number put on each shard. */
async function put(list: Envelope[]): Promise<Map<string, string>> {
  const res = await kinesis.send(
    new PutRecordsCommand({
      StreamName: STREAM,
      Records: list.map((e) => ({ PartitionKey: e.id, Data: Buffer.from(JSON.stringify(e)) })),
    }),
  );
  expect(res.FailedRecordCount ?? 0).toBe(0);
  return lastSequenceByShard(res);
}

/** Every envelope id in the bucket, with how often it landed. */
function landedIds(): Promise<Map<string, number>> {
  return landedIdCounts(s3, BUCKET);
}

function deleteBucket(): Promise<void> {
  return deleteBucketOf(s3, BUCKET);
}

async function gauge(name: string, shard: string): Promise<number | undefined> {
  const values = (await registry.getSingleMetric(name)?.get())?.values ?? [];
  return values.find((v) => v.labels.consumer === CONSUMER && v.labels.shard === shard)?.value;
}

describe('bronze writer when its S3 bucket goes away (moto, kinesis emulator)', () => {
  it('marks the shards failed, checkpoints nothing, reports it on /readyz, and lands every record once the bucket is back', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const state = new FileStateStore(join(tmp, 'state'));
    const lake = openLake(`s3://${BUCKET}`, { client: s3, requestTimeoutMs: 5_000 });
    const logs: { level: number; msg: string; shard?: string; err?: string }[] = [];
    const config = BronzeWriterSchema.parse({
      type: 'bronze',
      name: CONSUMER,
      streamName: STREAM,
      lakeUri: `s3://${BUCKET}`,
      bufferIntervalSecs: 0.5,
      pollIntervalMs: 100,
      retryBaseDelayMs: 50,
      retryMaxDelayMs: 200,
      failedShardRetryBudgetSecs: 1,
      failedShardProbeIntervalSecs: 0.5,
      shutdownTimeoutMs: 3_000,
    });
    const make = (): BronzeWriter =>
      createBronzeWriter(config, {
        state,
        deadLetters: new DeadLetterQueue(openLake(`file://${join(tmp, 'dlq')}`)),
        logger: pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line)) }),
        kinesis,
        lake,
      });
    const checkpoints = async () => {
      const out = new Map<string, string | undefined>();
      for (const shard of ['shardId-000000000000', 'shardId-000000000001']) {
        const cp = await state.get<ShardCheckpoint>(checkpointKey(CONSUMER, STREAM, shard));
        out.set(shard, cp?.value.sequenceNumber);
      }
      return out;
    };
    let writer = make();
    const telemetry = await startTelemetryServer({ port: 0, host: '127.0.0.1', ready: () => writer.ready() });
    const readyz = async () => {
      const res = await fetch(`http://127.0.0.1:${telemetry.port}/readyz`);
      return { status: res.status, body: await res.text() };
    };
    try {
      // 1. Healthy: a first batch lands and is checkpointed.
      await writer.start();
      const before = await put(envelopes('before', 20));
      await waitFor('first batch checkpointed', async () => {
        const cps = await checkpoints();
        return [...before].every(([shard, seq]) => cps.get(shard) === seq);
      });
      expect((await readyz()).status).toBe(200);

      // 2. The bucket goes away; records keep coming: both shards fail, nothing is checkpointed.
      await deleteBucket();
      const during = envelopes('during', 30);
      const lastDuring = await put(during);
      expect(lastDuring.size).toBe(2);
      await waitFor('both shards failed', () =>
        Object.values(writer.stats().shards).every((s) => s.state === 'failed'),
      );
      for (const shard of lastDuring.keys()) expect(await gauge('ingest_bronze_shard_failed', shard)).toBe(1);
      const failed = logs.filter((l) => l.msg.startsWith('bronze shard failed'));
      expect(failed.map((l) => l.shard).sort()).toEqual([...lastDuring.keys()].sort());
      for (const l of failed)
        expect(l).toMatchObject({ level: 50, err: expect.stringMatching(/NoSuchBucket/) });
      const notReady = await readyz();
      expect(notReady.status).toBe(503);
      for (const shard of lastDuring.keys()) {
        expect(notReady.body).toContain(`bronze:${CONSUMER}/${shard}`);
      }
      expect(notReady.body).toMatch(/non-retriable error \(not_found\).*NoSuchBucket/);
      await new Promise((r) => setTimeout(r, 1_000));
      expect(await checkpoints()).toEqual(new Map([...before]));

      // 3. The bucket is back: the shards resume by themselves; every record lands, once.
      await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
      await waitFor('checkpointed past the outage', async () => {
        const cps = await checkpoints();
        return [...lastDuring].every(([shard, seq]) => cps.get(shard) === seq);
      });
      const landed = await landedIds();
      expect([...landed.keys()].sort()).toEqual(during.map((e) => e.id).sort());
      expect([...landed.values()].every((n) => n === 1)).toBe(true);
      expect((await readyz()).status).toBe(200);
      for (const shard of lastDuring.keys()) expect(await gauge('ingest_bronze_shard_failed', shard)).toBe(0);
      expect(logs.filter((l) => l.msg.startsWith('bronze shard recovered'))).toHaveLength(2);

      // 4. Gone again, and the writer is stopped meanwhile: stop() returns within shutdownTimeoutMs
      //    and checkpoints nothing; a restart once the bucket is back writes what was missing.
      await deleteBucket();
      const atStop = envelopes('stop', 10);
      await put(atStop);
      await waitFor('a shard failed again', () =>
        Object.values(writer.stats().shards).some((s) => s.state === 'failed'),
      );
      const cpsAtStop = await checkpoints();
      const t0 = Date.now();
      await writer.stop();
      expect(Date.now() - t0).toBeLessThan(config.shutdownTimeoutMs);
      expect(await checkpoints()).toEqual(cpsAtStop);
      // A stopped writer leaves no condition behind (its failed shard was logged).
      expect((await readyz()).body).not.toContain(`bronze:${CONSUMER}/`);

      await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
      writer = make();
      await writer.start();
      await waitFor('records of the stopped run landed', async () => (await landedIds()).size === 10);
      await writer.stop();
      const after = await landedIds();
      expect([...after.keys()].sort()).toEqual(atStop.map((e) => e.id).sort());
    } finally {
      await writer.stop();
      await telemetry.close();
      await state.close();
    }
  });
});
