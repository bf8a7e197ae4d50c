/**
 * The Kinesis Data Stream the `run` service writes, and (context `useFirehose`, the default) the
 * Firehose delivery stream that lands it in bronze with dynamic partitioning. With context
 * `sink=firehose` there is no stream: the delivery stream is DirectPut (the run service calls
 * PutRecordBatch; records arrive newline-delimited, encrypted with the lake's key). Either way:
 * `bronze/source=<source>/dt=YYYY-MM-DD/hour=HH/*.json.gz`, gzip NDJSON, UTC, the layout the bronze
 * writer produces (design.md, "Bronze").
 */
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { IngestLakeContext } from './context.js';
import { bucketObjects, suppress } from './nag.js';
import { LAKE_PREFIXES } from './storage.js';

/** Firehose S3 prefix: Hive-style partitions by source (from the record) and arrival hour (UTC). */
export const FIREHOSE_PREFIX =
  'bronze/source=!{partitionKeyFromQuery:source}/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/';
/** Where Firehose puts what it could not partition or deliver, by error type. */
export const FIREHOSE_ERROR_PREFIX =
  'bronze-errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/';
/** JQ metadata extraction: the envelope's `source` becomes the partition key `source`. */
export const FIREHOSE_METADATA_QUERY = '{source:.source}';

export interface StreamProps {
  readonly prefix: string;
  readonly context: IngestLakeContext;
  readonly key: kms.IKey;
  readonly lake: s3.IBucket;
}

export class IngestStream extends Construct {
  /** The Kinesis stream (absent with `sink=firehose`). */
  readonly stream?: kinesis.Stream;
  readonly deliveryStream?: firehose.CfnDeliveryStream;
  readonly deliveryStreamName?: string;

  constructor(scope: Construct, id: string, props: StreamProps) {
    super(scope, id);
    const { context } = props;
    const provisioned = context.streamMode === 'provisioned';
    const directPut = context.sink === 'firehose';
    const stream = directPut
      ? undefined
      : new kinesis.Stream(this, 'Stream', {
          streamName: props.prefix,
          streamMode: provisioned ? kinesis.StreamMode.PROVISIONED : kinesis.StreamMode.ON_DEMAND,
          ...(provisioned ? { shardCount: context.shardCount } : {}),
          // KMS with the AWS-managed aws/kinesis key: no per-consumer key grants, no CMK request costs
          // (cdk-nag AwsSolutions-KDS3 recommends it unless compliance requires a customer key).
          encryption: kinesis.StreamEncryption.MANAGED,
          // A week of replay: the consumers (Firehose or the bronze writer) may be down over a weekend.
          retentionPeriod: Duration.days(7),
          removalPolicy: RemovalPolicy.RETAIN,
        });
    if (stream) this.stream = stream;

    if (!context.useFirehose) return;
    this.deliveryStreamName = `${props.prefix}-bronze`;
    const stack = Stack.of(this);

    const logGroup = new logs.LogGroup(this, 'FirehoseLogs', {
      logGroupName: `/aws/kinesisfirehose/${this.deliveryStreamName}`,
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const logStream = new logs.LogStream(this, 'FirehoseS3Delivery', {
      logGroup,
      logStreamName: 'S3Delivery',
      removalPolicy: RemovalPolicy.DESTROY,
    });

    const role = new iam.Role(this, 'FirehoseRole', {
      assumedBy: new iam.ServicePrincipal('firehose.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
      description: directPut
        ? 'Firehose: write bronze/ and bronze-errors/ of the lake'
        : 'Firehose: read the ingest stream, write bronze/ and bronze-errors/ of the lake',
    });
    const policy = new iam.Policy(this, 'FirehosePolicy', {
      statements: [
        ...(stream
          ? [
              new iam.PolicyStatement({
                sid: 'ReadSourceStream',
                actions: [
                  'kinesis:DescribeStream',
                  'kinesis:GetShardIterator',
                  'kinesis:GetRecords',
                  'kinesis:ListShards',
                ],
                resources: [stream.streamArn],
              }),
            ]
          : []),
        new iam.PolicyStatement({
          sid: 'LakeBucket',
          actions: ['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'],
          resources: [props.lake.bucketArn],
        }),
        new iam.PolicyStatement({
          sid: 'WriteBronze',
          actions: ['s3:PutObject', 's3:GetObject', 's3:AbortMultipartUpload'],
          resources: [
            props.lake.arnForObjects(`${LAKE_PREFIXES.bronze}*`),
            props.lake.arnForObjects(`${LAKE_PREFIXES.bronzeErrors}*`),
          ],
        }),
        new iam.PolicyStatement({
          sid: 'LakeKey',
          actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
          resources: [props.key.keyArn],
        }),
        new iam.PolicyStatement({
          sid: 'ErrorLogging',
          actions: ['logs:PutLogEvents'],
          resources: [
            `arn:${stack.partition}:logs:${stack.region}:${stack.account}:log-group:${logGroup.logGroupName}:log-stream:${logStream.logStreamName}`,
          ],
        }),
      ],
    });
    role.attachInlinePolicy(policy);
    suppress(policy, [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'Firehose writes objects with generated names under the two lake prefixes it owns (bronze/, bronze-errors/); the wildcard is the key suffix only.',
        appliesTo: [
          bucketObjects(props.lake, `${LAKE_PREFIXES.bronze}*`),
          bucketObjects(props.lake, `${LAKE_PREFIXES.bronzeErrors}*`),
        ],
      },
    ]);

    this.deliveryStream = new firehose.CfnDeliveryStream(this, 'DeliveryStream', {
      deliveryStreamName: this.deliveryStreamName,
      ...(stream
        ? {
            deliveryStreamType: 'KinesisStreamAsSource',
            kinesisStreamSourceConfiguration: { kinesisStreamArn: stream.streamArn, roleArn: role.roleArn },
          }
        : {
            deliveryStreamType: 'DirectPut',
            // DirectPut supports server-side encryption: the lake's customer key.
            deliveryStreamEncryptionConfigurationInput: {
              keyType: 'CUSTOMER_MANAGED_CMK',
              keyArn: props.key.keyArn,
            },
          }),
      extendedS3DestinationConfiguration: {
        bucketArn: props.lake.bucketArn,
        roleArn: role.roleArn,
        prefix: FIREHOSE_PREFIX,
        errorOutputPrefix: FIREHOSE_ERROR_PREFIX,
        bufferingHints: {
          intervalInSeconds: context.firehoseBufferSecs,
          sizeInMBs: context.firehoseBufferMiB,
        },
        compressionFormat: 'GZIP',
        // The Glue job reads only *.json.gz objects.
        fileExtension: '.json.gz',
        customTimeZone: 'UTC',
        encryptionConfiguration: { kmsEncryptionConfig: { awskmsKeyArn: props.key.keyArn } },
        cloudWatchLoggingOptions: {
          enabled: true,
          logGroupName: logGroup.logGroupName,
          logStreamName: logStream.logStreamName,
        },
        dynamicPartitioningConfiguration: { enabled: true, retryOptions: { durationInSeconds: 300 } },
        processingConfiguration: {
          enabled: true,
          processors: [
            {
              type: 'MetadataExtraction',
              parameters: [
                { parameterName: 'MetadataExtractionQuery', parameterValue: FIREHOSE_METADATA_QUERY },
                { parameterName: 'JsonParsingEngine', parameterValue: 'JQ-1.6' },
              ],
            },
            // One envelope per Kinesis record, no trailing newline: bronze is NDJSON. (DirectPut: the
            // firehose sink sends each record with its newline already.)
            ...(stream
              ? [
                  {
                    type: 'AppendDelimiterToRecord',
                    parameters: [{ parameterName: 'Delimiter', parameterValue: '\\n' }],
                  },
                ]
              : []),
          ],
        },
        s3BackupMode: 'Disabled',
      },
    });
    // Firehose checks its role's permissions when it is created.
    this.deliveryStream.node.addDependency(policy);
    if (directPut) return;
    suppress(this.deliveryStream, [
      {
        id: 'AwsSolutions-KDF1',
        reason:
          'Firehose server-side encryption is only available for Direct PUT; with a Kinesis stream as source the data is encrypted at rest by the stream (KMS, customer key) and in S3 (SSE-KMS, same key).',
      },
    ]);
  }
}
