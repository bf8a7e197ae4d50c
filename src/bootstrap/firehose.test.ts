import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config/load.js';
import { ConfigError } from '../errors.js';
import { BRONZE_FIREHOSE_PREFIX, deliveryStreamInput } from './firehose.js';
import { planBootstrap, servicesOf } from './plan.js';

describe('firehose bootstrap', () => {
  it('plans a DirectPut delivery stream per firehose sink, writing bronze under lake.uri', () => {
    const config = parseConfig(`
sinks:
  - { type: firehose, deliveryStreamName: ingest-bronze }
lake: { uri: s3://lake-bucket/zone }
`);
    const plan = planBootstrap(config);
    expect(plan.deliveryStreams).toEqual([{ name: 'ingest-bronze', bucket: 'lake-bucket', prefix: 'zone' }]);
    expect(plan.streams).toEqual([]);
    expect(plan.buckets).toContain('lake-bucket');
    expect(servicesOf(plan)).toEqual(['firehose', 's3']);
  });

  it('refuses a firehose sink with a lake that is not on S3', () => {
    const config = parseConfig(`
sinks:
  - { type: firehose, deliveryStreamName: ingest-bronze }
lake: { uri: "file://./data/lake" }
`);
    expect(() => planBootstrap(config)).toThrow(ConfigError);
  });

  it('builds the design bronze layout: dynamic partitioning by source and arrival hour, GZIP, .json.gz', () => {
    const input = deliveryStreamInput(
      { name: 's', bucket: 'b', prefix: 'lake' },
      { roleArn: 'arn:aws:iam::1:role/r' },
    );
    const dest = input.ExtendedS3DestinationConfiguration!;
    expect(input.DeliveryStreamType).toBe('DirectPut');
    expect(dest.Prefix).toBe(
      'lake/bronze/source=!{partitionKeyFromQuery:source}/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/',
    );
    expect(dest.Prefix).toBe(`lake/${BRONZE_FIREHOSE_PREFIX}`);
    expect(dest.ErrorOutputPrefix).toMatch(/^lake\/bronze-errors\/!\{firehose:error-output-type\}\//);
    expect(dest.CompressionFormat).toBe('GZIP');
    expect(dest.FileExtension).toBe('.json.gz');
    expect(dest.DynamicPartitioningConfiguration?.Enabled).toBe(true);
    // Dynamic partitioning needs a buffer of at least 64 MiB.
    expect(dest.BufferingHints?.SizeInMBs).toBeGreaterThanOrEqual(64);
    expect(dest.ProcessingConfiguration?.Processors?.[0]?.Parameters).toContainEqual({
      ParameterName: 'MetadataExtractionQuery',
      ParameterValue: '{source:.source}',
    });
  });
});
