/**
 * Compute: the VPC, the ECS cluster and the two Fargate services of the one image, `run` (pollers
 * and the Kinesis producer) and `consume` (the hourly Glue scheduler, plus the bronze writer when
 * Firehose is off), each with a task role allowing exactly the calls its code makes.
 *
 * Networking: private subnets with a NAT gateway, because the `run` pollers call public HTTP APIs
 * (GitHub, FakeStore, USGS...), which no VPC endpoint can reach. Gateway endpoints for S3 and
 * DynamoDB (free) keep lake and state traffic off the NAT; Kinesis, Glue, Athena, Secrets Manager,
 * ECR and Logs go through the NAT (interface endpoints would cost more than they save at this size).
 */
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { BudgetsCache } from './cache.js';
import type { Catalog } from './catalog.js';
import type { IngestLakeContext } from './context.js';
import { bucketObjects, suppress } from './nag.js';
import { sourceSecretsFindings, sourceSecretsStatements } from './source-secrets.js';
import { LAKE_PREFIXES } from './storage.js';

/** The VPC's address range (a literal, so rules on the security group can be checked at synth). */
export const VPC_CIDR = '10.40.0.0/16';
/** Telemetry ports (config `telemetry.runPort` / `telemetry.consumePort`). */
export const RUN_PORT = 9464;
export const CONSUME_PORT = 9465;
/** Seconds ECS waits after SIGTERM before SIGKILL; the roles flush within `shutdownTimeoutSecs` (20). */
export const STOP_TIMEOUT_SECS = 30;
/** Where the image holds the service config (see deploy/README.md: the Dockerfile copies deploy/config). */
export const CONFIG_DIR = '/app/config';

export interface ComputeProps {
  readonly prefix: string;
  readonly context: IngestLakeContext;
  readonly repoRoot: string;
  readonly key: kms.IKey;
  /** The Kinesis stream the run service writes (context `sink=kinesis`). */
  readonly stream?: kinesis.IStream;
  /** The DirectPut delivery stream the run service writes (context `sink=firehose`). */
  readonly deliveryStream?: { name: string; arn: string };
  readonly stateTable: dynamodb.ITable;
  readonly lake: s3.IBucket;
  readonly deadLetters: s3.IBucket;
  readonly athenaResults: s3.IBucket;
  readonly catalog: Catalog;
  readonly githubToken: secretsmanager.ISecret;
  /** Seconds after an hour's end before the scheduler treats it as closed. */
  readonly graceSecs: number;
}

/** Node one-liner for the container health check: the image has node but no curl. */
export function healthCheckCommand(port: number): string[] {
  return [
    'CMD',
    'node',
    '-e',
    `fetch('http://127.0.0.1:${port}/healthz').then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))`,
  ];
}

export class Compute extends Construct {
  readonly vpc: ec2.Vpc;
  readonly cluster: ecs.Cluster;
  readonly runService: ecs.FargateService;
  readonly consumeService: ecs.FargateService;
  readonly runTaskRole: iam.Role;
  readonly consumeTaskRole: iam.Role;
  /** The rate-budget Valkey (context `budgetsCache=true`). */
  readonly budgetsCache?: BudgetsCache;

  constructor(scope: Construct, id: string, props: ComputeProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const { context, catalog } = props;

    const flowLogs = new logs.LogGroup(this, 'FlowLogs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(VPC_CIDR),
      maxAzs: 2,
      natGateways: context.natGateways,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
      ],
      gatewayEndpoints: {
        S3: { service: ec2.GatewayVpcEndpointAwsService.S3 },
        DynamoDB: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB },
      },
      flowLogs: {
        all: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs),
          trafficType: ec2.FlowLogTrafficType.ALL,
        },
      },
      restrictDefaultSecurityGroup: false,
    });

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      clusterName: props.prefix,
      vpc: this.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });

    const image = context.imageUri
      ? ecs.ContainerImage.fromRegistry(context.imageUri)
      : ecs.ContainerImage.fromAsset(props.repoRoot, {
          // Beside .dockerignore (node_modules, dist, .tools, .venv, data, .git): what the image never
          // needs, and cdk.out, so a synth never stages an earlier synth.
          exclude: ['cdk.out', '**/cdk.out', 'deploy/cdk', 'test', 'tests', 'bench', 'docs', '.tmp', '.ci'],
          platform: Platform.LINUX_AMD64,
        });

    const tasksSg = new ec2.SecurityGroup(this, 'TasksSecurityGroup', {
      vpc: this.vpc,
      description: 'ingest tasks: HTTPS out to the APIs and AWS; Prometheus scrapes from inside the VPC',
      allowAllOutbound: true,
    });
    for (const port of [RUN_PORT, CONSUME_PORT]) {
      tasksSg.addIngressRule(ec2.Peer.ipv4(VPC_CIDR), ec2.Port.tcp(port), `Prometheus /metrics ${port}`);
    }

    if (context.budgetsCache) {
      this.budgetsCache = new BudgetsCache(this, 'BudgetsCache', {
        prefix: props.prefix,
        vpc: this.vpc,
        key: props.key,
      });
    }
    const sourceSecrets = context.sourceSecrets ?? [];

    const environment: Record<string, string> = {
      ...(props.stream ? { INGEST_STREAM: props.stream.streamName } : {}),
      ...(props.deliveryStream ? { INGEST_DELIVERY_STREAM: props.deliveryStream.name } : {}),
      INGEST_LAKE_URI: `s3://${props.lake.bucketName}`,
      INGEST_DEAD_LETTER_URI: `s3://${props.deadLetters.bucketName}`,
      INGEST_STATE_TABLE: props.stateTable.tableName,
      INGEST_DATABASE: catalog.databaseName,
      INGEST_BRONZE_TO_SILVER_JOB: catalog.bronzeToSilverJobName,
      INGEST_SILVER_TO_GOLD_JOB: catalog.silverToGoldJobName,
      INGEST_ATHENA_WORKGROUP: catalog.workgroupName,
      INGEST_ATHENA_OUTPUT: catalog.athenaOutputLocation,
      INGEST_GRACE_SECS: String(props.graceSecs),
      // Source and shard leases (ADR 0013): run tasks share the sources, so the service may scale out.
      INGEST_COORDINATION: String(context.coordination),
    };

    // --- Task roles: exactly the calls each role's code makes. ---
    const produce = props.deliveryStream
      ? new iam.PolicyStatement({
          sid: 'Produce',
          actions: ['firehose:PutRecordBatch', 'firehose:DescribeDeliveryStream'],
          resources: [props.deliveryStream.arn],
        })
      : new iam.PolicyStatement({
          sid: 'Produce',
          actions: ['kinesis:PutRecords', 'kinesis:DescribeStreamSummary', 'kinesis:ListShards'],
          resources: [props.stream!.streamArn],
        });
    const tableArn = props.stateTable.tableArn;
    const stateStatement = new iam.PolicyStatement({
      sid: 'StateTable',
      actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
      resources: [tableArn],
    });
    const deadLetterStatement = new iam.PolicyStatement({
      sid: 'DeadLetters',
      actions: ['s3:PutObject'],
      resources: [props.deadLetters.arnForObjects('dead-letter/*')],
    });

    this.runTaskRole = new iam.Role(this, 'RunTaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: props.deliveryStream
        ? 'ingest run: PutRecordBatch to the delivery stream, state table, dead letters'
        : 'ingest run: PutRecords to the stream, state table, dead letters',
    });
    const runPolicy = new iam.Policy(this, 'RunTaskPolicy', {
      statements: [
        produce,
        stateStatement,
        deadLetterStatement,
        new iam.PolicyStatement({
          sid: 'EncryptWithKey',
          // SSE-KMS dead-letter objects (the stream uses the AWS-managed aws/kinesis key: no grant needed).
          actions: ['kms:GenerateDataKey'],
          resources: [props.key.keyArn],
        }),
        ...sourceSecretsStatements(this, sourceSecrets),
      ],
    });
    this.runTaskRole.attachInlinePolicy(runPolicy);

    this.consumeTaskRole = new iam.Role(this, 'ConsumeTaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: context.useFirehose
        ? 'ingest consume: hourly scheduler (Glue jobs, crawler, Athena), state table'
        : 'ingest consume: bronze writer (stream to bronze/), hourly scheduler (Glue jobs, crawler, Athena), state table',
    });
    const region = stack.region;
    const account = stack.account;
    const partition = stack.partition;
    const glueArn = (r: string) => `arn:${partition}:glue:${region}:${account}:${r}`;
    const consumeStatements: iam.PolicyStatement[] = [
      new iam.PolicyStatement({
        sid: 'LakeList',
        // ListObjectsV2 of bronze/ (hours to process), HeadBucket (/readyz); Athena lists silver/gold.
        actions: ['s3:ListBucket', 's3:GetBucketLocation'],
        resources: [props.lake.bucketArn],
      }),
      new iam.PolicyStatement({
        sid: 'AthenaReadsSilverGold',
        // Athena reads the Iceberg tables' objects (silver and gold, ADR 0015) with the caller's credentials.
        actions: ['s3:GetObject'],
        resources: [props.lake.arnForObjects(`${LAKE_PREFIXES.iceberg}*`)],
      }),
      new iam.PolicyStatement({
        sid: 'GlueJobs',
        actions: ['glue:StartJobRun', 'glue:GetJobRun'],
        resources: [
          glueArn(`job/${catalog.bronzeToSilverJobName}`),
          glueArn(`job/${catalog.silverToGoldJobName}`),
        ],
      }),
      new iam.PolicyStatement({
        sid: 'Athena',
        actions: [
          'athena:StartQueryExecution',
          'athena:GetQueryExecution',
          'athena:GetQueryResults',
          'athena:StopQueryExecution',
        ],
        resources: [`arn:${partition}:athena:${region}:${account}:workgroup/${catalog.workgroupName}`],
      }),
      new iam.PolicyStatement({
        sid: 'AthenaCatalogRead',
        actions: [
          'glue:GetDatabase',
          'glue:GetTable',
          'glue:GetPartition',
          'glue:GetPartitions',
          'glue:BatchGetPartition',
        ],
        resources: [
          glueArn('catalog'),
          glueArn(`database/${catalog.databaseName}`),
          glueArn(`table/${catalog.databaseName}/*`),
        ],
      }),
      new iam.PolicyStatement({
        sid: 'AthenaResultsBucket',
        actions: ['s3:ListBucket', 's3:GetBucketLocation'],
        resources: [props.athenaResults.bucketArn],
      }),
      new iam.PolicyStatement({
        sid: 'AthenaResults',
        actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'],
        resources: [props.athenaResults.arnForObjects('athena/*')],
      }),
      stateStatement,
      new iam.PolicyStatement({
        sid: 'Key',
        // Decrypt: silver/gold objects and Athena results; GenerateDataKey: Athena results (and, with
        // the bronze writer, bronze objects and dead letters). The stream's aws/kinesis key needs no grant.
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [props.key.keyArn],
      }),
    ];
    if (!context.useFirehose) {
      consumeStatements.push(
        new iam.PolicyStatement({
          sid: 'ConsumeStream',
          actions: [
            'kinesis:ListShards',
            'kinesis:GetShardIterator',
            'kinesis:GetRecords',
            'kinesis:DescribeStreamSummary',
          ],
          resources: [props.stream!.streamArn],
        }),
        new iam.PolicyStatement({
          sid: 'WriteBronze',
          actions: ['s3:PutObject'],
          resources: [props.lake.arnForObjects(`${LAKE_PREFIXES.bronze}*`)],
        }),
        deadLetterStatement,
      );
    }
    const consumePolicy = new iam.Policy(this, 'ConsumeTaskPolicy', { statements: consumeStatements });
    this.consumeTaskRole.attachInlinePolicy(consumePolicy);

    // --- Task definitions and services. ---
    const service = (
      role: 'run' | 'consume',
      taskRole: iam.Role,
      port: number,
      cpu: number,
      memoryLimitMiB: number,
      secrets: Record<string, ecs.Secret>,
      configFile: string,
    ): { service: ecs.FargateService; taskDefinition: ecs.FargateTaskDefinition } => {
      const Role = role === 'run' ? 'Run' : 'Consume';
      const logGroup = new logs.LogGroup(this, `${Role}Logs`, {
        logGroupName: `/ecs/${props.prefix}/${role}`,
        retention: logs.RetentionDays.ONE_MONTH,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      const taskDefinition = new ecs.FargateTaskDefinition(this, `${Role}TaskDefinition`, {
        family: `${props.prefix}-${role}`,
        cpu,
        memoryLimitMiB,
        taskRole,
        runtimePlatform: {
          cpuArchitecture: ecs.CpuArchitecture.X86_64,
          operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
        },
      });
      taskDefinition.addContainer(role, {
        containerName: role,
        image,
        command: [role, '--config', `${CONFIG_DIR}/${configFile}`],
        environment,
        secrets,
        stopTimeout: Duration.seconds(STOP_TIMEOUT_SECS),
        readonlyRootFilesystem: false,
        logging: ecs.LogDrivers.awsLogs({ streamPrefix: role, logGroup }),
        portMappings: [{ containerPort: port, name: `metrics-${port}`, protocol: ecs.Protocol.TCP }],
        healthCheck: {
          command: healthCheckCommand(port),
          interval: Duration.seconds(30),
          timeout: Duration.seconds(5),
          retries: 3,
          startPeriod: Duration.seconds(60),
        },
      });
      const fargate = new ecs.FargateService(this, `${Role}Service`, {
        serviceName: `${props.prefix}-${role}`,
        cluster: this.cluster,
        taskDefinition,
        desiredCount: 1,
        securityGroups:
          role === 'run' && this.budgetsCache ? [tasksSg, this.budgetsCache.clients] : [tasksSg],
        vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
        assignPublicIp: false,
        circuitBreaker: { rollback: true },
        // consume: never two schedulers/bronze writers at once during a deployment.
        ...(role === 'consume'
          ? { minHealthyPercent: 0, maxHealthyPercent: 100 }
          : { minHealthyPercent: 100 }),
      });
      fargate.node.addDependency(role === 'run' ? runPolicy : consumePolicy);
      suppress(taskDefinition, [
        {
          id: 'AwsSolutions-ECS2',
          reason:
            'The environment holds only resource names (stream, buckets, table, jobs, crawler, workgroup) that aws.yaml interpolates; secrets come from Secrets Manager as ECS secrets.',
        },
      ]);
      return { service: fargate, taskDefinition };
    };

    // sink=firehose: both roles read the DirectPut config (the consume role runs only the scheduler).
    const firehoseConfig = props.deliveryStream ? 'aws-firehose.yaml' : undefined;
    const run = service(
      'run',
      this.runTaskRole,
      RUN_PORT,
      512,
      1024,
      {
        GITHUB_TOKEN: ecs.Secret.fromSecretsManager(props.githubToken),
        ...(this.budgetsCache
          ? { INGEST_REDIS_URL: ecs.Secret.fromSecretsManager(this.budgetsCache.url) }
          : {}),
      },
      firehoseConfig ?? 'aws.yaml',
    );
    this.runService = run.service;
    const scaling = this.runService.autoScaleTaskCount({ minCapacity: 1, maxCapacity: context.runMaxTasks });
    scaling.scaleOnCpuUtilization('Cpu', {
      targetUtilizationPercent: 60,
      scaleInCooldown: Duration.minutes(5),
      scaleOutCooldown: Duration.minutes(2),
    });

    const consume = service(
      'consume',
      this.consumeTaskRole,
      CONSUME_PORT,
      context.useFirehose ? 512 : 1024,
      context.useFirehose ? 1024 : 2048,
      {},
      firehoseConfig ?? (context.useFirehose ? 'aws.yaml' : 'aws-bronze-writer.yaml'),
    );
    this.consumeService = consume.service;

    // --- Suppressions of exact findings. ---
    suppress(runPolicy, [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'Dead-letter object keys are generated (component, date, hour, time, uuid) under dead-letter/.',
        appliesTo: [bucketObjects(props.deadLetters, 'dead-letter/*')],
      },
      ...(sourceSecretsFindings(sourceSecrets).length > 0
        ? [
            {
              id: 'AwsSolutions-IAM5',
              reason:
                'Context sourceSecrets names these secret name prefixes: the operator chose to let the run tasks read every secret under them (sources reference them as { secretId, jsonKey }).',
              appliesTo: sourceSecretsFindings(sourceSecrets),
            },
          ]
        : []),
    ]);
    suppress(consumePolicy, [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'Object keys are generated: Athena reads every object of the Iceberg tables under iceberg/ (silver and gold) and writes results under athena/; the bronze writer (Firehose off) writes bronze/ and dead-letter/. The scheduler reads the catalog tables the crawlers created, whose names are only known as <database>/*.',
        appliesTo: [
          bucketObjects(props.lake, `${LAKE_PREFIXES.iceberg}*`),
          bucketObjects(props.athenaResults, 'athena/*'),
          `Resource::arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:table/${catalog.databaseName}/*`,
          ...(context.useFirehose
            ? []
            : [
                bucketObjects(props.lake, `${LAKE_PREFIXES.bronze}*`),
                bucketObjects(props.deadLetters, 'dead-letter/*'),
              ]),
        ],
      },
    ]);
    for (const td of [run.taskDefinition, consume.taskDefinition]) {
      const executionRole = td.executionRole;
      if (!executionRole) continue;
      suppress(executionRole, [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'The ECS execution role policy generated by CDK: ecr:GetAuthorizationToken has no resource type and must be granted on *.',
          appliesTo: ['Resource::*'],
        },
      ]);
    }
  }
}
