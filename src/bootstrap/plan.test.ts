import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config/load.js';
import { ConfigError } from '../errors.js';
import { jobScriptsDir } from './index.js';

/** The Iceberg job arguments, as the CDK app sets them (catalog `iceberg` = Glue Data Catalog). */
const ICEBERG_ARGS = {
  '--datalake-formats': 'iceberg',
  '--conf': [
    'spark.sql.extensions=org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions',
    'spark.sql.catalog.iceberg=org.apache.iceberg.spark.SparkCatalog',
    'spark.sql.catalog.iceberg.catalog-impl=org.apache.iceberg.aws.glue.GlueCatalog',
    'spark.sql.catalog.iceberg.io-impl=org.apache.iceberg.aws.s3.S3FileIO',
    'spark.sql.catalog.iceberg.warehouse=s3://lake/root/iceberg',
  ].join(' --conf '),
  '--database': 'lakedb',
};

import { planBootstrap, servicesOf } from './plan.js';

const base = `
sinks:
  - type: kinesis
    streamName: ingest
consumers:
  - type: bronze
    streamName: ingest
    lakeUri: s3://lake-bucket/zone
`;

describe('planBootstrap', () => {
  it('plans the whole AWS-shaped config: stream once, buckets once, table, Glue and Athena', () => {
    const config = parseConfig(`
sinks:
  - { name: a, type: kinesis, streamName: ingest }
  - { name: b, type: kinesis, streamName: other, endpoint: "http://127.0.0.1:4567" }
consumers:
  - { type: bronze, streamName: ingest, lakeUri: s3://lake }
  - { type: bronze, name: b2, streamName: third, lakeUri: s3://lake }
  - type: hourly
    lakeUri: s3://lake/root
    maxConcurrentRuns: 3
    crawlerName: lake-crawler
    jobs: { bronzeToSilver: b2s, silverToGold: s2g }
    executor: { type: aws }
    queryEngine: { type: athena, workgroup: wg }
state: { type: dynamodb, tableName: ingest-state }
deadLetter: { uri: s3://dlq/errors }
lake: { uri: s3://lake, database: lakedb }
`);
    const plan = planBootstrap(config, { shards: 4 });
    expect(plan).toEqual({
      streams: [
        { name: 'ingest', shards: 4 },
        { name: 'other', shards: 4, sinkEndpoint: { url: 'http://127.0.0.1:4567', sink: 'b' } },
        { name: 'third', shards: 4 },
      ],
      buckets: ['lake', 'dlq'],
      stateTable: 'ingest-state',
      glue: {
        database: 'lakedb',
        scripts: [
          { file: 'bronze_to_silver.py', uri: 's3://lake/root/glue-scripts/bronze_to_silver.py' },
          { file: 'silver_to_gold.py', uri: 's3://lake/root/glue-scripts/silver_to_gold.py' },
          { file: 'lakelib.py', uri: 's3://lake/root/glue-scripts/lakelib.py' },
        ],
        jobs: [
          {
            name: 'b2s',
            role: 'bronzeToSilver',
            scriptUri: 's3://lake/root/glue-scripts/bronze_to_silver.py',
            extraPyFilesUri: 's3://lake/root/glue-scripts/lakelib.py',
            maxConcurrentRuns: 3,
            icebergArguments: ICEBERG_ARGS,
          },
          {
            name: 's2g',
            role: 'silverToGold',
            scriptUri: 's3://lake/root/glue-scripts/silver_to_gold.py',
            extraPyFilesUri: 's3://lake/root/glue-scripts/lakelib.py',
            maxConcurrentRuns: 1,
            icebergArguments: ICEBERG_ARGS,
          },
        ],
        crawlers: [
          {
            name: 'lake-crawler',
            database: 'lakedb',
            targets: ['s3://lake/root/bronze/'],
          },
        ],
      },
      workgroups: [{ name: 'wg', outputLocation: 's3://lake/root/athena-results/' }],
    });
    expect(servicesOf(plan)).toEqual(['kinesis', 's3', 'dynamodb', 'glue', 'athena']);
  });

  it('plans only a stream for the default local config (file lake, file state, local executor)', () => {
    const text = readFileSync(join(import.meta.dirname, '../../config/local.yaml'), 'utf8');
    const plan = planBootstrap(parseConfig(text, 'config/local.yaml', {}));
    expect(plan).toEqual({ streams: [{ name: 'ingest-local', shards: 2 }], buckets: [], workgroups: [] });
    expect(servicesOf(plan)).toEqual(['kinesis']);
  });

  it('needs the Glue database, not jobs, when only Athena is used; the output location bucket is planned', () => {
    const config = parseConfig(`${base}
  - type: hourly
    lakeUri: file://./data/lake
    qualityQuery: SELECT 1 AS value
    queryEngine: { type: athena, workgroup: primary, outputLocation: "s3://results/athena/" }
`);
    const plan = planBootstrap(config);
    expect(plan.buckets).toEqual(['lake-bucket', 'results']);
    expect(plan.glue).toEqual({ database: 'lake', scripts: [], jobs: [], crawlers: [] });
    expect(plan.workgroups).toEqual([{ name: 'primary', outputLocation: 's3://results/athena/' }]);
  });

  it('refuses Glue jobs over a local lake and a bad shard count', () => {
    const config = parseConfig(`${base}
  - type: hourly
    name: h1
    lakeUri: file://./data/lake
    executor: { type: aws }
`);
    expect(() => planBootstrap(config)).toThrow(ConfigError);
    expect(() => planBootstrap(config)).toThrow(/hourly consumer "h1" runs its jobs in Glue .* not s3:\/\//);
    expect(() => planBootstrap(parseConfig(base), { shards: 0 })).toThrow(
      /shards must be a positive integer/,
    );
  });

  it('leaves Kinesis out of the services when every stream names its endpoint in its sink', () => {
    const plan = planBootstrap(
      parseConfig(`
sinks:
  - { type: kinesis, streamName: s, endpoint: "http://127.0.0.1:4567" }
`),
    );
    expect(servicesOf(plan)).toEqual([]);
    expect(servicesOf(plan, 'http://127.0.0.1:4566')).toEqual(['kinesis']);
  });
});

describe('jobScriptsDir', () => {
  it('finds src/glue/jobs from src/bootstrap and from a dist-like folder', () => {
    const fromSrc = jobScriptsDir(import.meta.dirname);
    expect(fromSrc.endsWith(join('glue', 'jobs'))).toBe(true);
    expect(jobScriptsDir(join(import.meta.dirname, '../../dist/bootstrap'))).toBe(
      join(import.meta.dirname, '../../src/glue/jobs'),
    );
    expect(() => jobScriptsDir('/')).toThrow(/cannot find the Glue job scripts/);
  });
});
