/**
 * State store on one DynamoDB table (AWS SDK v3 `@aws-sdk/client-dynamodb`), for AWS deployments where
 * several tasks share state: poll cursors, shard checkpoints, scheduled hours and leases.
 *
 * ## Table
 * | attribute   | type | meaning                                                                     |
 * |-------------|------|-----------------------------------------------------------------------------|
 * | `pk`        | S    | partition key: the state key, e.g. `cursor/fakestore.carts` (1-2048 bytes)   |
 * | `value`     | S    | the value as JSON                                                           |
 * | `version`   | N    | 1 on the first write, +1 on every write (optimistic concurrency)            |
 * | `expiresAt` | N    | optional: epoch **seconds** after which the item counts as absent (TTL)     |
 * | `writer`    | S    | random id of the put that wrote the item (detects the SDK's own retries)     |
 *
 * No sort key, no index. Recommended definition (see {@link stateTableDefinition} and
 * {@link createStateTable}; the CDK stack should declare the same):
 * - billing mode on-demand (`PAY_PER_REQUEST`): state traffic is small and bursty;
 * - point-in-time recovery on (UpdateContinuousBackups), so a bad deploy can be rolled back;
 * - Time to Live on `expiresAt` (UpdateTimeToLive). DynamoDB deletes expired items in the background,
 *   typically within a few days ("Working with Time to Live", DynamoDB Developer Guide), so this store
 *   also treats an item whose `expiresAt` has passed as absent on read and in conditions.
 *
 * ## Consistency
 * Reads are strongly consistent (`ConsistentRead: true`), so a `get` followed by a conditional `put`
 * sees the latest committed version. Every put is one UpdateItem:
 * - `expectedVersion: 0` → `attribute_not_exists(pk) OR expiresAt <= :now`; the version becomes 1;
 * - `expectedVersion: n` → `version = :n AND (attribute_not_exists(expiresAt) OR expiresAt > :now)`;
 *   the version becomes n + 1;
 * - no `expectedVersion` → no condition; the version becomes the stored one + 1 (also over an expired
 *   item, whose version simply continues), or 1.
 * A failed condition (`ConditionalCheckFailedException`) is a {@link StateConflictError}, unless the
 * item returned with it (`ReturnValuesOnConditionCheckFailure: ALL_OLD`) was written by this very put:
 * then an earlier attempt of the SDK's retry succeeded and its version is returned.
 */

import { randomUUID } from 'node:crypto';
import {
  type AttributeValue,
  ContinuousBackupsUnavailableException,
  CreateTableCommand,
  type CreateTableCommandInput,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  UpdateContinuousBackupsCommand,
  UpdateItemCommand,
  type UpdateItemCommandInput,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { awsErrorOf, isTransientAwsError } from '../aws/errors.js';
import { StateConflictError, StorageError } from '../errors.js';
import type { PutOptions, StateStore, Versioned } from './index.js';
import { DynamoDbSeenStore } from './seen/dynamodb.js';

/** {@link PutOptions} plus a time to live, which only this store supports. */
export interface DynamoDbPutOptions extends PutOptions {
  /**
   * Seconds from now after which the key counts as absent (written as `expiresAt`, epoch seconds,
   * the table's TTL attribute). Omit for no expiry; a put without it removes an earlier expiry.
   * Must be a positive integer.
   */
  ttlSecs?: number;
}

export interface DynamoDbStateStoreOptions {
  /** Table name, e.g. `ingest-state`. */
  tableName: string;
  /**
   * A ready client; not destroyed by {@link DynamoDbStateStore.close}. When absent the store creates
   * one from {@link region}, {@link endpoint} and the SDK's chains (`AWS_REGION`,
   * `AWS_ENDPOINT_URL_DYNAMODB`, then `AWS_ENDPOINT_URL`). The SDK's default retries (3 attempts,
   * throttling-aware) stay on: a retried conditional put recognises its own earlier success.
   */
  client?: DynamoDBClient;
  /** AWS region when the store creates the client. @default the SDK's region chain */
  region?: string;
  /** Endpoint URL when the store creates the client. @default the SDK's resolution */
  endpoint?: string;
  /** Clock, in ms since the epoch, for `expiresAt` and expiry checks. @default Date.now */
  now?: () => number;
}

/** The TTL attribute name. */
export const TTL_ATTRIBUTE = 'expiresAt';

/**
 * CreateTable input of the state table: partition key `pk` (S), on-demand billing. TTL and
 * point-in-time recovery are separate calls (see {@link createStateTable}).
 */
export function stateTableDefinition(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
    KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
    BillingMode: 'PAY_PER_REQUEST',
  };
}

/**
 * Creates the state table for local and test setups (in AWS the CDK stack owns it): CreateTable with
 * {@link stateTableDefinition}, waits until ACTIVE, enables TTL on `expiresAt` and point-in-time
 * recovery. PITR is skipped when the service answers `ContinuousBackupsUnavailableException`
 * (backups still being enabled on a new table); everything else throws the SDK's error.
 * @param options.waitSecs - how long to wait for ACTIVE. @default 60
 */
export async function createStateTable(
  client: DynamoDBClient,
  tableName: string,
  options: { waitSecs?: number } = {},
): Promise<void> {
  await client.send(new CreateTableCommand(stateTableDefinition(tableName)));
  await waitUntilTableExists(
    { client, maxWaitTime: options.waitSecs ?? 60, minDelay: 1, maxDelay: 5 },
    { TableName: tableName },
  );
  await client.send(
    new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
    }),
  );
  try {
    await client.send(
      new UpdateContinuousBackupsCommand({
        TableName: tableName,
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      }),
    );
  } catch (err) {
    if (!(err instanceof ContinuousBackupsUnavailableException)) throw err;
  }
}

/** {@link StateStore} on DynamoDB with conditional writes and optional per-key TTL. */
export class DynamoDbStateStore implements StateStore {
  private readonly client: DynamoDBClient;
  private readonly ownsClient: boolean;
  private readonly tableName: string;
  private readonly now: () => number;
  private seenStore: DynamoDbSeenStore | undefined;

  constructor(options: DynamoDbStateStoreOptions) {
    this.tableName = options.tableName;
    this.ownsClient = options.client === undefined;
    this.client =
      options.client ??
      new DynamoDBClient({
        ...(options.region ? { region: options.region } : {}),
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      });
    this.now = options.now ?? Date.now;
  }

  /**
   * Reads a key (GetItem, strongly consistent). An item whose `expiresAt` has passed is `undefined`
   * even before DynamoDB's TTL deletes it.
   * @throws StorageError (retriable for throttling, 5xx and network failures; not for a missing table,
   *   validation or access errors, nor for a stored value that is not JSON).
   */
  async get<T>(key: string): Promise<Versioned<T> | undefined> {
    let item: Record<string, AttributeValue> | undefined;
    try {
      const out = await this.client.send(
        new GetItemCommand({ TableName: this.tableName, Key: { pk: { S: key } }, ConsistentRead: true }),
      );
      item = out.Item;
    } catch (err) {
      throw toStorageError(err, `state: cannot read ${key}`);
    }
    if (!item) return undefined;
    const expiresAt = item[TTL_ATTRIBUTE]?.N;
    if (expiresAt !== undefined && Number(expiresAt) <= this.nowSecs()) return undefined;
    try {
      return { value: JSON.parse(item['value']?.S ?? '') as T, version: Number(item['version']?.N) };
    } catch (err) {
      throw new StorageError(`state: ${key} in ${this.tableName} does not hold JSON`, {
        cause: err,
        retriable: false,
      });
    }
  }

  /**
   * Writes a key (one UpdateItem, see the module comment for the conditions) and returns its new version.
   * @param value - any JSON-serialisable value; the item (key, JSON and attributes) must stay under
   *   DynamoDB's 400 KB item limit.
   * @throws StateConflictError when `expectedVersion` does not match the stored (unexpired) version.
   * @throws RangeError when `ttlSecs` is not a positive integer.
   * @throws StorageError when DynamoDB fails (retriable for throttling, 5xx and network failures).
   */
  async put<T>(key: string, value: T, options: DynamoDbPutOptions = {}): Promise<number> {
    const { expectedVersion, ttlSecs } = options;
    if (ttlSecs !== undefined && (!Number.isInteger(ttlSecs) || ttlSecs <= 0)) {
      throw new RangeError(`state: ttlSecs must be a positive integer, got ${ttlSecs}`);
    }
    if (expectedVersion !== undefined && (!Number.isInteger(expectedVersion) || expectedVersion < 0)) {
      throw new RangeError(`state: expectedVersion must be a non-negative integer, got ${expectedVersion}`);
    }
    const writer = randomUUID();
    const nowSecs = this.nowSecs();
    // `value` is a DynamoDB reserved word: every attribute goes through a name placeholder.
    const names: Record<string, string> = {
      '#value': 'value',
      '#version': 'version',
      '#writer': 'writer',
      '#expiresAt': TTL_ATTRIBUTE,
    };
    const values: Record<string, AttributeValue> = {
      ':value': { S: JSON.stringify(value) ?? 'null' },
      ':writer': { S: writer },
    };
    const set = ['#value = :value', '#writer = :writer'];
    let condition: string | undefined;

    if (expectedVersion === undefined) {
      set.push('#version = if_not_exists(#version, :zero) + :one');
      values[':zero'] = { N: '0' };
      values[':one'] = { N: '1' };
    } else if (expectedVersion === 0) {
      set.push('#version = :next');
      values[':next'] = { N: '1' };
      condition = 'attribute_not_exists(#pk) OR #expiresAt <= :now';
      names['#pk'] = 'pk';
    } else {
      set.push('#version = :next');
      values[':next'] = { N: String(expectedVersion + 1) };
      values[':expected'] = { N: String(expectedVersion) };
      condition = '#version = :expected AND (attribute_not_exists(#expiresAt) OR #expiresAt > :now)';
    }
    if (condition) values[':now'] = { N: String(nowSecs) };
    if (ttlSecs !== undefined) {
      set.push('#expiresAt = :expiresAt');
      values[':expiresAt'] = { N: String(nowSecs + ttlSecs) };
    }

    const input: UpdateItemCommandInput = {
      TableName: this.tableName,
      Key: { pk: { S: key } },
      // A put replaces the whole value: without ttlSecs an earlier expiry is removed.
      UpdateExpression: `SET ${set.join(', ')}${ttlSecs === undefined ? ' REMOVE #expiresAt' : ''}`,
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
      ReturnValues: 'UPDATED_NEW',
      ...(condition
        ? { ConditionExpression: condition, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' }
        : {}),
    };
    try {
      const out = await this.client.send(new UpdateItemCommand(input));
      const version = Number(out.Attributes?.['version']?.N);
      if (!Number.isInteger(version)) {
        throw new StorageError(`state: UpdateItem of ${key} returned no version`, { retriable: false });
      }
      return version;
    } catch (err) {
      if (isConditionalCheckFailed(err)) {
        const current = (err as { Item?: Record<string, AttributeValue> }).Item;
        // Our own earlier attempt (the SDK retried after a lost response) already wrote the item.
        if (current?.['writer']?.S === writer) return Number(current['version']?.N);
        const stored = current?.['version']?.N;
        throw new StateConflictError(
          `state: ${key} is ${stored === undefined ? 'absent or expired' : `at version ${stored}`}, expected ${expectedVersion}`,
          { cause: err },
        );
      }
      if (err instanceof StorageError) throw err;
      throw toStorageError(err, `state: cannot write ${key}`);
    }
  }

  /**
   * Deletes a key (DeleteItem; no error when absent).
   * @throws StorageError when DynamoDB fails.
   */
  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteItemCommand({ TableName: this.tableName, Key: { pk: { S: key } } }));
    } catch (err) {
      throw toStorageError(err, `state: cannot delete ${key}`);
    }
  }

  /**
   * The change-detection store: one item per entity (`seen/<source>/<entity>`) in this table, through
   * this store's client (see src/state/seen/dynamodb.ts).
   */
  get seen(): DynamoDbSeenStore {
    this.seenStore ??= new DynamoDbSeenStore({ tableName: this.tableName, client: this.client });
    return this.seenStore;
  }

  /** Destroys the client when the store created it. */
  async close(): Promise<void> {
    if (this.ownsClient) this.client.destroy();
  }

  private nowSecs(): number {
    return Math.floor(this.now() / 1000);
  }
}

function isConditionalCheckFailed(err: unknown): boolean {
  return (err as { name?: unknown } | null)?.name === 'ConditionalCheckFailedException';
}

/**
 * A DynamoDB (or network) failure as a {@link StorageError}: retriable for throttling, 5xx, timeouts and
 * failures to reach the service; not for `ResourceNotFoundException`, `ValidationException` (e.g. an
 * item over 400 KB), access errors and other 4xx.
 */
function toStorageError(err: unknown, message: string): StorageError {
  const e = awsErrorOf(err);
  const retriable = isTransientAwsError(err);
  return new StorageError(`${message}: ${e.name ?? 'Error'}: ${e.message ?? String(err)}`, {
    cause: err,
    retriable,
  });
}
