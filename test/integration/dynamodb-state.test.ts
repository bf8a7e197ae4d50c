/**
 * DynamoDbStateStore against moto's DynamoDB (`startMoto()`): the table definition (on-demand, TTL on
 * `expiresAt`, PITR), round trips, conditional writes and their conflicts, two concurrent conditional
 * writers, and the TTL attribute. moto evaluates condition expressions but never expires items by
 * TTL, so expiry is checked through the store's clock.
 *
 * moto is not atomic under concurrent requests: its server is threaded (werkzeug `threaded=True`) and
 * its DynamoDB evaluates a condition and writes the item without a lock, so two conditional writes
 * arriving together can both pass (seen here in about 1 of 50 races). Real DynamoDB serialises writes
 * to one item. The concurrent-writers test therefore sends both stores' requests over one socket, so
 * moto judges them one after the other as DynamoDB would, while the two puts are in flight together.
 */

import { Agent } from 'node:http';
import {
  DescribeContinuousBackupsCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StateConflictError, StorageError } from '../../src/errors.js';
import { createStateTable, DynamoDbStateStore, stateTableDefinition } from '../../src/state/dynamodb.js';
import { type Moto, startMoto } from '../support/moto.js';

const TABLE = 'ingest-state';
const T0 = Date.UTC(2024, 2, 6, 10, 0, 0);

let moto: Moto;
let client: DynamoDBClient;
let store: DynamoDbStateStore;

function newClient(endpoint = moto.endpoint): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
}

async function rawItem(key: string) {
  return (
    await client.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: key } }, ConsistentRead: true }))
  ).Item;
}

beforeAll(async () => {
  moto = await startMoto();
  client = newClient();
  await createStateTable(client, TABLE);
  store = new DynamoDbStateStore({ tableName: TABLE, client, now: () => T0 });
});

afterAll(async () => {
  await store?.close();
  client?.destroy();
  await moto?.stop();
});

describe('DynamoDbStateStore on moto', () => {
  it('creates the table on demand with key pk, TTL on expiresAt and point-in-time recovery', async () => {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: TABLE }));
    expect(Table?.KeySchema).toEqual([{ AttributeName: 'pk', KeyType: 'HASH' }]);
    expect(Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
    expect(stateTableDefinition(TABLE).BillingMode).toBe('PAY_PER_REQUEST');
    const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: TABLE }));
    expect(ttl.TimeToLiveDescription).toMatchObject({
      AttributeName: 'expiresAt',
      TimeToLiveStatus: 'ENABLED',
    });
    const backups = await client.send(new DescribeContinuousBackupsCommand({ TableName: TABLE }));
    expect(
      backups.ContinuousBackupsDescription?.PointInTimeRecoveryDescription?.PointInTimeRecoveryStatus,
    ).toBe('ENABLED');
  });

  it('round-trips values with versions from 1, and deletes', async () => {
    expect(await store.get('cursor/none')).toBeUndefined();
    const value = { cursor: '2024-03-06T10:00:00Z', etag: 'W/"abc"', seen: [1, 2, 3], nested: { ok: true } };
    expect(await store.put('cursor/fakestore.carts', value)).toBe(1);
    expect(await store.get('cursor/fakestore.carts')).toEqual({ value, version: 1 });
    expect(await store.put('cursor/fakestore.carts', { cursor: 'b' })).toBe(2);
    expect(await store.get('cursor/fakestore.carts')).toEqual({ value: { cursor: 'b' }, version: 2 });
    const item = await rawItem('cursor/fakestore.carts');
    expect(item?.['value']).toEqual({ S: '{"cursor":"b"}' });
    expect(item?.['version']).toEqual({ N: '2' });
    expect(item?.['expiresAt']).toBeUndefined();
    await store.delete('cursor/fakestore.carts');
    await store.delete('cursor/fakestore.carts');
    expect(await store.get('cursor/fakestore.carts')).toBeUndefined();
    expect(await store.put('scalar', 'text')).toBe(1);
    expect(await store.get('scalar')).toEqual({ value: 'text', version: 1 });
  });

  it('honours expectedVersion: 0 means absent, n means stored version n; mismatches conflict', async () => {
    expect(await store.put('hour/2024-03-06T10', { owner: 'a' }, { expectedVersion: 0 })).toBe(1);
    await expect(store.put('hour/2024-03-06T10', { owner: 'b' }, { expectedVersion: 0 })).rejects.toThrow(
      StateConflictError,
    );
    expect(await store.put('hour/2024-03-06T10', { owner: 'a', done: true }, { expectedVersion: 1 })).toBe(2);
    const stale = await store
      .put('hour/2024-03-06T10', { owner: 'b' }, { expectedVersion: 1 })
      .catch((e) => e);
    expect(stale).toBeInstanceOf(StateConflictError);
    expect((stale as StateConflictError).retriable).toBe(false);
    expect((stale as Error).message).toMatch(/at version 2, expected 1/);
    await expect(store.put('hour/absent', 1, { expectedVersion: 3 })).rejects.toThrow(
      /absent or expired, expected 3/,
    );
    expect(await store.get('hour/2024-03-06T10')).toEqual({ value: { owner: 'a', done: true }, version: 2 });
  });

  it('lets exactly one of two concurrent conditional writers win', async () => {
    // One socket: moto handles the two requests in turn (see the module comment).
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const shared = new DynamoDBClient({
      endpoint: moto.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      requestHandler: new NodeHttpHandler({ httpAgent: agent }),
    });
    const storeA = new DynamoDbStateStore({ tableName: TABLE, client: shared, now: () => T0 });
    const storeB = new DynamoDbStateStore({ tableName: TABLE, client: shared, now: () => T0 });
    try {
      for (let i = 0; i < 10; i++) {
        const key = `lease/source-${i}`;
        // Round 1: both create the key (expectedVersion 0). Round 2: both advance it from version 1.
        for (const current of [0, 1]) {
          expect((await store.get(key))?.version ?? 0).toBe(current);
          const outcomes = await Promise.allSettled([
            storeA.put(key, { owner: 'A' }, { expectedVersion: current }),
            storeB.put(key, { owner: 'B' }, { expectedVersion: current }),
          ]);
          const won = outcomes.filter((o) => o.status === 'fulfilled');
          const lost = outcomes.filter((o) => o.status === 'rejected');
          expect(won).toHaveLength(1);
          expect(lost).toHaveLength(1);
          expect((lost[0] as PromiseRejectedResult).reason).toBeInstanceOf(StateConflictError);
          expect((won[0] as PromiseFulfilledResult<number>).value).toBe(current + 1);
          const winner = outcomes[0]!.status === 'fulfilled' ? 'A' : 'B';
          expect(await store.get(key)).toEqual({ value: { owner: winner }, version: current + 1 });
        }
      }
    } finally {
      shared.destroy();
      agent.destroy();
    }
  });

  it('writes expiresAt (epoch seconds) for ttlSecs, removes it on a put without, and treats expiry as absence', async () => {
    const nowSecs = T0 / 1000;
    expect(await store.put('lease/hourly', { owner: 'task-1' }, { ttlSecs: 300, expectedVersion: 0 })).toBe(
      1,
    );
    expect((await rawItem('lease/hourly'))?.['expiresAt']).toEqual({ N: String(nowSecs + 300) });
    // Renewal moves the expiry.
    expect(await store.put('lease/hourly', { owner: 'task-1' }, { ttlSecs: 600, expectedVersion: 1 })).toBe(
      2,
    );
    expect((await rawItem('lease/hourly'))?.['expiresAt']).toEqual({ N: String(nowSecs + 600) });

    // 600 s later the lease has expired (moto never deletes it): absent for get and for conditions.
    const later = new DynamoDbStateStore({ tableName: TABLE, client, now: () => T0 + 600_000 });
    expect(await later.get('lease/hourly')).toBeUndefined();
    await expect(later.put('lease/hourly', { owner: 'task-1' }, { expectedVersion: 2 })).rejects.toThrow(
      StateConflictError,
    );
    expect(await later.put('lease/hourly', { owner: 'task-2' }, { ttlSecs: 300, expectedVersion: 0 })).toBe(
      1,
    );
    expect(await later.get('lease/hourly')).toEqual({ value: { owner: 'task-2' }, version: 1 });

    // An unconditional put without ttlSecs makes the key permanent again.
    expect(await later.put('lease/hourly', { owner: 'task-2', done: true })).toBe(2);
    expect((await rawItem('lease/hourly'))?.['expiresAt']).toBeUndefined();
    await expect(store.put('x', 1, { ttlSecs: 0 })).rejects.toThrow(RangeError);
  });

  it('reports a value that is not JSON, a missing table and an unreachable endpoint as StorageErrors', async () => {
    await client.send(
      new PutItemCommand({
        TableName: TABLE,
        Item: { pk: { S: 'corrupt' }, value: { S: '{nope' }, version: { N: '1' } },
      }),
    );
    const corrupt = await store.get('corrupt').catch((e) => e);
    expect(corrupt).toBeInstanceOf(StorageError);
    expect((corrupt as StorageError).retriable).toBe(false);

    const missing = new DynamoDbStateStore({ tableName: 'no-such-table', client });
    const notFound = await missing.put('k', 1).catch((e) => e);
    expect(notFound).toBeInstanceOf(StorageError);
    expect((notFound as StorageError).retriable).toBe(false);
    expect((notFound as Error).message).toMatch(/ResourceNotFoundException/);

    const deadClient = new DynamoDBClient({
      endpoint: 'http://127.0.0.1:1',
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 1,
    });
    const dead = new DynamoDbStateStore({ tableName: TABLE, client: deadClient });
    const unreachable = await dead.get('k').catch((e) => e);
    deadClient.destroy();
    expect(unreachable).toBeInstanceOf(StorageError);
    expect((unreachable as StorageError).retriable).toBe(true);
  });
});
