/**
 * deploy/config/*.yaml: valid with the real config loader, every variable they use is set by the
 * stack's task definitions, and the two files differ only in `consumers`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { cleanupSynth, resourcesOfType, synth } from './synth.js';

afterAll(cleanupSynth);

const dir = join(import.meta.dirname, '..', '..', 'deploy', 'config');
const read = (f: string) => readFileSync(join(dir, f), 'utf8');
/** Variables a config text refers to, without and with a default. */
const variables = (text: string) => [...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}/g)];

/** The container environment and secret names of a task definition family. */
function containerEnv(family: string, context: Record<string, string> = {}) {
  const s = synth(context);
  const td = resourcesOfType(s, 'AWS::ECS::TaskDefinition').find(([, r]) => r.Properties.Family === family);
  if (!td) throw new Error(`no task definition ${family}`);
  const c = td[1].Properties.ContainerDefinitions[0];
  return {
    env: Object.fromEntries(
      (c.Environment ?? []).map((e: { Name: string; Value: unknown }) => [e.Name, e.Value]),
    ),
    secrets: (c.Secrets ?? []).map((e: { Name: string }) => e.Name) as string[],
  };
}

describe.each(['aws.yaml', 'aws-bronze-writer.yaml', 'aws-firehose.yaml'])('deploy/config/%s', (file) => {
  const text = read(file);

  it('is valid with the defaults (as `ingest validate-config` sees it on a laptop)', () => {
    const config = parseConfig(text, file, {});
    expect(config.state).toEqual({ type: 'dynamodb', tableName: 'ingest-dev-state' });
    expect(config.telemetry).toMatchObject({ host: '0.0.0.0', runPort: 9464, consumePort: 9465 });
    const hourly = config.consumers.find((c) => c.type === 'hourly');
    expect(hourly).toMatchObject({ executor: { type: 'aws' }, queryEngine: { type: 'athena' } });
    expect(config.consumers.some((c) => c.type === 'bronze')).toBe(file === 'aws-bronze-writer.yaml');
  });

  it('is valid with the values the stack sets', () => {
    const config = parseConfig(text, file, {
      INGEST_STREAM: 'ingest-prod',
      INGEST_LAKE_URI: 's3://lake-bucket',
      INGEST_DEAD_LETTER_URI: 's3://dl-bucket',
      INGEST_STATE_TABLE: 'ingest-prod-state',
      INGEST_DATABASE: 'lake',
      INGEST_BRONZE_TO_SILVER_JOB: 'ingest-prod-bronze_to_silver',
      INGEST_SILVER_TO_GOLD_JOB: 'ingest-prod-silver_to_gold',
      INGEST_ATHENA_WORKGROUP: 'ingest-prod',
      INGEST_ATHENA_OUTPUT: 's3://results/athena/',
      INGEST_GRACE_SECS: '900',
    });
    const hourly = config.consumers.find((c) => c.type === 'hourly');
    // Gold is an Iceberg table in the catalog (ADR 0015): no crawler to start after a gold run.
    expect(hourly).not.toHaveProperty('crawlerName');
    expect(hourly).toMatchObject({
      graceSecs: 900,
      jobs: { bronzeToSilver: 'ingest-prod-bronze_to_silver', silverToGold: 'ingest-prod-silver_to_gold' },
    });
  });

  it('uses only variables the task definitions set (or that have a default), secrets by name only', () => {
    const contexts: Record<string, Record<string, string>> = {
      'aws.yaml': {},
      'aws-bronze-writer.yaml': { useFirehose: 'false' },
      'aws-firehose.yaml': { sink: 'firehose' },
    };
    const context = contexts[file]!;
    const run = containerEnv('ingest-dev-run', context);
    const consume = containerEnv('ingest-dev-consume', context);
    expect(run.env).toEqual(consume.env);
    for (const [, name, def] of variables(text)) {
      if (def === undefined) throw new Error(`${file}: \${${name}} has no default`);
      if (name!.startsWith('INGEST_')) expect(Object.keys(run.env), name).toContain(name);
    }
    expect(text).toMatch(/tokenEnv: GITHUB_TOKEN/);
    expect(run.secrets).toEqual(['GITHUB_TOKEN']);
    expect(consume.secrets).toEqual([]);
  });
});

it('aws.yaml and aws-bronze-writer.yaml differ only in consumers (the bronze writer)', () => {
  const a = parse(read('aws.yaml'));
  const b = parse(read('aws-bronze-writer.yaml'));
  expect(b.consumers.filter((c: { type: string }) => c.type !== 'bronze')).toEqual(a.consumers);
  expect({ ...b, consumers: undefined }).toEqual({ ...a, consumers: undefined });
});

it('aws.yaml and aws-firehose.yaml (cdk -c sink=firehose) differ only in sinks', () => {
  const a = parse(read('aws.yaml'));
  const f = parse(read('aws-firehose.yaml'));
  expect(f.sinks).toEqual([
    {
      name: 'firehose',
      type: 'firehose',
      deliveryStreamName: '${INGEST_DELIVERY_STREAM:-ingest-dev-bronze}',
    },
  ]);
  expect({ ...f, sinks: undefined }).toEqual({ ...a, sinks: undefined });
});
