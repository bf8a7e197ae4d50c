/**
 * The Firehose DirectPut delivery stream that writes bronze (design brief, "Bronze"): an
 * ExtendedS3 destination with dynamic partitioning by the envelope's `source` (a JQ metadata
 * extraction) and the arrival time, GZIP, `.json.gz` objects, an error prefix. The same input serves
 * `ingest bootstrap` (local endpoints) and `ingest local` (moto); the CDK stack builds the same
 * destination (`deploy/cdk/stream.ts`, `-c sink=firehose` for DirectPut; a deploy test checks that
 * the prefixes and query agree). Records arrive newline-delimited from the sink, so no delimiter
 * processor is configured.
 */
import {
  CreateDeliveryStreamCommand,
  type CreateDeliveryStreamCommandInput,
  DescribeDeliveryStreamCommand,
  type FirehoseClient,
} from '@aws-sdk/client-firehose';
import { ensureActive } from './ensure.js';

/**
 * The bronze prefix under the lake root: Hive-style `source=`, `dt=`, `hour=` (UTC arrival time),
 * as the bronze writer writes it.
 */
export const BRONZE_FIREHOSE_PREFIX =
  'bronze/source=!{partitionKeyFromQuery:source}/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/';

/** Where Firehose puts what it could not partition or deliver, by error type. */
export const BRONZE_FIREHOSE_ERROR_PREFIX =
  'bronze-errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/';

/** The JQ query that extracts the partition key `source` from each envelope. */
export const SOURCE_QUERY = '{source:.source}';

/** A delivery stream to create. */
export interface DeliveryStreamPlan {
  name: string;
  /** Destination bucket. */
  bucket: string;
  /** The lake's prefix in the bucket (no slashes at either end; empty for the bucket root). */
  prefix: string;
  /** The `endpoint` of the firehose sink writing it, when its config sets one. */
  sinkEndpoint?: { url: string; sink: string };
}

/** Options of the destination. */
export interface DeliveryStreamOptions {
  /** Role Firehose assumes to write S3 (emulators do not check it). */
  roleArn: string;
  /**
   * Buffer interval, s (AWS: 0-900; 60 is the console default). @default 60
   */
  bufferIntervalSecs?: number;
  /** Buffer size, MiB (AWS: 64-128 with dynamic partitioning). @default 64 */
  bufferSizeMiB?: number;
}

/** The CreateDeliveryStream input of the bronze delivery stream (pure; see the module comment). */
export function deliveryStreamInput(
  plan: Pick<DeliveryStreamPlan, 'name' | 'bucket' | 'prefix'>,
  options: DeliveryStreamOptions,
): CreateDeliveryStreamCommandInput {
  const root = plan.prefix ? `${plan.prefix}/` : '';
  return {
    DeliveryStreamName: plan.name,
    DeliveryStreamType: 'DirectPut',
    ExtendedS3DestinationConfiguration: {
      RoleARN: options.roleArn,
      BucketARN: `arn:aws:s3:::${plan.bucket}`,
      Prefix: `${root}${BRONZE_FIREHOSE_PREFIX}`,
      ErrorOutputPrefix: `${root}${BRONZE_FIREHOSE_ERROR_PREFIX}`,
      CompressionFormat: 'GZIP',
      FileExtension: '.json.gz',
      BufferingHints: {
        IntervalInSeconds: options.bufferIntervalSecs ?? 60,
        SizeInMBs: options.bufferSizeMiB ?? 64,
      },
      DynamicPartitioningConfiguration: { Enabled: true, RetryOptions: { DurationInSeconds: 300 } },
      ProcessingConfiguration: {
        Enabled: true,
        Processors: [
          {
            Type: 'MetadataExtraction',
            Parameters: [
              { ParameterName: 'MetadataExtractionQuery', ParameterValue: SOURCE_QUERY },
              { ParameterName: 'JsonParsingEngine', ParameterValue: 'JQ-1.6' },
            ],
          },
        ],
      },
    },
  };
}

/**
 * Creates the delivery stream unless it exists, then waits until it is ACTIVE.
 * @returns `created` or `exists`, with its status; `skipped` when the endpoint has no Firehose.
 * @throws BootstrapError when a call fails otherwise or it is not ACTIVE within `waitMs`.
 */
export async function ensureDeliveryStream(
  client: FirehoseClient,
  plan: DeliveryStreamPlan,
  options: DeliveryStreamOptions & { url: string; waitMs: number },
): Promise<{ status: 'created' | 'exists' | 'skipped'; detail: string }> {
  const done = await ensureActive({
    what: `firehose delivery stream ${plan.name}`,
    url: options.url,
    describe: async () =>
      (await client.send(new DescribeDeliveryStreamCommand({ DeliveryStreamName: plan.name })))
        .DeliveryStreamDescription,
    create: () => client.send(new CreateDeliveryStreamCommand(deliveryStreamInput(plan, options))),
    stateOf: (d) => d?.DeliveryStreamStatus,
    waitMs: options.waitMs,
  });
  if (done.status === 'skipped') return done;
  return {
    status: done.status,
    detail: `${done.description?.DeliveryStreamType ?? '?'} to s3://${plan.bucket}/${plan.prefix}, ACTIVE`,
  };
}
