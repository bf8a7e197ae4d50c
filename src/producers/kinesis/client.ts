/**
 * The Kinesis SDK behind a narrow interface (Redpanda Connect style): the sink's data path calls
 * only {@link PutRecordsClient.putRecords}; {@link PutRecordsClient.describeStream} serves `start()`
 * and `ready()`, {@link PutRecordsClient.listShards} the shard map (`shards.ts`). Unit tests pass a fake, integration tests the real emulator.
 */
import {
  DescribeStreamSummaryCommand,
  KinesisClient,
  ListShardsCommand,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';

import type { ShardRange } from './shards.js';

/** One entry of a PutRecords request. `Data` plus the UTF-8 `PartitionKey` count towards the limits. */
export interface PutRecordsEntry {
  Data: Uint8Array;
  PartitionKey: string;
  ExplicitHashKey?: string;
}

/** The PutRecords request (the SDK's `PutRecordsInput`, minus the fields we never use). */
export interface PutRecordsInput {
  StreamName: string;
  Records: PutRecordsEntry[];
}

/** One result entry: `SequenceNumber` and `ShardId` on success, `ErrorCode`/`ErrorMessage` on failure. */
export interface PutRecordsResultEntry {
  SequenceNumber?: string;
  ShardId?: string;
  ErrorCode?: string;
  ErrorMessage?: string;
}

/**
 * The PutRecords response: `Records` has one entry per request entry, in request order. A call can
 * succeed (HTTP 200) with `FailedRecordCount > 0`: only the entries with an `ErrorCode` failed.
 */
export interface PutRecordsOutputLike {
  FailedRecordCount?: number;
  Records?: PutRecordsResultEntry[];
}

/** What `describeStream` reports (from DescribeStreamSummary). */
export interface StreamSummary {
  /** `CREATING`, `DELETING`, `ACTIVE` or `UPDATING`. */
  status: string;
  openShardCount?: number;
}

export interface PutRecordsClient {
  /**
   * Sends one PutRecords call. Throws the SDK's error (or a network/timeout error) when the whole
   * call fails; the sink classifies it with `classifyKinesisError`.
   */
  putRecords(input: PutRecordsInput): Promise<PutRecordsOutputLike>;
  /** DescribeStreamSummary, for `start()` and `ready()`. Throws `ResourceNotFoundException` when absent. */
  describeStream(streamName: string): Promise<StreamSummary>;
  /**
   * The stream's open shards and their hash key ranges (ListShards, following `NextToken`; shards
   * with an `EndingSequenceNumber` are closed and left out). Optional: without it (test fakes) the
   * sink sends without a shard map, i.e. without per-shard rate limits.
   */
  listShards?(streamName: string): Promise<ShardRange[]>;
  /** The endpoint in use, for error messages (`AWS regional endpoint` when the SDK resolves it). */
  readonly endpoint: string;
  /** Releases sockets. */
  close?(): void;
}

export interface KinesisClientOptions {
  /** AWS region. @default process.env.AWS_REGION (the SDK's region chain) */
  region?: string;
  /** Endpoint URL. @default env AWS_ENDPOINT_URL_KINESIS ?? AWS_ENDPOINT_URL, else the AWS regional endpoint */
  endpoint?: string;
  /** Timeout of one call, in ms. Enforced with an AbortSignal and, for `http:` endpoints, the socket handler. @default 10000 */
  requestTimeoutMs?: number;
  /** Environment to read endpoint variables from. @default process.env */
  env?: NodeJS.ProcessEnv;
}

/** The endpoint the SDK would use from the environment: `AWS_ENDPOINT_URL_KINESIS`, then `AWS_ENDPOINT_URL`. */
export function resolveKinesisEndpoint(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env.AWS_ENDPOINT_URL_KINESIS || env.AWS_ENDPOINT_URL;
  return value ? value : undefined;
}

/**
 * Wraps an existing SDK {@link KinesisClient} (e.g. `emulatorKinesisClient(endpoint)` in tests). The
 * client should have `maxAttempts: 1`: the sink owns retries.
 * @param options.requestTimeoutMs - aborts a call after this many ms. @default 10000
 * @param options.ownsClient - whether `close()` destroys the SDK client. @default false
 */
export function wrapKinesisClient(
  client: KinesisClient,
  options: { endpoint?: string; requestTimeoutMs?: number; ownsClient?: boolean } = {},
): PutRecordsClient {
  const timeoutMs = options.requestTimeoutMs ?? 10_000;
  return {
    endpoint: options.endpoint ?? 'the AWS regional endpoint',
    async putRecords(input) {
      const out = await client.send(new PutRecordsCommand(input), {
        abortSignal: AbortSignal.timeout(timeoutMs),
      });
      return { FailedRecordCount: out.FailedRecordCount, Records: out.Records };
    },
    async describeStream(streamName) {
      const out = await client.send(new DescribeStreamSummaryCommand({ StreamName: streamName }), {
        abortSignal: AbortSignal.timeout(timeoutMs),
      });
      return {
        status: out.StreamDescriptionSummary?.StreamStatus ?? 'UNKNOWN',
        openShardCount: out.StreamDescriptionSummary?.OpenShardCount,
      };
    },
    async listShards(streamName) {
      const open: ShardRange[] = [];
      let token: string | undefined;
      do {
        const out = await client.send(
          new ListShardsCommand(token ? { NextToken: token } : { StreamName: streamName }),
          { abortSignal: AbortSignal.timeout(timeoutMs) },
        );
        for (const s of out.Shards ?? []) {
          const range = s.HashKeyRange;
          if (s.SequenceNumberRange?.EndingSequenceNumber !== undefined || !s.ShardId || !range) continue;
          open.push({
            shardId: s.ShardId,
            startingHashKey: range.StartingHashKey!,
            endingHashKey: range.EndingHashKey!,
          });
        }
        token = out.NextToken;
      } while (token);
      return open;
    },
    close() {
      if (options.ownsClient) client.destroy();
    },
  };
}

/**
 * The default client: an SDK {@link KinesisClient} following the SDK's conventions (region from
 * `AWS_REGION`, endpoint from `AWS_ENDPOINT_URL_KINESIS` / `AWS_ENDPOINT_URL`, the default credential
 * chain) with `maxAttempts: 1` (the sink owns retries). An `http:` endpoint (kinesis-mock,
 * LocalStack) gets a {@link NodeHttpHandler} (HTTP/1.1): the Kinesis client otherwise defaults to
 * HTTP/2, which the emulator's plain port does not speak.
 */
export function createKinesisClient(options: KinesisClientOptions = {}): PutRecordsClient {
  const endpoint = options.endpoint ?? resolveKinesisEndpoint(options.env);
  const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  const http = endpoint?.startsWith('http:') ?? false;
  const client = new KinesisClient({
    ...(options.region ? { region: options.region } : {}),
    ...(endpoint ? { endpoint } : {}),
    maxAttempts: 1,
    ...(http
      ? {
          requestHandler: new NodeHttpHandler({
            connectionTimeout: Math.min(5_000, requestTimeoutMs),
            requestTimeout: requestTimeoutMs,
          }),
        }
      : {}),
  });
  return wrapKinesisClient(client, {
    endpoint: endpoint ?? 'the AWS regional endpoint',
    requestTimeoutMs,
    ownsClient: true,
  });
}
