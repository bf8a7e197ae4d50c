/**
 * AthenaQueryEngine with a scripted client, for what moto does not emulate: GetQueryResults paging
 * with NextToken, FAILED queries (StateChangeReason, AthenaError.Retryable) and throttled calls. The
 * moto-backed tests are in test/integration/glue-athena.test.ts.
 */
import {
  type AthenaClient,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  StartQueryExecutionCommand,
  TooManyRequestsException,
} from '@aws-sdk/client-athena';
import { describe, expect, it } from 'vitest';
import { GlueError, QueryFailedError } from '../errors.js';
import { AthenaQueryEngine } from './athena.js';

type Handler = (command: object) => unknown;

function scripted(handler: Handler) {
  const calls: { name: string; input: Record<string, unknown> }[] = [];
  const client = {
    send: async (command: { input: Record<string, unknown> }) => {
      calls.push({ name: command.constructor.name, input: command.input });
      const out = handler(command);
      if (out instanceof Error) throw out;
      return out;
    },
    destroy: () => undefined,
  } as unknown as AthenaClient;
  return { client, calls };
}

const row = (...values: (string | null)[]) => ({
  Data: values.map((v) => (v === null ? {} : { VarCharValue: v })),
});

function engine(client: AthenaClient) {
  return new AthenaQueryEngine({
    workgroup: 'wg',
    database: 'lake',
    pollIntervalMs: 1,
    timeoutMs: 1_000,
    client,
  });
}

describe('AthenaQueryEngine (unit)', () => {
  it('pages through GetQueryResults with NextToken and drops only the header of the first page', async () => {
    const pages: Record<string, unknown> = {
      start: {
        NextToken: 'p2',
        ResultSet: {
          ResultSetMetadata: { ColumnInfo: [{ Name: 'user_id' }, { Name: 'username' }] },
          Rows: [row('user_id', 'username'), row('1', 'john')],
        },
      },
      p2: { NextToken: 'p3', ResultSet: { Rows: [row('2', null), row('user_id', 'username')] } },
      p3: { ResultSet: { Rows: [row('3')] } },
    };
    const { client, calls } = scripted((command) => {
      if (command instanceof StartQueryExecutionCommand) return { QueryExecutionId: 'q-1' };
      if (command instanceof GetQueryExecutionCommand) {
        return { QueryExecution: { StatementType: 'DML', Status: { State: 'SUCCEEDED' } } };
      }
      if (command instanceof GetQueryResultsCommand) return pages[command.input.NextToken ?? 'start'];
      throw new Error('unexpected');
    });
    expect(await engine(client).query('SELECT user_id, username FROM t')).toEqual({
      columns: ['user_id', 'username'],
      // A later row equal to the header is data; a short row is padded with nulls.
      rows: [
        ['1', 'john'],
        ['2', null],
        ['user_id', 'username'],
        ['3', null],
      ],
    });
    const results = calls.filter((c) => c.name === 'GetQueryResultsCommand').map((c) => c.input);
    expect(results).toEqual([
      { QueryExecutionId: 'q-1', MaxResults: 1000 },
      { QueryExecutionId: 'q-1', MaxResults: 1000, NextToken: 'p2' },
      { QueryExecutionId: 'q-1', MaxResults: 1000, NextToken: 'p3' },
    ]);
    const start = calls[0]!.input;
    expect(start).toMatchObject({ QueryString: 'SELECT user_id, username FROM t', WorkGroup: 'wg' });
    expect(start['QueryExecutionContext']).toEqual({ Database: 'lake' });
    expect(start['ResultConfiguration']).toBeUndefined();
    expect(start['ClientRequestToken']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('throws QueryFailedError with StateChangeReason for a FAILED query, retriable as AthenaError says', async () => {
    for (const retryable of [false, true]) {
      const { client } = scripted((command) => {
        if (command instanceof StartQueryExecutionCommand) return { QueryExecutionId: 'q-2' };
        return {
          QueryExecution: {
            Status: {
              State: 'FAILED',
              StateChangeReason: "line 1:15: Table 'lake.nope' does not exist",
              AthenaError: { ErrorCategory: 2, ErrorType: 1006, Retryable: retryable },
            },
          },
        };
      });
      const err = await engine(client)
        .query('SELECT * FROM nope')
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(QueryFailedError);
      expect((err as Error).message).toBe(
        "Athena query q-2 failed: line 1:15: Table 'lake.nope' does not exist",
      );
      expect((err as QueryFailedError).retriable).toBe(retryable);
    }
  });

  it('backs off between polls, doubling up to maxPollIntervalMs', async () => {
    const times: number[] = [];
    let polls = 0;
    const { client } = scripted((command) => {
      if (command instanceof StartQueryExecutionCommand) return { QueryExecutionId: 'q-3' };
      if (command instanceof GetQueryExecutionCommand) {
        times.push(Date.now());
        polls++;
        return { QueryExecution: { Status: { State: polls < 5 ? 'RUNNING' : 'SUCCEEDED' } } };
      }
      return { ResultSet: { ResultSetMetadata: { ColumnInfo: [] }, Rows: [] } };
    });
    const e = new AthenaQueryEngine({
      workgroup: 'wg',
      database: 'lake',
      pollIntervalMs: 20,
      maxPollIntervalMs: 50,
      client,
    });
    expect(await e.query('SELECT 1')).toEqual({ columns: [], rows: [] });
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    // Delays 20, 40, 50, 50 ms (timers may fire a little late, never early).
    expect(gaps).toHaveLength(4);
    [20, 40, 50, 50].forEach((min, i) => {
      expect(gaps[i]).toBeGreaterThanOrEqual(min - 2);
      expect(gaps[i]).toBeLessThan(min + 150);
    });
  });

  it('maps a throttled call to a retriable GlueError', async () => {
    const { client } = scripted(
      () => new TooManyRequestsException({ message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } }),
    );
    const err = await engine(client)
      .query('SELECT 1')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GlueError);
    expect((err as GlueError).retriable).toBe(true);
    expect((err as Error).message).toMatch(/StartQueryExecution: TooManyRequestsException: Rate exceeded/);
  });
});
