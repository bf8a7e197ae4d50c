/**
 * Unit tests of DynamoDbStateStore with a fake client: the UpdateItem it sends for each kind of put,
 * recognition of its own earlier write after an SDK retry, and error classification. The behaviour
 * against a real DynamoDB API (moto) is in test/integration/dynamodb-state.test.ts.
 */
import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  InternalServerError,
  ProvisionedThroughputExceededException,
  UpdateItemCommand,
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { StateConflictError, StorageError } from '../errors.js';
import { DynamoDbStateStore } from './dynamodb.js';

const NOW = 1_700_000_000_000;

/** A client whose `send` records every command input and answers with `answer`. */
function fakeClient(answer: (input: UpdateItemCommandInput) => unknown) {
  const sent: UpdateItemCommandInput[] = [];
  const client = {
    send: async (command: unknown) => {
      if (!(command instanceof UpdateItemCommand)) throw new Error('unexpected command');
      sent.push(command.input);
      const out = answer(command.input);
      if (out instanceof Error) throw out;
      return out;
    },
    destroy: () => undefined,
  } as unknown as DynamoDBClient;
  return { client, sent };
}

const ok = (version: number) => () => ({ Attributes: { version: { N: String(version) } } });

describe('DynamoDbStateStore (unit)', () => {
  it('sends an unconditional increment without ConditionExpression, removing any expiry', async () => {
    const { client, sent } = fakeClient(ok(4));
    const store = new DynamoDbStateStore({ tableName: 't', client, now: () => NOW });
    expect(await store.put('k', { a: 1 })).toBe(4);
    expect(sent[0]).toMatchObject({
      TableName: 't',
      Key: { pk: { S: 'k' } },
      UpdateExpression:
        'SET #value = :value, #writer = :writer, #version = if_not_exists(#version, :zero) + :one REMOVE #expiresAt',
      ReturnValues: 'UPDATED_NEW',
    });
    expect(sent[0]?.ConditionExpression).toBeUndefined();
    expect(sent[0]?.ExpressionAttributeValues?.[':value']).toEqual({ S: '{"a":1}' });
  });

  it('conditions expectedVersion 0 on absence (or expiry) and n on the version, and sets expiresAt', async () => {
    const { client, sent } = fakeClient(ok(1));
    const store = new DynamoDbStateStore({ tableName: 't', client, now: () => NOW });
    await store.put('k', 1, { expectedVersion: 0, ttlSecs: 60 });
    expect(sent[0]).toMatchObject({
      ConditionExpression: 'attribute_not_exists(#pk) OR #expiresAt <= :now',
      UpdateExpression: 'SET #value = :value, #writer = :writer, #version = :next, #expiresAt = :expiresAt',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
    expect(sent[0]?.ExpressionAttributeValues).toMatchObject({
      ':next': { N: '1' },
      ':now': { N: String(NOW / 1000) },
      ':expiresAt': { N: String(NOW / 1000 + 60) },
    });
    await store.put('k', 1, { expectedVersion: 7 });
    expect(sent[1]?.ConditionExpression).toBe(
      '#version = :expected AND (attribute_not_exists(#expiresAt) OR #expiresAt > :now)',
    );
    expect(sent[1]?.ExpressionAttributeValues).toMatchObject({
      ':expected': { N: '7' },
      ':next': { N: '8' },
    });
  });

  it('returns the version when the conflicting item was written by this put (an SDK retry)', async () => {
    const { client } = fakeClient(
      (input) =>
        new ConditionalCheckFailedException({
          message: 'The conditional request failed',
          $metadata: { httpStatusCode: 400 },
          Item: { version: { N: '3' }, writer: input.ExpressionAttributeValues![':writer']! },
        }),
    );
    const store = new DynamoDbStateStore({ tableName: 't', client });
    expect(await store.put('k', 'v', { expectedVersion: 2 })).toBe(3);
  });

  it('throws StateConflictError when another writer holds the item', async () => {
    const { client } = fakeClient(
      () =>
        new ConditionalCheckFailedException({
          message: 'The conditional request failed',
          $metadata: { httpStatusCode: 400 },
          Item: { version: { N: '3' }, writer: { S: 'someone-else' } },
        }),
    );
    const store = new DynamoDbStateStore({ tableName: 't', client });
    await expect(store.put('k', 'v', { expectedVersion: 2 })).rejects.toThrow(StateConflictError);
  });

  it('classifies throttling and 5xx as retriable, validation errors as not', async () => {
    const cases: [Error, boolean][] = [
      [
        new ProvisionedThroughputExceededException({
          message: 'slow down',
          $metadata: { httpStatusCode: 400 },
        }),
        true,
      ],
      [new InternalServerError({ message: 'boom', $metadata: { httpStatusCode: 500 } }), true],
      [
        Object.assign(new Error('Item size has exceeded the maximum allowed size'), {
          name: 'ValidationException',
          $fault: 'client',
          $metadata: { httpStatusCode: 400 },
        }),
        false,
      ],
    ];
    for (const [error, retriable] of cases) {
      const store = new DynamoDbStateStore({ tableName: 't', client: fakeClient(() => error).client });
      const err = await store.put('k', 1).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StorageError);
      expect((err as StorageError).retriable).toBe(retriable);
      expect((err as Error).cause).toBe(error);
    }
  });

  it('rejects invalid ttlSecs and expectedVersion before calling DynamoDB', async () => {
    const { client, sent } = fakeClient(ok(1));
    const store = new DynamoDbStateStore({ tableName: 't', client });
    await expect(store.put('k', 1, { ttlSecs: 1.5 })).rejects.toThrow(RangeError);
    await expect(store.put('k', 1, { expectedVersion: -1 })).rejects.toThrow(RangeError);
    expect(sent).toHaveLength(0);
  });
});
