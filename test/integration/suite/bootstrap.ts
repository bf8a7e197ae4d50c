/**
 * Scenario "bootstrap": `bootstrap()` creates every resource of the suite's config on the backend,
 * each really exists afterwards with the asked-for shape, and a second run only reports `exists`.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GetWorkGroupCommand } from '@aws-sdk/client-athena';
import { DescribeTableCommand, DescribeTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { GetCrawlerCommand, GetDatabaseCommand, GetJobCommand } from '@aws-sdk/client-glue';
import { DescribeStreamSummaryCommand } from '@aws-sdk/client-kinesis';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { expect, it } from 'vitest';
import { bootstrap, formatResource, type ResourceResult } from '../../../src/bootstrap/index.js';
import { ATHENA_OUTPUT, LAKE_URI, NAMES, type SuiteContext } from './context.js';

const SCRIPTS_DIR = join(import.meta.dirname, '../../../src/glue/jobs');

/** Every resource of the suite's config, in bootstrap's order, as `[kind, name]`. */
const EXPECTED: [ResourceResult['kind'], string][] = [
  ['kinesis stream', NAMES.stream],
  ['s3 bucket', NAMES.lakeBucket],
  ['s3 bucket', NAMES.deadLetterBucket],
  ['s3 bucket', NAMES.athenaBucket],
  ['dynamodb table', NAMES.stateTable],
  ['glue database', NAMES.database],
  ['glue script', `${LAKE_URI}/glue-scripts/bronze_to_silver.py`],
  ['glue script', `${LAKE_URI}/glue-scripts/silver_to_gold.py`],
  ['glue script', `${LAKE_URI}/glue-scripts/lakelib.py`],
  ['glue job', NAMES.bronzeToSilver],
  ['glue job', NAMES.silverToGold],
  ['glue crawler', NAMES.crawler],
  ['athena workgroup', NAMES.workgroup],
];

/** Registers the bootstrap scenario. */
export function bootstrapScenario(ctx: SuiteContext): void {
  it('bootstrap creates every resource of the config, each as asked, and a second run only finds them', async () => {
    const first = await ctx.bootstrapped();
    expect(first.resources.map((r) => [r.kind, r.name])).toEqual(EXPECTED);
    expect(first.resources.filter((r) => r.status !== 'created').map(formatResource)).toEqual([]);
    // Endpoints come from the backend's environment (a per-service one wins for Kinesis).
    expect(first.endpoints.kinesis?.url).toBe(ctx.env.AWS_ENDPOINT_URL_KINESIS ?? ctx.env.AWS_ENDPOINT_URL);
    expect(first.endpoints.glue?.url).toBe(ctx.env.AWS_ENDPOINT_URL);

    // The stream: ACTIVE with the asked shard count.
    const stream = await ctx.kinesis.send(new DescribeStreamSummaryCommand({ StreamName: NAMES.stream }));
    expect(stream.StreamDescriptionSummary).toMatchObject({
      StreamStatus: 'ACTIVE',
      OpenShardCount: NAMES.shards,
    });
    // The buckets.
    for (const bucket of [NAMES.lakeBucket, NAMES.deadLetterBucket, NAMES.athenaBucket]) {
      await ctx.s3.send(new HeadBucketCommand({ Bucket: bucket }));
    }
    // The state table: key pk (S), on demand, TTL on expiresAt.
    const table = (await ctx.dynamodb.send(new DescribeTableCommand({ TableName: NAMES.stateTable }))).Table;
    expect(table?.KeySchema).toEqual([{ AttributeName: 'pk', KeyType: 'HASH' }]);
    expect(table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
    const ttl = await ctx.dynamodb.send(new DescribeTimeToLiveCommand({ TableName: NAMES.stateTable }));
    expect(ttl.TimeToLiveDescription).toMatchObject({
      AttributeName: 'expiresAt',
      TimeToLiveStatus: 'ENABLED',
    });
    // The Glue database, the scripts (byte for byte), the jobs and the crawler.
    expect((await ctx.glue.send(new GetDatabaseCommand({ Name: NAMES.database }))).Database?.Name).toBe(
      NAMES.database,
    );
    for (const file of ['bronze_to_silver.py', 'silver_to_gold.py', 'lakelib.py']) {
      const stored = Buffer.from(await ctx.getObject(NAMES.lakeBucket, `glue-scripts/${file}`));
      expect(stored.equals(await readFile(join(SCRIPTS_DIR, file))), file).toBe(true);
    }
    for (const [name, script] of [
      [NAMES.bronzeToSilver, 'bronze_to_silver.py'],
      [NAMES.silverToGold, 'silver_to_gold.py'],
    ] as const) {
      const job = (await ctx.glue.send(new GetJobCommand({ JobName: name }))).Job;
      expect(job, name).toMatchObject({
        Name: name,
        Command: { Name: 'glueetl', ScriptLocation: `${LAKE_URI}/glue-scripts/${script}` },
        GlueVersion: '5.0',
        ExecutionProperty: { MaxConcurrentRuns: 1 },
        DefaultArguments: {
          '--extra-py-files': `${LAKE_URI}/glue-scripts/lakelib.py`,
          '--datalake-formats': 'iceberg',
          '--database': NAMES.database,
        },
      });
      expect(job?.DefaultArguments?.['--conf']).toContain(
        `spark.sql.catalog.iceberg.warehouse=${LAKE_URI}/iceberg`,
      );
    }
    const crawler = (await ctx.glue.send(new GetCrawlerCommand({ Name: NAMES.crawler }))).Crawler;
    expect(crawler?.DatabaseName).toBe(NAMES.database);
    expect(crawler?.Targets?.S3Targets?.map((t) => t.Path)).toEqual([`${LAKE_URI}/bronze/`]);
    expect(crawler?.State).toBe('READY');
    // The workgroup, with the config's result location.
    const wg = (await ctx.athena.send(new GetWorkGroupCommand({ WorkGroup: NAMES.workgroup }))).WorkGroup;
    expect(wg?.Configuration?.ResultConfiguration?.OutputLocation).toBe(ATHENA_OUTPUT);

    // Idempotent: a second run finds everything and changes nothing.
    const lines: string[] = [];
    const second = await bootstrap(ctx.config, {
      env: ctx.env,
      shards: 1,
      onResource: (r) => lines.push(formatResource(r)),
    });
    expect(second.resources.map((r) => [r.kind, r.name, r.status])).toEqual(
      EXPECTED.map(([kind, name]) => [kind, name, 'exists']),
    );
    expect(lines).toHaveLength(EXPECTED.length);
    expect(lines[0]).toMatch(
      new RegExp(`^exists {2}kinesis stream {4}${NAMES.stream} \\(2 shards, ACTIVE\\)$`),
    );
    const again = await ctx.kinesis.send(new DescribeStreamSummaryCommand({ StreamName: NAMES.stream }));
    expect(again.StreamDescriptionSummary?.OpenShardCount).toBe(NAMES.shards);
  });

  it('bootstrap refuses the backend config pointed at AWS, before calling anything', async () => {
    const err = await bootstrap(ctx.config, {
      env: { ...ctx.env, AWS_ENDPOINT_URL_GLUE: 'https://glue.us-east-1.amazonaws.com' },
    }).catch((e: unknown) => e);
    expect((err as Error).name).toBe('ConfigError');
    expect((err as Error).message).toMatch(
      /glue: AWS_ENDPOINT_URL_GLUE is https:\/\/glue\.us-east-1\.amazonaws\.com, a real AWS endpoint/,
    );
  });
}
