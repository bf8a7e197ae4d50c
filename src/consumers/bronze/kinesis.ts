/**
 * The bronze writer's Kinesis calls: a client built from the environment, every call bounded by a
 * timeout (and by the writer stopping), and shard listing.
 */
import {
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  type Shard,
  type ShardIteratorType,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { ConsumerError, kinesisError, StreamReadError } from './errors.js';

/**
 * GetRecords may be called at most 5 times per second per shard (Kinesis API reference,
 * "GetRecords"), so calls on one shard are spaced by at least this many milliseconds.
 */
export const GET_RECORDS_MIN_INTERVAL_MS = 200;

/** Default time one Kinesis call may take (the config's `requestTimeoutMs`). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/**
 * Builds a Kinesis client from the environment (see {@link BronzeWriterDeps.kinesis}). For an
 * `http:` endpoint the `NodeHttpHandler` throws once an attempt exceeds `requestTimeoutMs`
 * (`throwOnRequestTimeout`: without it the handler only logs a warning).
 * @param region - overrides `AWS_REGION`.
 * @param requestTimeoutMs - time one HTTP attempt may take. @default 30000
 */
export function kinesisClientFromEnv(region?: string, requestTimeoutMs = 30_000): KinesisClient {
  const endpoint = process.env.AWS_ENDPOINT_URL_KINESIS ?? process.env.AWS_ENDPOINT_URL;
  return new KinesisClient({
    ...(region ? { region } : {}),
    ...(endpoint ? { endpoint } : {}),
    maxAttempts: 2,
    ...(endpoint?.startsWith('http:')
      ? {
          requestHandler: new NodeHttpHandler({
            connectionTimeout: 5_000,
            requestTimeout: requestTimeoutMs,
            throwOnRequestTimeout: true,
          }),
        }
      : {}),
  });
}

/**
 * Runs one Kinesis call with an abort signal that fires when `stop` aborts or after `timeoutMs`,
 * whichever comes first.
 * @param call - sends the command with the given signal as its `abortSignal`.
 * @throws StreamReadError (`timeout`, retriable) when the call took longer than `timeoutMs`, else
 * the call's error mapped by {@link kinesisError} (an abort by `stop` included).
 */
export async function kinesisCall<T>(
  operation: string,
  streamName: string,
  timeoutMs: number,
  stop: AbortSignal | undefined,
  call: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    return await call(stop ? AbortSignal.any([stop, timeout]) : timeout);
  } catch (err) {
    if (timeout.aborted && !stop?.aborted && !(err instanceof ConsumerError)) {
      throw new StreamReadError(`${operation} on stream ${streamName} timed out after ${timeoutMs} ms`, {
        cause: err,
        failureClass: 'timeout',
      });
    }
    throw kinesisError(err, operation, streamName);
  }
}

/**
 * Lists every shard of a stream (ListShards, following `NextToken`; open and closed shards still
 * within the retention period).
 * @param signal - aborts the listing (the writer stopping).
 * @param requestTimeoutMs - time each ListShards call may take. @default 10000
 * @throws ConsumerError (see {@link kinesisError}); a StreamReadError (`timeout`) when a call timed out.
 */
export async function listAllShards(
  kinesis: KinesisClient,
  streamName: string,
  signal?: AbortSignal,
  requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
): Promise<Shard[]> {
  const shards: Shard[] = [];
  let nextToken: string | undefined;
  do {
    const token = nextToken;
    const res = await kinesisCall('ListShards', streamName, requestTimeoutMs, signal, (abortSignal) =>
      kinesis.send(new ListShardsCommand(token ? { NextToken: token } : { StreamName: streamName }), {
        abortSignal,
      }),
    );
    shards.push(...(res.Shards ?? []));
    nextToken = res.NextToken;
  } while (nextToken);
  return shards;
}

/**
 * Gets an iterator on a shard (GetShardIterator): after `after` when given, else at `type`.
 * @param signal - aborts the call (the writer stopping).
 * @throws ConsumerError (see {@link kinesisError}); a retriable one (`malformed_response`) when the
 * answer holds no iterator.
 */
export async function getShardIterator(
  kinesis: KinesisClient,
  streamName: string,
  shardId: string,
  start: { after: string } | { type: ShardIteratorType },
  signal: AbortSignal,
  requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
): Promise<string> {
  const position =
    'after' in start
      ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER' as const, StartingSequenceNumber: start.after }
      : { ShardIteratorType: start.type };
  const res = await kinesisCall('GetShardIterator', streamName, requestTimeoutMs, signal, (abortSignal) =>
    kinesis.send(new GetShardIteratorCommand({ StreamName: streamName, ShardId: shardId, ...position }), {
      abortSignal,
    }),
  );
  if (!res.ShardIterator) {
    throw new ConsumerError(`GetShardIterator on ${shardId} returned no iterator`, 'malformed_response', {
      retriable: true,
    });
  }
  return res.ShardIterator;
}
