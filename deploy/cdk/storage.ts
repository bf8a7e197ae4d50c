/**
 * Storage: the customer-managed KMS key, the S3 buckets (lake, dead letters, Athena results, server
 * access logs) and the DynamoDB state table.
 *
 * The lake is ONE bucket with the zones as prefixes (`bronze/`, `silver/`, `gold/`), not a bucket
 * per zone: the hourly scheduler lists `<lakeUri>/bronze/` and hands the Glue jobs a single
 * `--lake_uri` under which they read `bronze/` and write `silver/` and `gold/` (lakelib.lake_path),
 * and Firehose writes `bronze/...` keys. IAM is scoped per prefix instead, and lifecycle rules
 * per prefix.
 */
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { suppress } from './nag.js';

/** The lake's zone prefixes (keys start with these, no leading slash). */
export const LAKE_PREFIXES = {
  bronze: 'bronze/',
  bronzeErrors: 'bronze-errors/',
  silver: 'silver/',
  /** Iceberg warehouse of the silver tables (ADR 0015): `iceberg/<database>/<table>/`. */
  iceberg: 'iceberg/',
  gold: 'gold/',
  glueTemp: 'glue-tmp/',
} as const;

export interface StorageProps {
  readonly prefix: string;
}

export class Storage extends Construct {
  readonly key: kms.Key;
  readonly accessLogs: s3.Bucket;
  readonly lake: s3.Bucket;
  readonly deadLetters: s3.Bucket;
  readonly athenaResults: s3.Bucket;
  readonly stateTable: dynamodb.Table;

  constructor(scope: Construct, id: string, props: StorageProps) {
    super(scope, id);
    const stack = Stack.of(this);

    this.key = new kms.Key(this, 'Key', {
      alias: `alias/${props.prefix}`,
      description: `${props.prefix}: S3 lake, Kinesis stream, secrets, SNS alarms, Glue logs and bookmarks`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // CloudWatch alarms publish to the encrypted alarm topic (the EventBridge SNS target adds its own
    // statement for events.amazonaws.com).
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsUseKeyForSns',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    );
    // Glue's security configuration encrypts its CloudWatch log groups with this key.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchLogsEncryptGlueLogs',
        principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: {
          ArnLike: {
            'kms:EncryptionContext:aws:logs:arn': `arn:${stack.partition}:logs:${stack.region}:${stack.account}:log-group:/aws-glue/*`,
          },
        },
      }),
    );

    // Server access logs: log delivery supports only SSE-S3 on the target bucket.
    this.accessLogs = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(365) }],
    });
    suppress(this.accessLogs, [
      {
        id: 'AwsSolutions-S1',
        reason:
          'This is the server access log bucket itself; logging it into itself would loop, and another bucket would only move the problem.',
      },
    ]);

    const kmsBucket = (bucketId: string, logPrefix: string, extra: Partial<s3.BucketProps>): s3.Bucket =>
      new s3.Bucket(this, bucketId, {
        encryption: s3.BucketEncryption.KMS,
        encryptionKey: this.key,
        bucketKeyEnabled: true,
        enforceSSL: true,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        serverAccessLogsBucket: this.accessLogs,
        serverAccessLogsPrefix: logPrefix,
        removalPolicy: RemovalPolicy.RETAIN,
        ...extra,
      });

    this.lake = kmsBucket('Lake', 'lake/', {
      // Silver and gold partitions are overwritten by every re-run: versions make a bad run recoverable.
      versioned: true,
      lifecycleRules: [
        {
          id: 'bronze-infrequent-access',
          prefix: LAKE_PREFIXES.bronze,
          transitions: [
            { storageClass: s3.StorageClass.INFREQUENT_ACCESS, transitionAfter: Duration.days(30) },
            { storageClass: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, transitionAfter: Duration.days(180) },
          ],
        },
        { id: 'bronze-errors-expire', prefix: LAKE_PREFIXES.bronzeErrors, expiration: Duration.days(90) },
        { id: 'glue-temp-expire', prefix: LAKE_PREFIXES.glueTemp, expiration: Duration.days(7) },
        {
          id: 'noncurrent-versions-expire',
          noncurrentVersionExpiration: Duration.days(30),
          abortIncompleteMultipartUploadAfter: Duration.days(7),
        },
      ],
    });

    this.deadLetters = kmsBucket('DeadLetters', 'dead-letters/', {
      // Keys are unique (time + uuid), nothing is overwritten: no versioning needed.
      lifecycleRules: [
        {
          id: 'dead-letters-expire',
          expiration: Duration.days(90),
          abortIncompleteMultipartUploadAfter: Duration.days(7),
        },
      ],
    });

    this.athenaResults = kmsBucket('AthenaResults', 'athena-results/', {
      lifecycleRules: [
        {
          id: 'athena-results-expire',
          expiration: Duration.days(7),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
    });

    // The state table, as src/state/dynamodb.ts defines it: pk (S), on-demand, PITR, TTL on expiresAt.
    this.stateTable = new dynamodb.Table(this, 'StateTable', {
      tableName: `${props.prefix}-state`,
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: 'expiresAt',
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }

  /** `arn:...:s3:::<lake>/<prefix>*` for a zone prefix such as `bronze/`. */
  lakeObjects(prefix: string): string {
    return this.lake.arnForObjects(`${prefix}*`);
  }
}
