import { describe, expect, it } from 'vitest';
import { ContextError, contextArgs, DEFAULT_CONTEXT, parseContext } from '../../deploy/cdk/context.js';

const from = (ctx: Record<string, unknown>) => parseContext((k) => ctx[k]);

describe('parseContext', () => {
  it('defaults to an on-demand stream, Firehose with 300 s / 64 MiB buffers, env dev', () => {
    expect(from({})).toEqual(DEFAULT_CONTEXT);
    expect(DEFAULT_CONTEXT).toMatchObject({
      envName: 'dev',
      sink: 'kinesis',
      streamMode: 'on-demand',
      useFirehose: true,
      firehoseBufferSecs: 300,
      firehoseBufferMiB: 64,
    });
  });

  it('accepts strings (-c key=value) and JSON values (cdk.json)', () => {
    const expected = {
      envName: 'prod',
      streamMode: 'provisioned',
      shardCount: 4,
      firehoseBufferSecs: 900,
      firehoseBufferMiB: 128,
      useFirehose: false,
    };
    expect(
      from({
        env: 'prod',
        streamMode: 'provisioned',
        shardCount: '4',
        firehoseBufferSecs: '900',
        firehoseBufferMiB: '128',
        useFirehose: 'false',
      }),
    ).toMatchObject(expected);
    expect(
      from({
        env: 'prod',
        streamMode: 'provisioned',
        shardCount: 4,
        firehoseBufferSecs: 900,
        firehoseBufferMiB: 128,
        useFirehose: false,
      }),
    ).toMatchObject(expected);
  });

  it('sink=firehose selects the DirectPut variant', () => {
    expect(from({ sink: 'firehose' })).toEqual({ ...DEFAULT_CONTEXT, sink: 'firehose' });
  });

  it('budgetsCache and sourceSecrets are absent by default, and parsed from -c or cdk.json', () => {
    expect(from({})).not.toHaveProperty('budgetsCache');
    expect(from({})).not.toHaveProperty('sourceSecrets');
    expect(from({ budgetsCache: 'false' })).toEqual(DEFAULT_CONTEXT);
    expect(from({ budgetsCache: 'true' }).budgetsCache).toBe(true);
    expect(from({ budgetsCache: true }).budgetsCache).toBe(true);
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf';
    expect(from({ sourceSecrets: ` ingest/*, ${arn},github/token,ingest/*` }).sourceSecrets).toEqual([
      'ingest/*',
      arn,
      'github/token',
    ]);
    expect(from({ sourceSecrets: ['ingest/*'] }).sourceSecrets).toEqual(['ingest/*']);
    // Another environment's prefix, or the stack's own GitHub token by name, is fine.
    expect(from({ sourceSecrets: 'ingest-prod/*,ingest-dev/GITHUB_TOKEN' }).sourceSecrets).toHaveLength(2);
  });

  it.each([
    [{ budgetsCache: 'yes' }, /budgetsCache/],
    [{ sourceSecrets: 'a,,b' }, /sourceSecrets/],
    [{ sourceSecrets: '*' }, /sourceSecrets/],
    [{ sourceSecrets: 'ingest/*/x' }, /sourceSecrets/],
    [{ sourceSecrets: 'arn:aws:s3:::bucket' }, /sourceSecrets/],
    [{ sourceSecrets: [] }, /sourceSecrets/],
    [{ sourceSecrets: 'ingest-dev/*' }, /covers the stack's PII key ingest-dev\/INGEST_PII_KEY/],
    [{ sourceSecrets: 'ingest*', env: 'prod' }, /PII key ingest-prod\/INGEST_PII_KEY/],
    [{ sourceSecrets: 'ingest-dev/INGEST_PII_KEY' }, /PII key/],
    [
      {
        sourceSecrets:
          'arn:aws:secretsmanager:eu-west-1:123456789012:secret:ingest-dev/INGEST_PII_KEY-AbCdEf',
      },
      /PII key/,
    ],
    [{ streamMode: 'ondemand' }, /streamMode/],
    [{ shardCount: '0' }, /shardCount/],
    [{ shardCount: '1.5' }, /shardCount/],
    [{ firehoseBufferMiB: '32' }, /firehoseBufferMiB: expected an integer 64-128/],
    [{ firehoseBufferSecs: '901' }, /firehoseBufferSecs/],
    [{ useFirehose: 'yes' }, /useFirehose/],
    [{ env: 'Prod_1' }, /env/],
    [{ imageUri: 'no-tag' }, /imageUri/],
    [{ runMaxTasks: '5' }, /runMaxTasks/],
    [{ runMaxTasks: '51', coordination: 'true' }, /runMaxTasks/],
    [{ coordination: 'maybe' }, /coordination/],
    [{ sink: 'kafka' }, /context sink: expected kinesis or firehose/],
    [{ sink: 'firehose', useFirehose: 'false' }, /sink=firehose/],
  ])('rejects %j', (ctx, message) => {
    expect(() => from(ctx)).toThrow(ContextError);
    expect(() => from(ctx)).toThrow(message);
  });
});

describe('contextArgs (node app.ts -c key=value)', () => {
  it('reads -c and --context pairs, keeping = in values', () => {
    expect(contextArgs(['-c', 'env=prod', '--context', 'imageUri=r/x:1=2', 'other'])).toEqual({
      env: 'prod',
      imageUri: 'r/x:1=2',
    });
  });
  it('rejects a pair without key=value', () => {
    expect(() => contextArgs(['-c', 'useFirehose'])).toThrow(ContextError);
  });
});
