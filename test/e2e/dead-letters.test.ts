import { join } from 'node:path';
import { GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeadLetterQueue } from '../../src/deadletter/index.js';
import { openLake } from '../../src/lake/index.js';
import {
  emulatorKinesisClient,
  type KinesisLocal,
  startKinesisLocal,
} from '../../src/local/kinesis-local.js';
import { requireBuiltCli, spawnCli, tempDir } from '../support/cli.js';

/**
 * `ingest dead-letters list` and `replay` as a user runs them: dead letters a sink wrote earlier are
 * listed with their reasons, replayed into the real Kinesis emulator, and a second replay skips them.
 */
describe('ingest dead-letters', () => {
  let kinesis: KinesisLocal;
  const dir = tempDir('e2e-dead-letters');
  const env = () => ({
    INGEST_STREAM: 'dl-replay',
    INGEST_STATE_DIR: join(dir, 'state'),
    INGEST_LAKE_URI: `file://${join(dir, 'lake')}`,
    AWS_ENDPOINT_URL_KINESIS: kinesis.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
  });
  const cli = async (...args: string[]) => {
    const p = spawnCli(['dead-letters', ...args, '--config', 'config/local.yaml'], env());
    const { code } = await p.exited;
    return { code, out: p.stdout(), err: p.stderr() };
  };

  beforeAll(async () => {
    requireBuiltCli();
    kinesis = await startKinesisLocal({ streams: [{ name: 'dl-replay', shards: 1 }] });
    const q = new DeadLetterQueue(openLake(`file://${join(dir, 'lake')}`));
    const env = (id: number) =>
      Buffer.from(JSON.stringify({ source: 'fakestore.products', id: `${id}@v1`, payload: { id } }));
    await q.put(
      [1, 2, 3].map((id) => ({
        component: 'kinesis',
        source: 'fakestore.products',
        failureClass: 'http_4xx' as const,
        reason: 'PutRecords to stream "dl-replay" rejected the record (not retriable): ValidationException',
        data: env(id),
        partitionKey: `fakestore.products:${id}`,
      })),
      new Date('2026-12-04T08:00:00Z'),
    );
    await q.put(
      [
        {
          component: 'fakestore.carts',
          source: 'fakestore.carts',
          failureClass: 'internal',
          reason: 'cannot wrap record: bad',
          data: Buffer.from('{"broken":'),
        },
      ],
      new Date('2026-12-04T09:00:00Z'),
    );
  });
  afterAll(async () => {
    await kinesis?.stop();
  });

  it('lists dead letters with reasons and filters, replays them into the stream once, then skips them', async () => {
    const all = await cli('list');
    expect(all.code, all.err).toBe(0);
    expect(all.out).toContain('4 dead letter(s) in 2 object(s)');
    expect(all.out).toMatch(/3 {2}fakestore\.products: PutRecords to stream "dl-replay" rejected/);

    const json = await cli('list', '--source', 'fakestore.carts', '--json');
    const rows = json.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows).toMatchObject([
      { source: 'fakestore.carts', reason: 'cannot wrap record: bad', replayed: false },
    ]);
    expect(
      (await cli('list', '--since', '2026-12-04T08:30:00Z', '--json')).out.trim().split('\n'),
    ).toHaveLength(1);

    const dry = await cli('replay', '--dry-run');
    expect(dry.out).toContain('would send 3, not replayable 1');

    const replay = await cli('replay');
    expect(replay.code, replay.err).toBe(0);
    expect(replay.out).toContain(
      '2 object(s) selected, 0 already replayed (use --again): delivered 3, dead-lettered again 0, not replayable 1',
    );

    const reader = emulatorKinesisClient(kinesis.endpoint);
    const [shard] = (await reader.send(new ListShardsCommand({ StreamName: 'dl-replay' }))).Shards ?? [];
    const it0 = await reader.send(
      new GetShardIteratorCommand({
        StreamName: 'dl-replay',
        ShardId: shard!.ShardId!,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    const got = await reader.send(new GetRecordsCommand({ ShardIterator: it0.ShardIterator! }));
    reader.destroy();
    expect(
      (got.Records ?? []).map((r) => [
        r.PartitionKey,
        (JSON.parse(Buffer.from(r.Data!).toString()) as { id: string }).id,
      ]),
    ).toEqual([
      ['fakestore.products:1', '1@v1'],
      ['fakestore.products:2', '2@v1'],
      ['fakestore.products:3', '3@v1'],
    ]);

    const second = await cli('replay');
    expect(second.out).toContain('2 object(s) selected, 2 already replayed (use --again): delivered 0');
    expect((await cli('list')).out).toContain('(replayed)');
  }, 120_000);
});
