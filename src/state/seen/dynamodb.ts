/**
 * The change-detection store on the DynamoDB state table: one small item per entity, in the same
 * table as the other state (partition key `pk`, see src/state/dynamodb.ts).
 *
 * ## Items
 * | attribute | type | meaning                                                                    |
 * |-----------|------|----------------------------------------------------------------------------|
 * | `pk`      | S    | `seen/<source>/<entity>` (entity at most 512 bytes, else its SHA-256)       |
 * | `rid`     | S    | the record id last emitted for the entity (at most 512 bytes, else hashed)  |
 *
 * An item is at most about 1.1 KB (pk up to 2,048 bytes allowed, `rid` 512), far below the 400 KB
 * item limit, and one write unit (1 KB) for typical keys. Nothing ever grows with the source.
 *
 * ## Calls
 * - `getMany`: BatchGetItem, at most 100 keys per call, strongly consistent (`ConsistentRead`), so
 *   a restarted poller sees what it wrote last;
 * - `putMany`: BatchWriteItem, at most 25 PutRequests per call.
 * Both limits are from the DynamoDB API Reference (BatchGetItem, BatchWriteItem). Keys a call did not
 * process (`UnprocessedKeys`, `UnprocessedItems`: throttling, or BatchGetItem's 16 MB response cap)
 * are sent again with exponential backoff and full jitter (`withRetry`, the project's retry helper),
 * as are throttling and 5xx errors of a whole call; after `retry.maxAttempts` the call fails with a
 * retriable {@link StorageError}.
 *
 * @module
 */
import {
  type AttributeValue,
  BatchGetItemCommand,
  BatchWriteItemCommand,
  type DynamoDBClient,
  type KeysAndAttributes,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { awsErrorOf, isTransientAwsError } from '../../aws/errors.js';
import { StorageError } from '../../errors.js';
import { defaultSleep, type RetryPolicy, type Sleep, withRetry } from '../../retry/index.js';
import { boundedSeenKey, lastPerEntity, type SeenEntry, type SeenStore } from './types.js';

/** Keys per BatchGetItem call (DynamoDB API Reference, BatchGetItem). */
export const BATCH_GET_MAX_KEYS = 100;
/** Put requests per BatchWriteItem call (DynamoDB API Reference, BatchWriteItem). */
export const BATCH_WRITE_MAX_ITEMS = 25;

export interface DynamoDbSeenStoreOptions {
  /** The state table (same as the {@link DynamoDbStateStore}'s). */
  tableName: string;
  /** A ready client; never destroyed by this store. */
  client: DynamoDBClient;
  /**
   * Retries of unprocessed keys and transient errors per batch call.
   * @default { maxAttempts: 10, baseDelayMs: 50, maxDelayMs: 5000 }
   */
  retry?: RetryPolicy;
  /** Backoff sleep (tests). @default timers/promises setTimeout */
  sleep?: Sleep;
  /** Batch calls sent at once. @default 4 */
  concurrency?: number;
}

/** The item key of an entity's entry: `seen/<source>/<entity>` (entity bounded, see the module). */
export function seenItemKey(source: string, entity: string): string {
  return `seen/${source}/${boundedSeenKey(entity)}`;
}

/** {@link SeenStore} on the DynamoDB state table (see the module comment). */
export class DynamoDbSeenStore implements SeenStore {
  private readonly client: DynamoDBClient;
  private readonly tableName: string;
  private readonly retry: RetryPolicy;
  private readonly sleep: Sleep;
  private readonly concurrency: number;

  constructor(options: DynamoDbSeenStoreOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
    this.retry = options.retry ?? { maxAttempts: 10, baseDelayMs: 50, maxDelayMs: 5_000 };
    this.sleep = options.sleep ?? defaultSleep;
    this.concurrency = Math.max(1, options.concurrency ?? 4);
  }

  /**
   * BatchGetItem in calls of 100 keys.
   * @throws StorageError (retriable for throttling, 5xx, network, and keys still unprocessed after
   *   the retries; not for a missing table, validation or access errors).
   */
  async getMany(source: string, entities: readonly string[]): Promise<Map<string, string>> {
    const byPk = new Map<string, string>();
    for (const e of entities) byPk.set(seenItemKey(source, e), e);
    const pks = [...byPk.keys()];
    const out = new Map<string, string>();
    await this.inChunks(pks, BATCH_GET_MAX_KEYS, async (chunk) => {
      let pending: KeysAndAttributes | undefined = {
        Keys: chunk.map((pk) => ({ pk: { S: pk } })),
        ConsistentRead: true,
        // Placeholders: no attribute name can collide with a DynamoDB reserved word.
        ProjectionExpression: '#pk, #rid',
        ExpressionAttributeNames: { '#pk': 'pk', '#rid': 'rid' },
      };
      await this.withRetries(`read seen-state of ${source}`, async () => {
        if (!pending) return;
        const res = await this.client.send(
          new BatchGetItemCommand({ RequestItems: { [this.tableName]: pending } }),
        );
        for (const item of res.Responses?.[this.tableName] ?? []) collect(item, byPk, out);
        pending = res.UnprocessedKeys?.[this.tableName];
        if (pending?.Keys && pending.Keys.length > 0) {
          throw new StorageError(`${pending.Keys.length} keys unprocessed`, { retriable: true });
        }
        pending = undefined;
      });
    });
    return out;
  }

  /**
   * BatchWriteItem (PutRequest) in calls of 25 items; an entity given twice is written once (the
   * last entry), as BatchWriteItem rejects duplicate keys in one call.
   * @throws StorageError, as {@link getMany}; items of calls that succeeded stay written.
   */
  async putMany(source: string, entries: readonly SeenEntry[]): Promise<void> {
    const requests: WriteRequest[] = lastPerEntity(entries).map((e) => ({
      PutRequest: {
        Item: { pk: { S: seenItemKey(source, e.entity) }, rid: { S: boundedSeenKey(e.id) } },
      },
    }));
    await this.inChunks(requests, BATCH_WRITE_MAX_ITEMS, async (chunk) => {
      let pending: WriteRequest[] = chunk;
      await this.withRetries(`write seen-state of ${source}`, async () => {
        if (pending.length === 0) return;
        const res = await this.client.send(
          new BatchWriteItemCommand({ RequestItems: { [this.tableName]: pending } }),
        );
        pending = res.UnprocessedItems?.[this.tableName] ?? [];
        if (pending.length > 0) {
          throw new StorageError(`${pending.length} items unprocessed`, { retriable: true });
        }
      });
    });
  }

  async close(): Promise<void> {}

  /** Runs `fn` over chunks of `size`, at most {@link DynamoDbSeenStoreOptions.concurrency} at once. */
  private async inChunks<T>(items: T[], size: number, fn: (chunk: T[]) => Promise<void>): Promise<void> {
    const chunks: T[][] = [];
    for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < chunks.length) await fn(chunks[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, chunks.length) }, worker));
  }

  /** One batch call with its retries; the final failure as a {@link StorageError}. */
  private async withRetries(what: string, call: () => Promise<void>): Promise<void> {
    try {
      await withRetry(
        async () => {
          try {
            await call();
          } catch (err) {
            if (err instanceof StorageError) throw err;
            const e = awsErrorOf(err);
            throw new StorageError(`${e.name ?? 'Error'}: ${e.message ?? String(err)}`, {
              cause: err,
              retriable: isTransientAwsError(err),
            });
          }
        },
        { policy: this.retry, sleep: this.sleep },
      );
    } catch (err) {
      const retriable = err instanceof StorageError ? err.retriable : true;
      throw new StorageError(`state: cannot ${what} in ${this.tableName}: ${(err as Error).message}`, {
        cause: err,
        retriable,
      });
    }
  }
}

function collect(item: Record<string, AttributeValue>, byPk: Map<string, string>, out: Map<string, string>) {
  const pk = item['pk']?.S;
  const rid = item['rid']?.S;
  if (pk === undefined || rid === undefined) return;
  const entity = byPk.get(pk);
  if (entity !== undefined) out.set(entity, rid);
}
