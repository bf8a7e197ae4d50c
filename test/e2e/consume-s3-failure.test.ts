/**
 * Role `consume` as a process (`ingest consume`) against kinesis-local and moto's S3, when the lake's
 * bucket goes away (issue 7): `/readyz` answers 503 naming the failed shards and the cause, SIGTERM
 * while S3 is failing exits 0 within the bronze writer's `shutdownTimeoutMs` without checkpointing
 * the unwritten records, and a restart once the bucket is back lands them.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpointKey, type ShardCheckpoint } from '../../src/consumers/bronze/index.js';
import {
  emulatorKinesisClient,
  freePort,
  type KinesisLocal,
  startKinesisLocal,
} from '../../src/local/kinesis-local.js';
import { FileStateStore } from '../../src/state/index.js';
import { requireBuiltCli, type Spawned, spawnCli, tempDir, waitFor } from '../support/cli.js';
import { type Moto, startMoto } from '../support/moto.js';
import { deleteBucket, landedIdCounts, motoS3Client } from '../support/s3.js';

const STREAM = 'e2e-s3-failure';
const BUCKET = 'e2e-s3-failure';
const SHUTDOWN_TIMEOUT_MS = 4_000;

let kl: KinesisLocal;
let moto: Moto;
let kinesis: KinesisClient;
let s3: S3Client;

beforeAll(async () => {
  requireBuiltCli();
  [kl, moto] = await Promise.all([
    startKinesisLocal({ streams: [{ name: STREAM, shards: 1 }] }),
    startMoto(),
  ]);
  kinesis = emulatorKinesisClient(kl.endpoint);
  s3 = motoS3Client(moto.endpoint);
});

afterAll(async () => {
  kinesis?.destroy();
  s3?.destroy();
  await Promise.all([kl?.stop(), moto?.stop()]);
});

async function put(tag: string, n: number): Promise<{ ids: string[]; last: string }> {
  const ids = Array.from({ length: n }, (_, i) => `${tag}-${i}`);
  const res = await kinesis.send(
    new PutRecordsCommand({
      StreamName: STREAM,
      Records: ids.map((id) => ({
        PartitionKey: id,
        Data: Buffer.from(
          JSON.stringify({ source: 'e2e.s3', id, ingested_at: '2024-03-05T10:00:00.000Z', payload: { id } }),
        ),
      })),
    }),
  );
  expect(res.FailedRecordCount ?? 0).toBe(0);
  return { ids, last: res.Records?.at(-1)?.SequenceNumber ?? '' };
}

/** Every envelope id landed in the bucket (none while it is gone), sorted. */
async function landedIds(): Promise<string[]> {
  const counts = await landedIdCounts(s3, BUCKET).catch(() => new Map<string, number>());
  return [...counts.entries()].flatMap(([id, n]) => Array<string>(n).fill(id)).sort();
}

describe('ingest consume when the S3 bucket goes away', () => {
  it('reports the failed shard on /readyz, exits 0 on SIGTERM within shutdownTimeoutMs without checkpointing, and a restart lands the rest', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const dir = tempDir('e2e-s3-failure');
    const port = await freePort();
    const file = join(dir, 'config.yaml');
    writeFileSync(
      file,
      [
        'sources: []',
        'sinks: []',
        'consumers:',
        '  - name: bronze',
        '    type: bronze',
        `    streamName: ${STREAM}`,
        `    lakeUri: s3://${BUCKET}`,
        '    bufferIntervalSecs: 0.5',
        '    pollIntervalMs: 100',
        `    shutdownTimeoutMs: ${SHUTDOWN_TIMEOUT_MS}`,
        '    failedShardRetryBudgetSecs: 1',
        '    failedShardProbeIntervalSecs: 30',
        'state:',
        '  type: file',
        `  path: ${join(dir, 'state')}`,
        'deadLetter:',
        `  uri: file://${join(dir, 'dlq')}`,
        'telemetry:',
        '  host: 127.0.0.1',
        `  consumePort: ${port}`,
        '',
      ].join('\n'),
    );
    const env = {
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_ENDPOINT_URL_KINESIS: kl.endpoint,
      AWS_ENDPOINT_URL_S3: moto.endpoint,
    };
    const readyz = () =>
      fetch(`http://127.0.0.1:${port}/readyz`)
        .then(async (r) => ({ status: r.status, body: await r.text() }))
        .catch(() => ({ status: 0, body: '' }));
    const checkpoint = async () => {
      const state = new FileStateStore(join(dir, 'state'));
      try {
        const cp = await state.get<ShardCheckpoint>(checkpointKey('bronze', STREAM, 'shardId-000000000000'));
        return cp?.value.sequenceNumber;
      } finally {
        await state.close();
      }
    };
    let consume: Spawned = spawnCli(['consume', '--config', file], env);
    try {
      await waitFor(async () => (await readyz()).status === 200, 30_000, '/readyz 200');
      const first = await put('first', 5);
      await waitFor(async () => (await checkpoint()) === first.last, 30_000, 'first batch checkpointed');

      // The bucket goes away, records keep coming: the shard fails, /readyz says why.
      await deleteBucket(s3, BUCKET);
      const during = await put('during', 5);
      // (HeadBucket fails at once, so /readyz is 503 at once; the shard's condition follows the budget.)
      await waitFor(
        async () => (await readyz()).body.includes('bronze:bronze/shardId-000000000000'),
        30_000,
        'the shard condition on /readyz',
      );
      const notReady = await readyz();
      expect(notReady.status).toBe(503);
      expect(notReady.body).toMatch(/not_found.*NoSuchBucket/);
      expect(consume.stderr()).toMatch(
        /"msg":"bronze shard failed[^"]*".*NoSuchBucket|NoSuchBucket.*"msg":"bronze shard failed/,
      );

      // SIGTERM while S3 fails: exit 0 within shutdownTimeoutMs; the checkpoint did not move.
      const t0 = Date.now();
      consume.child.kill('SIGTERM');
      const exit = await consume.exited;
      const tookMs = Date.now() - t0;
      expect(exit.code, consume.stderr()).toBe(0);
      expect(tookMs).toBeLessThan(SHUTDOWN_TIMEOUT_MS);
      expect(await checkpoint()).toBe(first.last);
      expect(consume.stderr()).toContain('they are not checkpointed and are read again on the next start');

      // The bucket is back: a restart reads from the checkpoint and lands what was missing.
      await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
      consume = spawnCli(['consume', '--config', file], env);
      await waitFor(async () => (await checkpoint()) === during.last, 30_000, 'the rest checkpointed');
      expect(await landedIds()).toEqual(during.ids.sort());
      consume.child.kill('SIGTERM');
      expect((await consume.exited).code, consume.stderr()).toBe(0);
    } finally {
      if (consume.child.exitCode === null && consume.child.signalCode === null) {
        consume.child.kill('SIGKILL');
        await consume.exited;
      }
    }
  });
});
