/**
 * Shard leases (issue 10) against kinesis-local (kinesis-mock): two bronze writers share a stream's
 * shards through leases in one state store. Every shard is read by one writer at a time, a reshard's
 * children are read after their parents ended (whichever writer read the parent), a writer that
 * leaves hands its shards over, and every record lands in the file lake.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type KinesisClient, PutRecordsCommand, UpdateShardCountCommand } from '@aws-sdk/client-kinesis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor as waitUntil } from '../../../test/support/cli.js';
import { DeadLetterQueue } from '../../deadletter/index.js';
import type { Envelope } from '../../envelope.js';
import { openLake } from '../../lake/index.js';
import { countBronze } from '../../local/index.js';
import { emulatorKinesisClient, type KinesisLocal, startKinesisLocal } from '../../local/kinesis-local.js';
import { FileStateStore } from '../../state/index.js';
import {
  type BronzeWriter,
  BronzeWriterSchema,
  checkpointKey,
  createBronzeWriter,
  type ShardCheckpoint,
} from './index.js';
import { listAllShards } from './kinesis.js';

const STREAM = 'bronze-leases';
const CONSUMER = 'bronze-leases';

let kl: KinesisLocal;
let kinesis: KinesisClient;
let tmp: string;

beforeAll(async () => {
  kl = await startKinesisLocal({ streams: [{ name: STREAM, shards: 2 }] });
  kinesis = emulatorKinesisClient(kl.endpoint);
  tmp = await mkdtemp(join(tmpdir(), 'bronze-leases-'));
});

afterAll(async () => {
  kinesis?.destroy();
  await kl?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

function envelopes(tag: string, n: number): Envelope[] {
  return Array.from({ length: n }, (_, i) => ({
    source: 'leases.test',
    id: `${tag}-${i}`,
    ingested_at: new Date(Date.UTC(2024, 2, 5, 10, i % 60, 7, 123)).toISOString(),
    payload: { n: i },
  }));
}

async function put(list: Envelope[]): Promise<void> {
  const res = await kinesis.send(
    new PutRecordsCommand({
      StreamName: STREAM,
      Records: list.map((e) => ({ PartitionKey: e.id, Data: Buffer.from(JSON.stringify(e)) })),
    }),
  );
  expect(res.FailedRecordCount ?? 0).toBe(0);
}

interface LogLine {
  msg: string;
  event?: string;
  resource?: string;
  shard?: string;
  time: number;
}

describe('bronze shard leases (kinesis-local)', () => {
  it('shares shards between two writers, across a reshard and a writer leaving, landing every record', async () => {
    const state = new FileStateStore(join(tmp, 'state'));
    const lakeUri = `file://${join(tmp, 'lake')}`;
    const config = BronzeWriterSchema.parse({
      type: 'bronze',
      name: CONSUMER,
      streamName: STREAM,
      lakeUri,
      bufferIntervalSecs: 0.5,
      pollIntervalMs: 100,
      shardDiscoveryIntervalSecs: 1,
      shutdownTimeoutMs: 5_000,
    });
    const logs = new Map<string, LogLine[]>();
    const make = (id: string): BronzeWriter => {
      const lines: LogLine[] = [];
      logs.set(id, lines);
      return createBronzeWriter(config, {
        state,
        deadLetters: new DeadLetterQueue(openLake(`file://${join(tmp, 'dlq')}`)),
        logger: pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) }),
        kinesis,
        coordination: {
          config: { enabled: true, leaseSecs: 3, heartbeatIntervalSecs: 0.5, group: 'sources' },
          me: { instanceId: id, host: `host-${id}`, pid: 1 },
        },
      });
    };
    const ids = async () => (await countBronze(lakeUri)).get('leases.test')?.ids.size ?? 0;
    const a = make('a');
    const b = make('b');
    await put(envelopes('one', 60));
    await a.start();
    await b.start();
    await waitUntil(async () => (await ids()) >= 60, 60_000, 'the first 60 records land');
    const readers = (w: BronzeWriter) => Object.keys(w.stats().shards);
    expect(new Set([...readers(a), ...readers(b)]).size).toBe(readers(a).length + readers(b).length);

    // Reshard 2 -> 4: both parents close, their children are read after them.
    await kinesis.send(
      new UpdateShardCountCommand({
        StreamName: STREAM,
        TargetShardCount: 4,
        ScalingType: 'UNIFORM_SCALING',
      }),
    );
    await new Promise((r) => setTimeout(r, 2_000));
    await put(envelopes('two', 60));
    await waitUntil(async () => (await ids()) >= 120, 90_000, 'the records put after the reshard land');

    // b leaves: a takes its shards over (b released them after checkpointing).
    await b.stop();
    await put(envelopes('three', 40));
    await waitUntil(async () => (await ids()) >= 160, 60_000, 'the records put after b left land');
    await a.stop();
    expect(await ids()).toBe(160);

    // Children started reading only after their parents' checkpoints said shardEnd.
    const all = [...logs.values()].flat();
    const firstRead = new Map<string, number>();
    for (const l of all) {
      if (l.msg === 'bronze writer reading shard' && l.shard && !firstRead.has(l.shard))
        firstRead.set(l.shard, l.time);
    }
    for (const parent of ['shardId-000000000000', 'shardId-000000000001']) {
      const cp = await state.get<ShardCheckpoint>(checkpointKey(CONSUMER, STREAM, parent));
      expect(cp?.value.shardEnd).toBe(true);
    }
    const endedAt = new Map<string, number>();
    for (const l of all as (LogLine & { reason?: string })[]) {
      if (l.msg === 'bronze buffer flushed' && l.reason === 'shard_end' && l.shard)
        endedAt.set(l.shard, l.time);
    }
    const listed = await listAllShards(kinesis, STREAM, new AbortController().signal, 5_000);
    const children = listed.filter((s) => s.ParentShardId);
    expect(children.length).toBeGreaterThanOrEqual(2);
    for (const child of children) {
      for (const parent of [child.ParentShardId, child.AdjacentParentShardId].filter(
        (p) => p !== undefined,
      )) {
        expect(firstRead.get(child.ShardId!)).toBeGreaterThanOrEqual(endedAt.get(parent)!);
      }
    }
    // Each shard had one lease owner at a time: acquisitions of a shard alternate with its hand-offs.
    const acquired = all.filter((l) => l.event === 'lease_acquired');
    expect(new Set(acquired.map((l) => l.resource))).toEqual(new Set(listed.map((s) => s.ShardId)));
  });
});
