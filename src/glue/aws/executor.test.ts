/**
 * AwsGlueExecutor and the AWS error classification with a scripted client, for what moto does not
 * produce: failed runs with ErrorMessage, failed crawls, throttling, 5xx and network errors. The
 * moto-backed tests are in test/integration/glue-athena.test.ts.
 */
import {
  ConcurrentRunsExceededException,
  CrawlerRunningException,
  EntityNotFoundException,
  type GlueClient,
  InternalServiceException,
  ThrottlingException,
} from '@aws-sdk/client-glue';
import { describe, expect, it } from 'vitest';
import { ConcurrentRunsExceededError, CrawlerRunningError, GlueError } from '../errors.js';
import { isTransientAwsError, toGlueError } from './errors.js';
import { AwsGlueExecutor } from './executor.js';

function scripted(answer: (command: { input: Record<string, unknown> }) => unknown): GlueClient {
  return {
    send: async (command: { input: Record<string, unknown> }) => {
      const out = answer(command);
      if (out instanceof Error) throw out;
      return out;
    },
    destroy: () => undefined,
  } as unknown as GlueClient;
}

const meta = (status: number) => ({ $metadata: { httpStatusCode: status } });

describe('AwsGlueExecutor (unit)', () => {
  it('maps a failed run: state, ErrorMessage and ExecutionTime', async () => {
    const executor = new AwsGlueExecutor({
      client: scripted(() => ({
        JobRun: {
          Id: 'jr_1',
          JobRunState: 'FAILED',
          ErrorMessage: 'AnalysisException: Path does not exist: s3://lake/bronze/source=x',
          ExecutionTime: 42,
        },
      })),
    });
    expect(await executor.getJobRun('job', 'jr_1')).toEqual({
      runId: 'jr_1',
      state: 'FAILED',
      errorMessage: 'AnalysisException: Path does not exist: s3://lake/bronze/source=x',
      executionTimeSecs: 42,
    });
  });

  it('maps a failed last crawl', async () => {
    const executor = new AwsGlueExecutor({
      client: scripted(() => ({
        Crawler: {
          State: 'READY',
          LastCrawl: { Status: 'FAILED', ErrorMessage: 'Access denied on s3://lake' },
        },
      })),
    });
    expect(await executor.getCrawler('c')).toEqual({
      state: 'READY',
      lastCrawlStatus: 'FAILED',
      lastCrawlError: 'Access denied on s3://lake',
    });
  });

  it('prefixes arguments with -- in StartJobRun', async () => {
    let input: Record<string, unknown> | undefined;
    const executor = new AwsGlueExecutor({
      client: scripted((command) => {
        input = command.input;
        return { JobRunId: 'jr_2' };
      }),
    });
    expect(
      await executor.startJobRun('silver_to_gold', { hour: '2024-03-06T10', lake_uri: 's3://lake' }),
    ).toBe('jr_2');
    expect(input).toEqual({
      JobName: 'silver_to_gold',
      Arguments: { '--hour': '2024-03-06T10', '--lake_uri': 's3://lake' },
    });
  });
});

describe('toGlueError', () => {
  const cases: [Error, typeof GlueError, boolean][] = [
    [
      new ConcurrentRunsExceededException({ message: 'busy', ...meta(400) }),
      ConcurrentRunsExceededError,
      true,
    ],
    [new CrawlerRunningException({ message: 'running', ...meta(400) }), CrawlerRunningError, true],
    [new ThrottlingException({ message: 'Rate exceeded', ...meta(400) }), GlueError, true],
    [new InternalServiceException({ message: 'oops', ...meta(500) }), GlueError, true],
    [Object.assign(new Error('bad gateway'), { name: 'Unknown', ...meta(502) }), GlueError, true],
    [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }), GlueError, true],
    [new EntityNotFoundException({ message: 'no job', ...meta(400) }), GlueError, false],
    [
      Object.assign(new Error('denied'), { name: 'AccessDeniedException', $fault: 'client', ...meta(403) }),
      GlueError,
      false,
    ],
  ];
  for (const [err, type, retriable] of cases) {
    it(`${err.name} (${err.message}) → ${type.name}, retriable ${retriable}`, () => {
      const mapped = toGlueError(err, 'Op');
      expect(mapped).toBeInstanceOf(type);
      expect((mapped as GlueError).retriable).toBe(retriable);
      expect((mapped as Error).cause).toBe(err);
      expect((mapped as Error).message).toBe(`Op: ${err.name}: ${err.message}`);
      // "Later" errors are retriable by contract, not because the service call was transient.
      if (type === GlueError) expect(isTransientAwsError(err)).toBe(retriable);
    });
  }

  it('returns programmer errors and GlueErrors unchanged', () => {
    const typeError = new TypeError('x is not a function');
    expect(toGlueError(typeError, 'Op')).toBe(typeError);
    const glueError = new GlueError('already classified');
    expect(toGlueError(glueError, 'Op')).toBe(glueError);
  });
});
