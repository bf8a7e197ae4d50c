/**
 * Glue and Athena: the `lake` database, the two PySpark jobs (scripts from `src/glue/jobs` as S3
 * assets, `lakelib.py` as `--extra-py-files`), the crawlers, a security configuration, the Athena
 * workgroup with an enforced, encrypted result location, and a named query per
 * `src/glue/queries/*.sql`.
 *
 * Table names: the SQL in `src/glue/queries` reads the gold table `fact_order_lines` and the silver
 * tables. Silver entities (`silver_<entity>`) and gold `fact_order_lines` are Apache Iceberg tables
 * (ADR 0015) declared here (`tables.ts`, one per `lake.entities` entry of the deployed config) that
 * the jobs MERGE into / replace months of through the Glue Data Catalog (`--datalake-formats
 * iceberg`, catalog `iceberg`, warehouse `s3://<lake>/iceberg/`). One crawler, `bronze` (prefix
 * `bronze_`, daily schedule, one table per source for ad-hoc queries on the raw envelopes), catalogues
 * bronze only: a crawler over the former Parquet `gold/` would replace the Iceberg `fact_order_lines`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Stack } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Asset } from 'aws-cdk-lib/aws-s3-assets';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { glueIcebergArguments } from '../../src/bootstrap/plan.js';
import type { EntityConfig } from '../../src/glue/config.js';
import { bucketObjects, suppress } from './nag.js';
import { LAKE_PREFIXES } from './storage.js';
import { DEPLOYED_CONFIG, LakeTables, readLakeEntities } from './tables.js';

/** Glue job settings shared by both jobs. */
export const GLUE_JOB_DEFAULTS = {
  glueVersion: '5.0',
  workerType: 'G.1X',
  numberOfWorkers: 2,
  maxConcurrentRuns: 1,
  timeoutMinutes: 120,
} as const;

/** Catalog calls that read a database and create or update its tables (Iceberg commits, crawls). */
const TABLE_ACTIONS = [
  'glue:GetDatabase',
  'glue:GetTable',
  'glue:GetTables',
  'glue:CreateTable',
  'glue:UpdateTable',
];

export interface CatalogProps {
  readonly prefix: string;
  readonly databaseName: string;
  readonly repoRoot: string;
  readonly key: kms.IKey;
  readonly lake: s3.IBucket;
  readonly athenaResults: s3.IBucket;
  readonly piiKey: secretsmanager.ISecret;
  /** Silver entities to declare as Iceberg tables; default `lake.entities` of {@link DEPLOYED_CONFIG}. */
  readonly entities?: readonly EntityConfig[];
}

/** One SQL file of `src/glue/queries`: name (file name without `.sql`), description, statement. */
export interface NamedSql {
  name: string;
  description: string;
  sql: string;
}

/** Reads every `*.sql` file of a directory, sorted; the description is the first comment line. */
export function readQueries(dir: string): NamedSql[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((f) => {
      const sql = readFileSync(join(dir, f), 'utf8');
      const first = sql.split('\n').find((l) => l.startsWith('--')) ?? '';
      return {
        name: f.slice(0, -'.sql'.length),
        description: first.replace(/^--\s*/, '').slice(0, 1024),
        sql,
      };
    });
}

export class Catalog extends Construct {
  readonly database: glue.CfnDatabase;
  readonly databaseName: string;
  readonly bronzeToSilverJobName: string;
  readonly silverToGoldJobName: string;
  readonly bronzeCrawlerName: string;
  readonly workgroupName: string;
  readonly athenaOutputLocation: string;
  readonly jobRole: iam.Role;
  readonly lakeTables: LakeTables;
  readonly crawlerRole: iam.Role;
  readonly namedQueries: athena.CfnNamedQuery[] = [];

  constructor(scope: Construct, id: string, props: CatalogProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const arn = (service: string, resource: string) =>
      `arn:${stack.partition}:${service}:${stack.region}:${stack.account}:${resource}`;
    const { lake, key } = props;

    this.databaseName = props.databaseName;
    this.database = new glue.CfnDatabase(this, 'Database', {
      catalogId: stack.account,
      databaseInput: {
        name: props.databaseName,
        description: 'The ingest lake: silver_<entity> and gold tables (crawled), bronze_<source> (raw)',
      },
    });
    const catalogArns = [
      arn('glue', 'catalog'),
      arn('glue', `database/${props.databaseName}`),
      arn('glue', `table/${props.databaseName}/*`),
    ];

    const securityConfigurationName = `${props.prefix}-glue`;
    const securityConfiguration = new glue.CfnSecurityConfiguration(this, 'SecurityConfiguration', {
      name: securityConfigurationName,
      encryptionConfiguration: {
        s3Encryptions: [{ s3EncryptionMode: 'SSE-KMS', kmsKeyArn: key.keyArn }],
        cloudWatchEncryption: { cloudWatchEncryptionMode: 'SSE-KMS', kmsKeyArn: key.keyArn },
        jobBookmarksEncryption: { jobBookmarksEncryptionMode: 'CSE-KMS', kmsKeyArn: key.keyArn },
      },
    });

    // Scripts as assets. lakelib.py must keep its module name on Glue's Python path, so it goes as a
    // zip asset of a folder holding only lakelib.py (a file asset would be renamed to <hash>.py).
    const jobsDir = join(props.repoRoot, 'src', 'glue', 'jobs');
    const bronzeToSilverScript = new Asset(this, 'BronzeToSilverScript', {
      path: join(jobsDir, 'bronze_to_silver.py'),
    });
    const silverToGoldScript = new Asset(this, 'SilverToGoldScript', {
      path: join(jobsDir, 'silver_to_gold.py'),
    });
    const lakelib = new Asset(this, 'LakelibModule', { path: jobsDir, exclude: ['*', '!lakelib.py'] });

    const logsArn = arn('logs', 'log-group:/aws-glue/*');
    const lakeObjects = (prefix: string) => lake.arnForObjects(`${prefix}*`);

    this.jobRole = new iam.Role(this, 'JobRole', {
      assumedBy: new iam.ServicePrincipal('glue.amazonaws.com'),
      description: 'Glue jobs bronze_to_silver and silver_to_gold',
    });
    const jobPolicy = new iam.Policy(this, 'JobPolicy', {
      statements: [
        new iam.PolicyStatement({
          sid: 'Scripts',
          actions: ['s3:GetObject'],
          resources: [bronzeToSilverScript, silverToGoldScript, lakelib].map((a) =>
            a.bucket.arnForObjects(a.s3ObjectKey),
          ),
        }),
        new iam.PolicyStatement({
          sid: 'LakeBucket',
          actions: ['s3:ListBucket', 's3:GetBucketLocation'],
          resources: [lake.bucketArn],
        }),
        new iam.PolicyStatement({
          sid: 'ReadBronze',
          actions: ['s3:GetObject'],
          resources: [lakeObjects(LAKE_PREFIXES.bronze)],
        }),
        new iam.PolicyStatement({
          sid: 'ReadWriteSilverGoldTemp',
          actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
          resources: [
            LAKE_PREFIXES.iceberg,
            LAKE_PREFIXES.silver,
            LAKE_PREFIXES.gold,
            LAKE_PREFIXES.glueTemp,
          ].map(lakeObjects),
        }),
        new iam.PolicyStatement({
          sid: 'IcebergCatalog',
          // DeleteTable: a silver MERGE stages its source rows in `<table>__merge_source` and drops it (ADR 0018).
          actions: [...TABLE_ACTIONS, 'glue:DeleteTable'],
          resources: catalogArns,
        }),
        new iam.PolicyStatement({
          sid: 'Key',
          actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'],
          resources: [key.keyArn],
        }),
        new iam.PolicyStatement({
          sid: 'PiiKey',
          actions: ['secretsmanager:GetSecretValue'],
          resources: [props.piiKey.secretArn],
        }),
        glueLogsStatement(logsArn),
        new iam.PolicyStatement({
          sid: 'JobMetrics',
          actions: ['cloudwatch:PutMetricData'],
          resources: ['*'],
          conditions: { StringEquals: { 'cloudwatch:namespace': 'Glue' } },
        }),
      ],
    });
    this.jobRole.attachInlinePolicy(jobPolicy);

    this.bronzeToSilverJobName = `${props.prefix}-bronze_to_silver`;
    this.silverToGoldJobName = `${props.prefix}-silver_to_gold`;
    const warehouse = lake.s3UrlForObject(LAKE_PREFIXES.iceberg.replace(/\/$/, ''));
    this.lakeTables = new LakeTables(this, 'Tables', {
      databaseName: props.databaseName,
      database: this.database,
      warehouse,
      entities: props.entities ?? readLakeEntities(join(props.repoRoot, DEPLOYED_CONFIG)),
    });
    const commonArgs = {
      // Glue 5.0 ships the Iceberg runtime; the catalog settings go through one `--conf` value
      // (Glue passes it to spark-submit, each further setting after ` --conf `). Same as bootstrap.
      ...glueIcebergArguments(warehouse, props.databaseName),
      '--job-language': 'python',
      '--job-bookmark-option': 'job-bookmark-enable',
      '--extra-py-files': lakelib.s3ObjectUrl,
      '--TempDir': lake.s3UrlForObject(LAKE_PREFIXES.glueTemp),
      '--enable-metrics': 'true',
      '--enable-continuous-cloudwatch-log': 'true',
    };
    const job = (
      jobId: string,
      name: string,
      script: Asset,
      description: string,
      args: Record<string, string>,
    ) => {
      const cfn = new glue.CfnJob(this, jobId, {
        name,
        description,
        role: this.jobRole.roleArn,
        command: { name: 'glueetl', pythonVersion: '3', scriptLocation: script.s3ObjectUrl },
        glueVersion: GLUE_JOB_DEFAULTS.glueVersion,
        workerType: GLUE_JOB_DEFAULTS.workerType,
        numberOfWorkers: GLUE_JOB_DEFAULTS.numberOfWorkers,
        executionProperty: { maxConcurrentRuns: GLUE_JOB_DEFAULTS.maxConcurrentRuns },
        maxRetries: 0,
        timeout: GLUE_JOB_DEFAULTS.timeoutMinutes,
        securityConfiguration: securityConfiguration.ref,
        defaultArguments: { ...commonArgs, ...args },
      });
      cfn.node.addDependency(jobPolicy);
      return cfn;
    };
    job(
      'BronzeToSilverJob',
      this.bronzeToSilverJobName,
      bronzeToSilverScript,
      'bronze gzip NDJSON of one source -> MERGE INTO its silver Iceberg table, latest version per key (run per source and hours by the hourly scheduler)',
      { '--pii_key_secret_id': props.piiKey.secretArn },
    );
    job(
      'SilverToGoldJob',
      this.silverToGoldJobName,
      silverToGoldScript,
      'silver carts/products/users -> gold fact_order_lines, affected months overwritten',
      {},
    );

    // Crawlers.
    this.crawlerRole = new iam.Role(this, 'CrawlerRole', {
      assumedBy: new iam.ServicePrincipal('glue.amazonaws.com'),
      description: 'Glue crawler of bronze/ (raw envelopes) into the lake database',
    });
    const crawlerPolicy = new iam.Policy(this, 'CrawlerPolicy', {
      statements: [
        new iam.PolicyStatement({
          sid: 'LakeBucket',
          actions: ['s3:ListBucket', 's3:GetBucketLocation'],
          resources: [lake.bucketArn],
        }),
        new iam.PolicyStatement({
          sid: 'ReadZones',
          actions: ['s3:GetObject'],
          resources: [lakeObjects(LAKE_PREFIXES.bronze)],
        }),
        new iam.PolicyStatement({ sid: 'Key', actions: ['kms:Decrypt'], resources: [key.keyArn] }),
        new iam.PolicyStatement({
          sid: 'Catalog',
          actions: [
            ...TABLE_ACTIONS,
            'glue:GetPartition',
            'glue:GetPartitions',
            'glue:BatchGetPartition',
            'glue:CreatePartition',
            'glue:BatchCreatePartition',
            'glue:UpdatePartition',
            'glue:BatchUpdatePartition',
          ],
          resources: catalogArns,
        }),
        glueLogsStatement(logsArn),
      ],
    });
    this.crawlerRole.attachInlinePolicy(crawlerPolicy);

    const crawler = (
      crawlerId: string,
      name: string,
      zone: string,
      extra: Partial<glue.CfnCrawlerProps>,
      configuration: object,
    ) => {
      const cfn = new glue.CfnCrawler(this, crawlerId, {
        name,
        role: this.crawlerRole.roleArn,
        databaseName: props.databaseName,
        targets: { s3Targets: [{ path: lake.s3UrlForObject(zone) }] },
        crawlerSecurityConfiguration: securityConfiguration.ref,
        configuration: JSON.stringify({ Version: 1.0, ...configuration }),
        ...extra,
      });
      cfn.node.addDependency(this.database);
      cfn.node.addDependency(crawlerPolicy);
      return cfn;
    };
    this.bronzeCrawlerName = `${props.prefix}-bronze`;
    // Bronze only gains partitions (dt/hour): crawl new folders only.
    crawler(
      'BronzeCrawler',
      this.bronzeCrawlerName,
      LAKE_PREFIXES.bronze,
      {
        description: 'bronze/source=<source> -> bronze_source_<source> (raw envelopes), daily',
        tablePrefix: 'bronze_',
        schedule: { scheduleExpression: 'cron(15 3 * * ? *)' },
        schemaChangePolicy: { updateBehavior: 'LOG', deleteBehavior: 'LOG' },
        recrawlPolicy: { recrawlBehavior: 'CRAWL_NEW_FOLDERS_ONLY' },
      },
      // s3://lake/bronze/source=<s>/: level 1 is the bucket, so one table per source at level 3.
      { Grouping: { TableLevelConfiguration: 3 } },
    );

    // Athena.
    this.workgroupName = props.prefix;
    this.athenaOutputLocation = props.athenaResults.s3UrlForObject('athena/');
    const workgroup = new athena.CfnWorkGroup(this, 'WorkGroup', {
      name: this.workgroupName,
      description: 'Lake analytics and data-quality queries; result location and encryption enforced',
      state: 'ENABLED',
      recursiveDeleteOption: true,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        bytesScannedCutoffPerQuery: 10 * 1024 ** 3,
        resultConfiguration: {
          outputLocation: this.athenaOutputLocation,
          encryptionConfiguration: { encryptionOption: 'SSE_KMS', kmsKey: key.keyArn },
        },
      },
    });
    for (const q of readQueries(join(props.repoRoot, 'src', 'glue', 'queries'))) {
      const named = new athena.CfnNamedQuery(this, `Query-${q.name}`, {
        name: q.name,
        description: q.description,
        database: props.databaseName,
        queryString: q.sql,
        workGroup: workgroup.ref,
      });
      named.node.addDependency(this.database);
      this.namedQueries.push(named);
    }

    // Suppressions, each for the exact findings.
    const lakeRef = lake;
    suppress(jobPolicy, [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'Spark reads and rewrites partitions with generated object names under the zones it owns; wildcards are key suffixes under bronze/ (read), iceberg/, silver/, gold/, glue-tmp/ (read-write). The jobs commit to the silver Iceberg tables of lake.entities (declared by this stack; a job still creates one missing from it) in the lake database (table/<database>/*). Glue creates its log groups under /aws-glue/. PutMetricData has no resource type; it is limited to the Glue namespace by condition.',
        appliesTo: [
          bucketObjects(lakeRef, `${LAKE_PREFIXES.bronze}*`),
          bucketObjects(lakeRef, `${LAKE_PREFIXES.iceberg}*`),
          `Resource::arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:table/${props.databaseName}/*`,
          bucketObjects(lakeRef, `${LAKE_PREFIXES.silver}*`),
          bucketObjects(lakeRef, `${LAKE_PREFIXES.gold}*`),
          bucketObjects(lakeRef, `${LAKE_PREFIXES.glueTemp}*`),
          'Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws-glue/*',
          'Resource::*',
        ],
      },
    ]);
    suppress(crawlerPolicy, [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'The crawler reads every object of the zone it catalogues (bronze/) and creates tables it names from folders, so table ARNs are only known as <database>/*. Glue creates its log groups under /aws-glue/.',
        appliesTo: [
          bucketObjects(lakeRef, `${LAKE_PREFIXES.bronze}*`),
          `Resource::arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:table/${props.databaseName}/*`,
          'Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws-glue/*',
        ],
      },
    ]);
  }
}

/** What a Glue job or crawler needs to write its CloudWatch logs (encrypted by the security configuration). */
function glueLogsStatement(logsArn: string): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'Logs',
    actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents', 'logs:AssociateKmsKey'],
    resources: [logsArn],
  });
}
