/**
 * Unit tests of DynamoDbSeenStore with a fake client: call sizes (100 keys per BatchGetItem, 25 items
 * per BatchWriteItem), retries of UnprocessedKeys/UnprocessedItems with backoff, and error
 * classification. The same store against moto's DynamoDB is in test/integration/dynamodb-seen.test.ts.
 */
import {
  BatchGetItemCommand,
  type BatchGetItemCommandInput,
  BatchWriteItemCommand,
  type BatchWriteItemCommandInput,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { StorageError } from '../../errors.js';
import { DynamoDbSeenStore, seenItemKey } from './dynamodb.js';

type Input = BatchGetItemCommandInput | BatchWriteItemCommandInput;

/** A client that answers through `answer` and records every input. */
function fakeClient(answer: (cmd: BatchGetItemCommand | BatchWriteItemCommand, call: number) => unknown) {
  const sent: Input[] = [];
  const client = {
    send: async (command: unknown) => {
      if (!(command instanceof BatchGetItemCommand || command instanceof BatchWriteItemCommand)) {
        throw new Error('unexpected command');
      }
      sent.push(command.input);
      const out = answer(command, sent.length);
      if (out instanceof Error) throw out;
      return out;
    },
  } as unknown as DynamoDBClient;
  return { client, sent };
}

const sleeps: number[] = [];
const sleep = async (ms: number) => void sleeps.push(ms);

describe('DynamoDbSeenStore (unit)', () => {
  it('writes 60 entries in 3 BatchWriteItem calls of at most 25, resending unprocessed items', async () => {
    const { client, sent } = fakeClient((cmd, call) => {
      const reqs = (cmd.input as BatchWriteItemCommandInput).RequestItems!['t']!;
      // The first call leaves its last 5 items unprocessed.
      return call === 1 ? { UnprocessedItems: { t: reqs.slice(20) } } : {};
    });
    const store = new DynamoDbSeenStore({ tableName: 't', client, sleep, concurrency: 1 });
    const entries = Array.from({ length: 60 }, (_, i) => ({ entity: `e${i}`, id: `e${i}@1` }));
    await store.putMany('src', entries);
    const sizes = sent.map((i) => (i as BatchWriteItemCommandInput).RequestItems!['t']!.length);
    expect(sizes).toEqual([25, 5, 25, 10]);
    const items = sent.flatMap((i) => (i as BatchWriteItemCommandInput).RequestItems!['t']!);
    expect(items[0]).toEqual({ PutRequest: { Item: { pk: { S: 'seen/src/e0' }, rid: { S: 'e0@1' } } } });
    expect(sleeps.length).toBeGreaterThan(0);
  });

  it('reads 250 keys in BatchGetItem calls of at most 100, consistently, resending unprocessed keys', async () => {
    const { client, sent } = fakeClient((cmd, call) => {
      const keys = (cmd.input as BatchGetItemCommandInput).RequestItems!['t']!.Keys!;
      const found = keys
        .slice(call === 1 ? 10 : 0)
        .map((k) => ({ pk: k['pk']!, rid: { S: `${k['pk']!.S}@v` } }));
      return {
        Responses: { t: found },
        ...(call === 1 ? { UnprocessedKeys: { t: { Keys: keys.slice(0, 10), ConsistentRead: true } } } : {}),
      };
    });
    const store = new DynamoDbSeenStore({ tableName: 't', client, sleep, concurrency: 1 });
    const entities = Array.from({ length: 250 }, (_, i) => `e${i}`);
    const got = await store.getMany('src', [...entities, 'e0']); // a repeated key is asked once
    expect(got.size).toBe(250);
    expect(got.get('e7')).toBe('seen/src/e7@v');
    const sizes = sent.map((i) => (i as BatchGetItemCommandInput).RequestItems!['t']!.Keys!.length);
    expect(sizes).toEqual([100, 10, 100, 50]);
    expect((sent[0] as BatchGetItemCommandInput).RequestItems!['t']!.ConsistentRead).toBe(true);
  });

  it('gives up after retry.maxAttempts with a retriable StorageError; a validation error is not retried', async () => {
    const stuck = fakeClient((cmd) => ({
      UnprocessedItems: { t: (cmd.input as BatchWriteItemCommandInput).RequestItems!['t']! },
    }));
    const store = new DynamoDbSeenStore({
      tableName: 't',
      client: stuck.client,
      sleep,
      retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 10 },
    });
    const err = await store.putMany('s', [{ entity: 'a', id: 'b' }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).retriable).toBe(true);
    expect(stuck.sent).toHaveLength(3);

    const invalid = fakeClient(() =>
      Object.assign(new Error('Item size has exceeded the maximum allowed size'), {
        name: 'ValidationException',
        $fault: 'client',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    const store2 = new DynamoDbSeenStore({ tableName: 't', client: invalid.client, sleep });
    const err2 = await store2.getMany('s', ['a']).catch((e: unknown) => e);
    expect(err2).toBeInstanceOf(StorageError);
    expect((err2 as StorageError).retriable).toBe(false);
    expect(invalid.sent).toHaveLength(1);
  });

  it('keys items seen/<source>/<entity>, hashing an entity over 512 bytes', () => {
    expect(seenItemKey('a.b', 'x/y')).toBe('seen/a.b/x/y');
    expect(seenItemKey('a', 'k'.repeat(600))).toMatch(/^seen\/a\/sha256:[0-9a-f]{64}$/);
  });
});
