/**
 * Fine-grained assertions on the synthesized IngestLakeStack: the properties that carry the design
 * (bronze layout, encryption, state table, Glue, Athena, ECS) and the exact IAM actions per role,
 * so a widened policy fails here.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { FIREHOSE_ERROR_PREFIX, FIREHOSE_METADATA_QUERY, FIREHOSE_PREFIX } from '../../deploy/cdk/stream.js';
import {
  BRONZE_FIREHOSE_ERROR_PREFIX,
  BRONZE_FIREHOSE_PREFIX,
  SOURCE_QUERY,
} from '../../src/bootstrap/firehose.js';
import { cleanupSynth, logicalId, resourcesOfType, roleActions, synth } from './synth.js';

afterAll(cleanupSynth);

const RUN_ACTIONS = [
  'dynamodb:DeleteItem',
  'dynamodb:GetItem',
  'dynamodb:UpdateItem',
  'kinesis:DescribeStreamSummary',
  'kinesis:ListShards',
  'kinesis:PutRecords',
  'kms:GenerateDataKey',
  's3:PutObject',
];

const CONSUME_ACTIONS_FIREHOSE = [
  'athena:GetQueryExecution',
  'athena:GetQueryResults',
  'athena:StartQueryExecution',
  'athena:StopQueryExecution',
  'dynamodb:DeleteItem',
  'dynamodb:GetItem',
  'dynamodb:UpdateItem',
  'glue:BatchGetPartition',
  'glue:GetDatabase',
  'glue:GetJobRun',
  'glue:GetPartition',
  'glue:GetPartitions',
  'glue:GetTable',
  'glue:StartJobRun',
  'kms:Decrypt',
  'kms:GenerateDataKey',
  's3:AbortMultipartUpload',
  's3:GetBucketLocation',
  's3:GetObject',
  's3:ListBucket',
  's3:PutObject',
];

const CONSUME_ACTIONS_BRONZE_WRITER = [
  ...CONSUME_ACTIONS_FIREHOSE,
  'kinesis:DescribeStreamSummary',
  'kinesis:GetRecords',
  'kinesis:GetShardIterator',
  'kinesis:ListShards',
].sort();

describe('IngestLakeStack (default context: on-demand stream, Firehose)', () => {
  const s = synth();

  it('lands the stream in bronze with Firehose dynamic partitioning on source, date and hour', () => {
    s.template.resourceCountIs('AWS::KinesisFirehose::DeliveryStream', 1);
    s.template.hasResourceProperties('AWS::KinesisFirehose::DeliveryStream', {
      DeliveryStreamType: 'KinesisStreamAsSource',
      KinesisStreamSourceConfiguration: {
        KinesisStreamARN: { 'Fn::GetAtt': [logicalId(s, 'AWS::Kinesis::Stream', 'Stream'), 'Arn'] },
      },
      ExtendedS3DestinationConfiguration: Match.objectLike({
        Prefix:
          'bronze/source=!{partitionKeyFromQuery:source}/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/',
        ErrorOutputPrefix: 'bronze-errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/',
        CompressionFormat: 'GZIP',
        FileExtension: '.json.gz',
        BufferingHints: { IntervalInSeconds: 300, SizeInMBs: 64 },
        DynamicPartitioningConfiguration: { Enabled: true, RetryOptions: { DurationInSeconds: 300 } },
        CloudWatchLoggingOptions: Match.objectLike({ Enabled: true }),
        ProcessingConfiguration: {
          Enabled: true,
          Processors: [
            {
              Type: 'MetadataExtraction',
              Parameters: [
                { ParameterName: 'MetadataExtractionQuery', ParameterValue: '{source:.source}' },
                { ParameterName: 'JsonParsingEngine', ParameterValue: 'JQ-1.6' },
              ],
            },
            {
              Type: 'AppendDelimiterToRecord',
              Parameters: [{ ParameterName: 'Delimiter', ParameterValue: '\\n' }],
            },
          ],
        },
      }),
    });
    expect([FIREHOSE_PREFIX, FIREHOSE_ERROR_PREFIX, FIREHOSE_METADATA_QUERY]).toEqual([
      'bronze/source=!{partitionKeyFromQuery:source}/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/',
      'bronze-errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/',
      '{source:.source}',
    ]);
  });

  it('gives Firehose a role limited to the stream, its lake prefixes, the key and its log stream', () => {
    const role = logicalId(s, 'AWS::IAM::Role', 'StreamFirehoseRole');
    expect(roleActions(s, role)).toEqual({
      actions: [
        'kinesis:DescribeStream',
        'kinesis:GetRecords',
        'kinesis:GetShardIterator',
        'kinesis:ListShards',
        'kms:Decrypt',
        'kms:GenerateDataKey',
        'logs:PutLogEvents',
        's3:AbortMultipartUpload',
        's3:GetBucketLocation',
        's3:GetObject',
        's3:ListBucket',
        's3:ListBucketMultipartUploads',
        's3:PutObject',
      ],
      policies: 1,
    });
  });

  it('encrypts every bucket, blocks public access and denies non-TLS requests', () => {
    const buckets = resourcesOfType(s, 'AWS::S3::Bucket');
    expect(buckets).toHaveLength(4); // lake, dead letters, Athena results, access logs
    for (const [id, bucket] of buckets) {
      expect(bucket.Properties.PublicAccessBlockConfiguration, id).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      const sse =
        bucket.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault;
      if (id.startsWith('StorageAccessLogs')) {
        expect(sse, id).toEqual({ SSEAlgorithm: 'AES256' });
      } else {
        expect(sse, id).toEqual({
          SSEAlgorithm: 'aws:kms',
          KMSMasterKeyID: { 'Fn::GetAtt': [logicalId(s, 'AWS::KMS::Key', 'StorageKey'), 'Arn'] },
        });
        expect(bucket.Properties.LoggingConfiguration, id).toMatchObject({
          DestinationBucketName: { Ref: logicalId(s, 'AWS::S3::Bucket', 'StorageAccessLogs') },
        });
      }
      s.template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: id },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 's3:*',
              Principal: { AWS: '*' },
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      });
    }
    s.template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });

  it('has the lifecycle rules: bronze to IA after 30 days, Athena results 7 days, dead letters 90 days', () => {
    s.template.hasResourceProperties('AWS::S3::Bucket', {
      VersioningConfiguration: { Status: 'Enabled' },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({
            Prefix: 'bronze/',
            Status: 'Enabled',
            Transitions: Match.arrayWith([{ StorageClass: 'STANDARD_IA', TransitionInDays: 30 }]),
          }),
        ]),
      },
    });
    s.template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: [Match.objectLike({ Id: 'athena-results-expire', ExpirationInDays: 7 })],
      },
    });
    s.template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: [Match.objectLike({ Id: 'dead-letters-expire', ExpirationInDays: 90 })],
      },
    });
  });

  it('declares the state table as src/state/dynamodb.ts does: pk (S), on-demand, PITR, TTL on expiresAt', () => {
    s.template.resourceCountIs('AWS::DynamoDB::Table', 1);
    s.template.hasResourceProperties('AWS::DynamoDB::Table', {
      TableName: 'ingest-dev-state',
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
  });

  it('creates an on-demand, KMS-encrypted stream', () => {
    s.template.hasResourceProperties('AWS::Kinesis::Stream', {
      Name: 'ingest-dev',
      StreamModeDetails: { StreamMode: 'ON_DEMAND' },
      StreamEncryption: { EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' },
      ShardCount: Match.absent(),
    });
  });

  it('runs both Glue jobs on Glue 5.0, G.1X x2, one run at a time, bookmarks on, lakelib as extra py file', () => {
    s.template.resourceCountIs('AWS::Glue::Job', 2);
    for (const name of ['ingest-dev-bronze_to_silver', 'ingest-dev-silver_to_gold']) {
      s.template.hasResourceProperties('AWS::Glue::Job', {
        Name: name,
        GlueVersion: '5.0',
        WorkerType: 'G.1X',
        NumberOfWorkers: 2,
        ExecutionProperty: { MaxConcurrentRuns: 1 },
        Command: { Name: 'glueetl', PythonVersion: '3', ScriptLocation: Match.anyValue() },
        SecurityConfiguration: Match.anyValue(),
        DefaultArguments: Match.objectLike({
          '--job-bookmark-option': 'job-bookmark-enable',
          '--extra-py-files': { 'Fn::Sub': Match.stringLikeRegexp('^s3://cdk-[^/]+/[0-9a-f]{64}\\.zip$') },
        }),
      });
    }
    s.template.hasResourceProperties('AWS::Glue::Job', {
      Name: 'ingest-dev-bronze_to_silver',
      DefaultArguments: Match.objectLike({
        '--pii_key_secret_id': { Ref: logicalId(s, 'AWS::SecretsManager::Secret', 'PiiKey') },
      }),
    });
    const jobs = resourcesOfType(s, 'AWS::Glue::Job').map(([, j]) =>
      JSON.stringify(j.Properties.DefaultArguments),
    );
    expect(jobs.every((a) => /[0-9a-f]{64}\.zip/.test(a))).toBe(true);
  });

  it('stages lakelib.py alone, under its own name, as the --extra-py-files zip', async () => {
    const { readdirSync } = await import('node:fs');
    const { join } = await import('node:path');
    const dirs = readdirSync(s.outdir).filter((d) => d.startsWith('asset.') && !d.endsWith('.py'));
    const lakelibDirs = dirs.filter((d) => readdirSync(join(s.outdir, d)).includes('lakelib.py'));
    expect(lakelibDirs).toHaveLength(1);
    expect(readdirSync(join(s.outdir, lakelibDirs[0]!))).toEqual(['lakelib.py']);
  });

  it('has the database lake and one crawler, of bronze (bronze_); silver and gold are Iceberg, not crawled', () => {
    s.template.hasResourceProperties('AWS::Glue::Database', { DatabaseInput: { Name: 'lake' } });
    s.template.resourceCountIs('AWS::Glue::Crawler', 1);
    s.template.hasResourceProperties('AWS::Glue::Crawler', {
      Name: 'ingest-dev-bronze',
      DatabaseName: 'lake',
      TablePrefix: 'bronze_',
      Targets: {
        S3Targets: [
          { Path: Match.objectLike({ 'Fn::Join': ['', ['s3://', Match.anyValue(), '/bronze/']] }) },
        ],
      },
    });
  });

  it('runs both Glue jobs with Iceberg and the Glue Data Catalog as the catalog iceberg (ADR 0015)', () => {
    for (const name of ['ingest-dev-bronze_to_silver', 'ingest-dev-silver_to_gold']) {
      s.template.hasResourceProperties('AWS::Glue::Job', {
        Name: name,
        GlueVersion: '5.0',
        DefaultArguments: Match.objectLike({
          '--datalake-formats': 'iceberg',
          '--database': 'lake',
          '--conf': Match.objectLike({
            'Fn::Join': Match.arrayWith([
              Match.arrayWith([
                Match.stringLikeRegexp(
                  'spark.sql.catalog.iceberg.catalog-impl=org.apache.iceberg.aws.glue.GlueCatalog',
                ),
              ]),
            ]),
          }),
        }),
      });
    }
  });

  it('enforces the Athena workgroup result location and its KMS encryption', () => {
    s.template.hasResourceProperties('AWS::Athena::WorkGroup', {
      Name: 'ingest-dev',
      WorkGroupConfiguration: Match.objectLike({
        EnforceWorkGroupConfiguration: true,
        ResultConfiguration: {
          OutputLocation: Match.objectLike({ 'Fn::Join': ['', ['s3://', Match.anyValue(), '/athena/']] }),
          EncryptionConfiguration: { EncryptionOption: 'SSE_KMS', KmsKey: Match.anyValue() },
        },
      }),
    });
  });

  it('has one named query per src/glue/queries/*.sql file, with its text', async () => {
    const { readdirSync, readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const dir = join(import.meta.dirname, '..', '..', 'src', 'glue', 'queries');
    const files = readdirSync(dir).filter((f) => f.endsWith('.sql'));
    expect(files.length).toBeGreaterThanOrEqual(7);
    s.template.resourceCountIs('AWS::Athena::NamedQuery', files.length);
    for (const f of files) {
      s.template.hasResourceProperties('AWS::Athena::NamedQuery', {
        Name: f.replace(/\.sql$/, ''),
        Database: 'lake',
        QueryString: readFileSync(join(dir, f), 'utf8'),
        WorkGroup: { Ref: logicalId(s, 'AWS::Athena::WorkGroup', 'CatalogWorkGroup') },
      });
    }
  });

  it('grants the run task role exactly PutRecords/DescribeStreamSummary, the state table, dead letters', () => {
    expect(roleActions(s, logicalId(s, 'AWS::IAM::Role', 'ComputeRunTaskRole'))).toEqual({
      actions: RUN_ACTIONS,
      policies: 1,
    });
    s.template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyName: Match.stringLikeRegexp('^ComputeRunTaskPolicy'),
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: ['kinesis:PutRecords', 'kinesis:DescribeStreamSummary', 'kinesis:ListShards'],
            Resource: { 'Fn::GetAtt': [logicalId(s, 'AWS::Kinesis::Stream', 'Stream'), 'Arn'] },
          }),
          Match.objectLike({
            Action: 's3:PutObject',
            Resource: {
              'Fn::Join': [
                '',
                [
                  { 'Fn::GetAtt': [logicalId(s, 'AWS::S3::Bucket', 'StorageDeadLetters'), 'Arn'] },
                  '/dead-letter/*',
                ],
              ],
            },
          }),
        ]),
      },
    });
  });

  it('grants the consume task role exactly the scheduler calls (no stream access: Firehose lands bronze)', () => {
    expect(roleActions(s, logicalId(s, 'AWS::IAM::Role', 'ComputeConsumeTaskRole'))).toEqual({
      actions: CONSUME_ACTIONS_FIREHOSE,
      policies: 1,
    });
  });

  it('never grants a wildcard action to any role', () => {
    for (const [id, p] of resourcesOfType(s, 'AWS::IAM::Policy')) {
      for (const st of p.Properties.PolicyDocument.Statement) {
        for (const a of [st.Action].flat()) expect(a, id).not.toMatch(/(^\*$|:\*$)/);
      }
    }
  });

  it('runs two Fargate services with the image command, stopTimeout 30 s, health check, logs and ports', () => {
    s.template.resourceCountIs('AWS::ECS::Service', 2);
    s.template.hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
    });
    for (const [role, port, file] of [
      ['run', 9464, 'aws.yaml'],
      ['consume', 9465, 'aws.yaml'],
    ] as const) {
      s.template.hasResourceProperties('AWS::ECS::TaskDefinition', {
        Family: `ingest-dev-${role}`,
        RequiresCompatibilities: ['FARGATE'],
        ContainerDefinitions: [
          Match.objectLike({
            Name: role,
            Command: [role, '--config', `/app/config/${file}`],
            StopTimeout: 30,
            PortMappings: [Match.objectLike({ ContainerPort: port, Protocol: 'tcp' })],
            HealthCheck: Match.objectLike({
              Command: ['CMD', 'node', '-e', Match.stringLikeRegexp(`127\\.0\\.0\\.1:${port}/healthz`)],
            }),
            LogConfiguration: Match.objectLike({ LogDriver: 'awslogs' }),
          }),
        ],
      });
    }
    s.template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Family: 'ingest-dev-run',
      ContainerDefinitions: [
        Match.objectLike({
          Secrets: [
            {
              Name: 'GITHUB_TOKEN',
              ValueFrom: { Ref: logicalId(s, 'AWS::SecretsManager::Secret', 'GithubToken') },
            },
          ],
        }),
      ],
    });
    s.template.hasResourceProperties('AWS::ECS::Service', {
      ServiceName: 'ingest-dev-consume',
      DesiredCount: 1,
      DeploymentConfiguration: Match.objectLike({ MinimumHealthyPercent: 0, MaximumPercent: 100 }),
      NetworkConfiguration: { AwsvpcConfiguration: Match.objectLike({ AssignPublicIp: 'DISABLED' }) },
    });
    s.template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      MinCapacity: 1,
      MaxCapacity: 1,
      ScalableDimension: 'ecs:service:DesiredCount',
    });
    s.template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({
        PredefinedMetricSpecification: { PredefinedMetricType: 'ECSServiceAverageCPUUtilization' },
      }),
    });
    for (const [, lg] of resourcesOfType(s, 'AWS::Logs::LogGroup'))
      expect(lg.Properties.RetentionInDays).toBeGreaterThan(0);
  });

  it('alarms on iterator age, write throttling, Firehose freshness and failures, and Glue failures', () => {
    const topic = { Ref: logicalId(s, 'AWS::SNS::Topic', 'AlarmsTopic') };
    s.template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    for (const metric of [
      'GetRecords.IteratorAgeMilliseconds',
      'WriteProvisionedThroughputExceeded',
      'DeliveryToS3.DataFreshness',
      'DeliveryToS3.Success',
    ]) {
      s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: metric,
        AlarmActions: [topic],
      });
    }
    s.template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.glue'],
        'detail-type': ['Glue Job State Change'],
        detail: {
          jobName: ['ingest-dev-bronze_to_silver', 'ingest-dev-silver_to_gold'],
          state: ['FAILED', 'TIMEOUT', 'ERROR'],
        },
      },
      Targets: [Match.objectLike({ Arn: topic })],
    });
  });

  it('outputs the names and ARNs', () => {
    const outputs = Object.keys(s.template.findOutputs('*'));
    for (const o of [
      'LakeBucketName',
      'StreamArn',
      'DeliveryStreamName',
      'StateTableName',
      'BronzeToSilverJobName',
      'AthenaWorkGroupName',
      'RunServiceName',
      'ConsumeServiceName',
      'AlarmTopicArn',
    ]) {
      expect(outputs).toContain(o);
    }
  });
});

describe('IngestLakeStack (useFirehose=false, provisioned stream)', () => {
  const s = synth({ useFirehose: 'false', streamMode: 'provisioned', shardCount: '3', env: 'prod' });

  it('has no Firehose and a provisioned stream of shardCount shards', () => {
    s.template.resourceCountIs('AWS::KinesisFirehose::DeliveryStream', 0);
    s.template.hasResourceProperties('AWS::Kinesis::Stream', {
      Name: 'ingest-prod',
      ShardCount: 3,
      StreamModeDetails: { StreamMode: 'PROVISIONED' },
    });
    expect(Object.keys(s.template.findOutputs('DeliveryStreamName'))).toEqual([]);
  });

  it('lets consume read the stream and write bronze/ and dead letters (the bronze writer)', () => {
    expect(roleActions(s, logicalId(s, 'AWS::IAM::Role', 'ComputeConsumeTaskRole'))).toEqual({
      actions: CONSUME_ACTIONS_BRONZE_WRITER,
      policies: 1,
    });
    s.template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Family: 'ingest-prod-consume',
      ContainerDefinitions: [
        Match.objectLike({ Command: ['consume', '--config', '/app/config/aws-bronze-writer.yaml'] }),
      ],
    });
  });

  it('lets run autoscale to 50 tasks with coordination (source leases), which the tasks see as INGEST_COORDINATION', () => {
    const leased = synth({ coordination: 'true', runMaxTasks: '50', env: 'leased' });
    leased.template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      MinCapacity: 1,
      MaxCapacity: 50,
    });
    leased.template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Family: 'ingest-leased-run',
      ContainerDefinitions: [
        Match.objectLike({
          Environment: Match.arrayWith([{ Name: 'INGEST_COORDINATION', Value: 'true' }]),
        }),
      ],
    });
  });

  it('caps run autoscaling at runMaxTasks: 1 by default, up to 4 without coordination', () => {
    s.template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      MinCapacity: 1,
      MaxCapacity: 1,
    });
    const four = synth({ runMaxTasks: '4', env: 'four' });
    four.template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      MinCapacity: 1,
      MaxCapacity: 4,
    });
  });

  it('keeps the run task role unchanged', () => {
    expect(roleActions(s, logicalId(s, 'AWS::IAM::Role', 'ComputeRunTaskRole')).actions).toEqual(RUN_ACTIONS);
  });
});

describe('IngestLakeStack (sink=firehose: DirectPut, no Kinesis stream)', () => {
  const s = synth({ sink: 'firehose' });

  it('creates a DirectPut delivery stream encrypted with the lake key, the same layout as ingest bootstrap, and no stream', () => {
    expect(resourcesOfType(s, 'AWS::Kinesis::Stream')).toEqual([]);
    const streams = resourcesOfType(s, 'AWS::KinesisFirehose::DeliveryStream');
    expect(streams).toHaveLength(1);
    // biome-ignore lint/suspicious/noExplicitAny: CloudFormation properties of the synthesized template
    const ds = streams[0]![1] as unknown as { Properties: Record<string, any> };
    expect(ds.Properties.DeliveryStreamType).toBe('DirectPut');
    expect(ds.Properties.KinesisStreamSourceConfiguration).toBeUndefined();
    expect(ds.Properties.DeliveryStreamEncryptionConfigurationInput.KeyType).toBe('CUSTOMER_MANAGED_CMK');
    const dest = ds.Properties.ExtendedS3DestinationConfiguration;
    expect([FIREHOSE_PREFIX, FIREHOSE_ERROR_PREFIX, FIREHOSE_METADATA_QUERY]).toEqual([
      BRONZE_FIREHOSE_PREFIX,
      BRONZE_FIREHOSE_ERROR_PREFIX,
      SOURCE_QUERY,
    ]);
    expect(dest.Prefix).toBe(BRONZE_FIREHOSE_PREFIX);
    // The sink sends each record with its newline: no AppendDelimiterToRecord processor.
    expect(dest.ProcessingConfiguration.Processors.map((p: { Type: string }) => p.Type)).toEqual([
      'MetadataExtraction',
    ]);
  });

  it('lets the run role call only PutRecordBatch and DescribeDeliveryStream on it (no Kinesis)', () => {
    const { actions } = roleActions(s, logicalId(s, 'AWS::IAM::Role', 'ComputeRunTaskRole'));
    expect(actions).toEqual(
      RUN_ACTIONS.filter((a) => !a.startsWith('kinesis:'))
        .concat(['firehose:DescribeDeliveryStream', 'firehose:PutRecordBatch'])
        .sort(),
    );
  });
});
