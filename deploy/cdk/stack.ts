/**
 * IngestLakeStack: the whole AWS deployment of lake-ingest (see deploy/README.md).
 */
import { CfnOutput, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { Alarms } from './alarms.js';
import { Catalog } from './catalog.js';
import { Compute } from './compute.js';
import type { IngestLakeContext } from './context.js';
import { suppress } from './nag.js';
import { Storage } from './storage.js';
import { IngestStream } from './stream.js';

export interface IngestLakeStackProps extends StackProps {
  readonly context: IngestLakeContext;
  /** Repository root: Dockerfile, src/glue/jobs, src/glue/queries. */
  readonly repoRoot: string;
}

export class IngestLakeStack extends Stack {
  readonly storage: Storage;
  readonly ingestStream: IngestStream;
  readonly catalog: Catalog;
  readonly compute: Compute;
  readonly alarms: Alarms;

  constructor(scope: Construct, id: string, props: IngestLakeStackProps) {
    super(scope, id, props);
    const { context } = props;
    const prefix = `ingest-${context.envName}`;

    this.storage = new Storage(this, 'Storage', { prefix });
    const { key } = this.storage;

    const githubToken = new secretsmanager.Secret(this, 'GithubToken', {
      secretName: `${prefix}/GITHUB_TOKEN`,
      description:
        'GitHub token of the github.* sources (run service, env GITHUB_TOKEN). Put the real value after deploy.',
      encryptionKey: key,
    });
    const piiKey = new secretsmanager.Secret(this, 'PiiKey', {
      secretName: `${prefix}/INGEST_PII_KEY`,
      description:
        'HMAC key of the PII columns in silver (bronze_to_silver --pii_key_secret_id). Never rotate silently: hashes change.',
      encryptionKey: key,
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
      // Losing the key makes every future hash differ from the ones already in silver.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    suppress(
      [githubToken, piiKey],
      [
        {
          id: 'AwsSolutions-SMG4',
          reason:
            'No automatic rotation: the GitHub token is issued by GitHub (rotate it there, then put-secret-value), and rotating the PII HMAC key would change every hash, breaking joins with the silver rows already written.',
        },
      ],
    );

    this.ingestStream = new IngestStream(this, 'Stream', { prefix, context, key, lake: this.storage.lake });

    this.catalog = new Catalog(this, 'Catalog', {
      prefix,
      databaseName: context.databaseName,
      repoRoot: props.repoRoot,
      key,
      lake: this.storage.lake,
      athenaResults: this.storage.athenaResults,
      piiKey,
    });

    // An hour is closed once Firehose (buffer + 300 s partitioning retries) or the bronze writer flushed it.
    const graceSecs = context.useFirehose ? context.firehoseBufferSecs + 300 : 300;
    this.compute = new Compute(this, 'Compute', {
      prefix,
      context,
      repoRoot: props.repoRoot,
      key,
      ...(this.ingestStream.stream ? { stream: this.ingestStream.stream } : {}),
      ...(context.sink === 'firehose' && this.ingestStream.deliveryStream
        ? {
            deliveryStream: {
              name: this.ingestStream.deliveryStreamName!,
              arn: this.ingestStream.deliveryStream.attrArn,
            },
          }
        : {}),
      stateTable: this.storage.stateTable,
      lake: this.storage.lake,
      deadLetters: this.storage.deadLetters,
      athenaResults: this.storage.athenaResults,
      catalog: this.catalog,
      githubToken,
      graceSecs,
    });

    this.alarms = new Alarms(this, 'Alarms', {
      prefix,
      key,
      stream: this.ingestStream.stream,
      ...(this.ingestStream.deliveryStreamName
        ? { deliveryStreamName: this.ingestStream.deliveryStreamName }
        : {}),
      firehoseBufferSecs: context.firehoseBufferSecs,
      glueJobNames: [this.catalog.bronzeToSilverJobName, this.catalog.silverToGoldJobName],
      crawlerNames: [this.catalog.bronzeCrawlerName],
      ...(context.alarmEmail ? { alarmEmail: context.alarmEmail } : {}),
    });

    const out = (id: string, value: string, description: string) =>
      new CfnOutput(this, id, { value, description });
    out('KeyArn', key.keyArn, 'KMS key of the lake, stream, secrets and alarm topic');
    out(
      'LakeBucketName',
      this.storage.lake.bucketName,
      'Lake bucket: bronze/, silver/, gold/ (INGEST_LAKE_URI)',
    );
    out('LakeBucketArn', this.storage.lake.bucketArn, 'Lake bucket ARN');
    out('DeadLetterBucketName', this.storage.deadLetters.bucketName, 'Dead letters (deadLetter.uri)');
    out('AthenaResultsBucketName', this.storage.athenaResults.bucketName, 'Athena query results');
    out('AccessLogsBucketName', this.storage.accessLogs.bucketName, 'S3 server access logs');
    out('StateTableName', this.storage.stateTable.tableName, 'DynamoDB state table (state.tableName)');
    out('StateTableArn', this.storage.stateTable.tableArn, 'DynamoDB state table ARN');
    if (this.ingestStream.stream) {
      out('StreamName', this.ingestStream.stream.streamName, 'Kinesis stream (sinks[].streamName)');
      out('StreamArn', this.ingestStream.stream.streamArn, 'Kinesis stream ARN');
    }
    if (this.ingestStream.deliveryStream) {
      out('DeliveryStreamName', this.ingestStream.deliveryStream.ref, 'Firehose delivery stream to bronze/');
      out('DeliveryStreamArn', this.ingestStream.deliveryStream.attrArn, 'Firehose delivery stream ARN');
    }
    out('GlueDatabaseName', this.catalog.databaseName, 'Glue database (lake.database)');
    out('BronzeToSilverJobName', this.catalog.bronzeToSilverJobName, 'Glue job bronze_to_silver');
    out('SilverToGoldJobName', this.catalog.silverToGoldJobName, 'Glue job silver_to_gold');
    out(
      'BronzeCrawlerName',
      this.catalog.bronzeCrawlerName,
      'Daily crawler of bronze/ (bronze_source_<source>)',
    );
    out('AthenaWorkGroupName', this.catalog.workgroupName, 'Athena workgroup (queryEngine.workgroup)');
    out('ClusterName', this.compute.cluster.clusterName, 'ECS cluster');
    out('RunServiceName', this.compute.runService.serviceName, 'ECS service of `ingest run`');
    out('ConsumeServiceName', this.compute.consumeService.serviceName, 'ECS service of `ingest consume`');
    out('RunTaskRoleArn', this.compute.runTaskRole.roleArn, 'Task role of run');
    out('ConsumeTaskRoleArn', this.compute.consumeTaskRole.roleArn, 'Task role of consume');
    out('GithubTokenSecretArn', githubToken.secretArn, 'Put the GitHub token here');
    out('PiiKeySecretArn', piiKey.secretArn, 'HMAC key of the PII columns');
    out('AlarmTopicArn', this.alarms.topic.topicArn, 'SNS topic of the alarms');
    const cache = this.compute.budgetsCache;
    if (cache) {
      out(
        'BudgetsCacheEndpoint',
        cache.replicationGroup.attrPrimaryEndPointAddress,
        'Primary endpoint of the rate-budget Valkey (TLS, port 6379)',
      );
      out(
        'BudgetsCacheUrlSecretArn',
        cache.url.secretArn,
        'INGEST_REDIS_URL of the run tasks (with the AUTH token)',
      );
    }
  }
}
