/**
 * The Firehose SDK behind a narrow interface: the data path calls only
 * {@link PutRecordBatchClient.putRecordBatch}; {@link PutRecordBatchClient.describeDeliveryStream}
 * serves `start()` and `ready()`. Unit tests pass a fake (`testing.ts`), integration tests moto.
 */
import {
  DescribeDeliveryStreamCommand,
  FirehoseClient,
  PutRecordBatchCommand,
} from '@aws-sdk/client-firehose';
import { NodeHttpHandler } from '@smithy/node-http-handler';

/** The PutRecordBatch request: one `Data` blob per record (the SDK base64-encodes it on the wire). */
export interface PutRecordBatchInput {
  DeliveryStreamName: string;
  Records: { Data: Uint8Array }[];
}

/** One entry of `RequestResponses`: `RecordId` on success, `ErrorCode`/`ErrorMessage` on failure. */
export interface PutRecordBatchResponseEntry {
  RecordId?: string;
  ErrorCode?: string;
  ErrorMessage?: string;
}

/**
 * The PutRecordBatch response: `RequestResponses` has one entry per request record, in order. A call
 * can succeed (HTTP 200) with `FailedPutCount > 0`: only the entries with an `ErrorCode` failed.
 */
export interface PutRecordBatchOutputLike {
  FailedPutCount?: number;
  RequestResponses?: PutRecordBatchResponseEntry[];
}

/** What `describeDeliveryStream` reports. */
export interface DeliveryStreamSummary {
  /** `CREATING`, `ACTIVE`, `DELETING`, `CREATING_FAILED`, ... */
  status: string;
  /** `DirectPut`, `KinesisStreamAsSource`, `MSKAsSource`, ... */
  type: string;
}

export interface PutRecordBatchClient {
  /** One PutRecordBatch call. Throws the SDK's error when the whole call fails. */
  putRecordBatch(input: PutRecordBatchInput): Promise<PutRecordBatchOutputLike>;
  /** DescribeDeliveryStream. Throws `ResourceNotFoundException` when absent. */
  describeDeliveryStream(name: string): Promise<DeliveryStreamSummary>;
  /** The endpoint in use, for messages. */
  readonly endpoint: string;
  /** Releases sockets. */
  close?(): void;
}

export interface FirehoseClientOptions {
  /** AWS region. @default process.env.AWS_REGION */
  region?: string | undefined;
  /** Endpoint URL. @default env AWS_ENDPOINT_URL_FIREHOSE ?? AWS_ENDPOINT_URL, else the AWS regional endpoint */
  endpoint?: string | undefined;
  /** Timeout of one call, in ms. @default 10000 */
  requestTimeoutMs?: number;
  /** Environment to read endpoint variables from. @default process.env */
  env?: NodeJS.ProcessEnv;
}

/** The endpoint the SDK would use from the environment: `AWS_ENDPOINT_URL_FIREHOSE`, then `AWS_ENDPOINT_URL`. */
export function resolveFirehoseEndpoint(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.AWS_ENDPOINT_URL_FIREHOSE || env.AWS_ENDPOINT_URL || undefined;
}

/**
 * The default client: an SDK {@link FirehoseClient} (region, endpoint and credentials from the SDK's
 * chains) with `maxAttempts: 1` (the sink owns retries) and a call timeout.
 */
export function createFirehoseClient(options: FirehoseClientOptions = {}): PutRecordBatchClient {
  const endpoint = options.endpoint ?? resolveFirehoseEndpoint(options.env);
  const timeoutMs = options.requestTimeoutMs ?? 10_000;
  const client = new FirehoseClient({
    ...(options.region ? { region: options.region } : {}),
    ...(endpoint ? { endpoint } : {}),
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({
      connectionTimeout: Math.min(5_000, timeoutMs),
      requestTimeout: timeoutMs,
    }),
  });
  const opts = () => ({ abortSignal: AbortSignal.timeout(timeoutMs) });
  return {
    endpoint: endpoint ?? 'the AWS regional endpoint',
    async putRecordBatch(input) {
      const out = await client.send(new PutRecordBatchCommand(input), opts());
      return { FailedPutCount: out.FailedPutCount, RequestResponses: out.RequestResponses };
    },
    async describeDeliveryStream(name) {
      const out = await client.send(new DescribeDeliveryStreamCommand({ DeliveryStreamName: name }), opts());
      const d = out.DeliveryStreamDescription;
      return { status: d?.DeliveryStreamStatus ?? 'UNKNOWN', type: d?.DeliveryStreamType ?? 'UNKNOWN' };
    },
    close() {
      client.destroy();
    },
  };
}
