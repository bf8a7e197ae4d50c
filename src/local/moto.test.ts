/**
 * moto with atomic DynamoDB writes (`atomicWrites: true`, as `ingest local --run-tasks` starts it):
 * concurrent conditional creates of one key have exactly one winner, as in DynamoDB. (moto's default
 * threaded server does not guarantee this: see the module comment of moto.ts.)
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createStateTable, DynamoDbStateStore } from '../state/dynamodb.js';
import { type Moto, startMoto } from './moto.js';

let moto: Moto;
beforeAll(async () => {
  moto = await startMoto({ atomicWrites: true });
});
afterAll(async () => {
  await moto?.stop();
});

const client = () =>
  new DynamoDBClient({
    endpoint: moto.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });

it('conditional creates racing on one key have one winner', async () => {
  await createStateTable(client(), 'race');
  const stores = Array.from(
    { length: 10 },
    () => new DynamoDbStateStore({ tableName: 'race', client: client() }),
  );
  for (let round = 0; round < 20; round++) {
    const results = await Promise.allSettled(
      stores.map((s, i) => s.put(`k${round}`, i, { expectedVersion: 0 })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  }
});
