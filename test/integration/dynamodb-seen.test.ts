/**
 * Per-entity change-detection state on moto's DynamoDB (`startMoto()`): DynamoDbSeenStore round trips
 * through BatchWriteItem/BatchGetItem, one small item per entity beside the other state in the same
 * table, and an HTTP source on the DynamoDB state store: the legacy whole-map value is imported once,
 * and a page of rows sharing one key is emitted once and then stays unchanged.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { pino } from 'pino';
import { MockAgent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeadLetterQueue } from '../../src/deadletter/index.js';
import { openLake } from '../../src/lake/index.js';
import { createHttpSource, HttpSourceSchema, legacySeenKey } from '../../src/pollers/http/index.js';
import type { Delivery, OutgoingRecord, Sink } from '../../src/producers/types.js';
import { createStateTable, DynamoDbStateStore } from '../../src/state/dynamodb.js';
import { type Moto, startMoto } from '../support/moto.js';

const TABLE = 'ingest-state-seen';
let moto: Moto;
let client: DynamoDBClient;
let store: DynamoDbStateStore;

beforeAll(async () => {
  moto = await startMoto();
  client = new DynamoDBClient({
    endpoint: moto.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  await createStateTable(client, TABLE);
  store = new DynamoDbStateStore({ tableName: TABLE, client });
});

afterAll(async () => {
  await store?.close();
  client?.destroy();
  await moto?.stop();
});

describe('DynamoDbSeenStore on moto', () => {
  it('writes 1,000 entries as one small item each and reads them back, with deltas replacing ids', async () => {
    const entries = Array.from({ length: 1_000 }, (_, i) => ({ entity: `e${i}`, id: `e${i}@1` }));
    await store.seen.putMany('src.a', entries);
    await store.seen.putMany('src.a', [{ entity: 'e5', id: 'e5@2' }]);
    await store.seen.putMany('src.b', [{ entity: 'e5', id: 'other' }]);
    const got = await store.seen.getMany('src.a', [...entries.map((e) => e.entity), 'missing']);
    expect(got.size).toBe(1_000);
    expect(got.get('e5')).toBe('e5@2');
    expect(got.get('e999')).toBe('e999@1');
    expect(await store.seen.getMany('src.b', ['e5', 'e6'])).toEqual(new Map([['e5', 'other']]));

    const raw = await client.send(
      new GetItemCommand({ TableName: TABLE, Key: { pk: { S: 'seen/src.a/e5' } }, ConsistentRead: true }),
    );
    expect(raw.Item).toEqual({ pk: { S: 'seen/src.a/e5' }, rid: { S: 'e5@2' } });
  });

  it('a long entity key and id stay a small item (hashed past 512 bytes) and still compare equal', async () => {
    const entity = 'k'.repeat(5_000);
    await store.seen.putMany('src.c', [{ entity, id: `${entity}@1` }]);
    const got = await store.seen.getMany('src.c', [entity]);
    expect(got.get(entity)).toMatch(/^sha256:[0-9a-f]{64}$/);
  });
});

describe('an HTTP source on the DynamoDB state store', () => {
  class AckSink implements Sink {
    readonly name = 'ack';
    ids: string[] = [];
    async start() {}
    async write(records: OutgoingRecord[]): Promise<Delivery[]> {
      for (const r of records)
        this.ids.push((JSON.parse(Buffer.from(r.data).toString()) as { id: string }).id);
      return records.map(() => ({ status: 'delivered' }));
    }
    async flush() {}
    async close() {}
    abandon() {
      return 0;
    }
    async ready() {
      return true;
    }
  }

  it('imports the legacy map once and keeps 1,001 rows sharing one id stable across polls', async () => {
    const name = `dup.${process.pid}`;
    await store.put(legacySeenKey(name), { entries: [['x', 'x@1']] });
    const agent = new MockAgent();
    agent.disableNetConnect();
    const rows = Array.from({ length: 1001 }, (_, i) => ({ id: 1, n: i }));
    const pool = agent.get('https://api.test');
    for (let i = 0; i < 2; i++) {
      pool
        .intercept({ path: '/rows' })
        .reply(200, [...rows, { id: 'x', v: 1 }], { headers: { 'content-type': 'application/json' } });
    }
    const sink = new AckSink();
    const source = createHttpSource(
      HttpSourceSchema.parse({
        name,
        type: 'http',
        url: 'https://api.test/rows',
        idField: 'id',
        versionField: 'v',
        conditionalRequests: false,
        maxTrackedIds: 0, // every page reads DynamoDB
      }),
      {
        sink,
        state: store,
        deadLetters: new DeadLetterQueue(openLake(`file://${mkdtempSync(join(tmpdir(), 'dl-'))}`)),
        logger: pino({ level: 'silent' }),
        dispatcher: agent,
      },
    );
    try {
      // Row {id: x, v: 1} was in the legacy map as x@1: unchanged from the first poll on.
      expect(await source.pollOnce()).toMatchObject({ polled: 1002, emitted: 1001, unchanged: 1 });
      expect(await source.pollOnce()).toMatchObject({ polled: 1002, emitted: 0, unchanged: 1002 });
      expect(new Set(sink.ids).size).toBe(1001);
      expect(await store.get(legacySeenKey(name))).toBeUndefined();
    } finally {
      await source.stop();
      await agent.close();
    }
  });
});
