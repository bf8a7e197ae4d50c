/**
 * KPL aggregation end to end against the real Kinesis emulator (kinesis-mock via kinesis-local):
 * the Kinesis sink packs envelopes into aggregated records, the bronze writer deaggregates them into
 * a `file://` lake, every envelope exactly once; a corrupt aggregate is dead-lettered.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeadLetterQueue } from '../../deadletter/index.js';
import type { Envelope } from '../../envelope.js';
import { openLake } from '../../lake/index.js';
import { emulatorKinesisClient, type KinesisLocal, startKinesisLocal } from '../../local/kinesis-local.js';
import { silentLogger } from '../../log.js';
import { createKinesisSink, encodeAggregated, wrapKinesisClient } from '../../producers/kinesis/index.js';
import { FileStateStore } from '../../state/index.js';
import { BronzeWriterSchema, checkpointKey, createBronzeWriter, gunzipNdjson } from './index.js';

const STREAM = 'bronze-kpl';
const SOURCES = ['fakestore.carts', 'fakestore.products', 'usgs.quakes'];
const N = 300;

let kl: KinesisLocal;
let kinesis: KinesisClient;
let tmp: string;

beforeAll(async () => {
  kl = await startKinesisLocal({ streams: [{ name: STREAM, shards: 2 }] });
  kinesis = emulatorKinesisClient(kl.endpoint);
  tmp = await mkdtemp(join(tmpdir(), 'bronze-kpl-'));
});

afterAll(async () => {
  kinesis?.destroy();
  await kl?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

async function waitFor(what: string, check: () => boolean, timeoutMs = 45_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('bronze writer with KPL-aggregated records (kinesis emulator)', () => {
  it('lands every envelope the sink aggregated exactly once, dead-letters a corrupt aggregate, and replays to the same objects', async () => {
    const envelopes: Envelope[] = Array.from({ length: N }, (_, i) => ({
      source: SOURCES[i % SOURCES.length] as string,
      id: `kpl-${i}`,
      ingested_at: new Date(Date.UTC(2024, 2, 5, 9, 30 + (i % 60), 7, 123)).toISOString(),
      payload: { n: i, text: 'x'.repeat(40) },
    }));
    const sink = createKinesisSink(
      {
        type: 'kinesis',
        name: 'kpl-it',
        streamName: STREAM,
        aggregation: { enabled: true, hashBuckets: 2 },
      },
      {
        deadLetters: {
          put: async (l) => {
            throw new Error(`unexpected dead letters: ${JSON.stringify(l).slice(0, 200)}`);
          },
        },
        logger: silentLogger,
        client: wrapKinesisClient(kinesis, { endpoint: kl.endpoint }),
      },
    );
    await sink.start();
    const deliveries = await sink.write(
      envelopes.map((e) => ({
        source: e.source,
        partitionKey: `${e.source}:${e.id}`,
        data: Buffer.from(JSON.stringify(e)),
      })),
    );
    await sink.close();
    expect(deliveries.every((d) => d.status === 'delivered')).toBe(true);
    const kinesisRecords = new Set(deliveries.map((d) => (d.status === 'delivered' ? d.sequenceNumber : '')));
    // Two buckets (one per shard) and 51 200-byte aggregates: a handful of Kinesis records for 300 envelopes.
    expect(kinesisRecords.size).toBeLessThanOrEqual(6);
    const shards = new Set(deliveries.map((d) => (d.status === 'delivered' ? d.shardId : '')));
    expect(shards.size).toBe(2);

    // A corrupt aggregate (bad MD5): dead-lettered with the reason.
    const corrupt = encodeAggregated([
      { partitionKey: 'c', data: Buffer.from(JSON.stringify(envelopes[0])) },
    ]);
    corrupt[corrupt.length - 1] = corrupt[corrupt.length - 1]! ^ 0xff;
    const res = await kinesis.send(
      new PutRecordsCommand({ StreamName: STREAM, Records: [{ PartitionKey: 'c', Data: corrupt }] }),
    );
    expect(res.FailedRecordCount ?? 0).toBe(0);

    const lakeUri = `file://${join(tmp, 'lake')}`;
    const lake = openLake(lakeUri);
    const dlq = openLake(`file://${join(tmp, 'dlq')}`);
    const state = new FileStateStore(join(tmp, 'state'));
    const config = BronzeWriterSchema.parse({
      type: 'bronze',
      name: 'bronze-kpl',
      streamName: STREAM,
      lakeUri,
      bufferMaxBytes: 8192,
      bufferIntervalSecs: 1,
      pollIntervalMs: 100,
      retryBaseDelayMs: 50,
    });
    const deps = { state, deadLetters: new DeadLetterQueue(dlq), logger: silentLogger, kinesis, lake };
    const run = async () => {
      const writer = createBronzeWriter(config, deps);
      await writer.start();
      await waitFor('every record handled', () => {
        const s = writer.stats();
        return s.recordsLanded + s.recordsDeadLettered >= N + 1;
      });
      await writer.stop();
      return writer.stats();
    };

    const stats = await run();
    expect(stats).toMatchObject({
      kinesisRecordsRead: kinesisRecords.size + 1,
      recordsRead: N + 1,
      recordsLanded: N,
      recordsDeadLettered: 1,
    });
    const read = async () => {
      const keys = (await lake.list('bronze/')).sort();
      const counts = new Map<string, number>();
      for (const key of keys) {
        for (const line of await gunzipNdjson((await lake.get(key))!)) {
          const e = JSON.parse(line) as Envelope;
          counts.set(e.id, (counts.get(e.id) ?? 0) + 1);
          expect(key).toContain(`source=${e.source}/`);
        }
      }
      return { keys, counts };
    };
    const first = await read();
    expect(first.counts.size).toBe(N);
    for (const e of envelopes) expect(first.counts.get(e.id), e.id).toBe(1);
    const letters = await dlq.list('dead-letter/');
    expect(letters.length).toBeGreaterThan(0);
    const dlqText = (
      await Promise.all(letters.map(async (k) => (await gunzipNdjson((await dlq.get(k))!)).join('\n')))
    ).join('\n');
    expect(dlqText).toContain('bad KPL-aggregated record: MD5 checksum mismatch');

    // Lose the checkpoints and replay: whole aggregates are re-read, the same objects are rewritten.
    for (const shardId of Object.keys(stats.shards))
      await state.delete(checkpointKey('bronze-kpl', STREAM, shardId));
    await run();
    const second = await read();
    expect(second.keys).toEqual(first.keys);
    for (const e of envelopes) expect(second.counts.get(e.id), e.id).toBe(1);
    await state.close();
  });
});
