/**
 * {@link QueryEngine} over Amazon Athena (AWS SDK v3 `@aws-sdk/client-athena`): StartQueryExecution,
 * then GetQueryExecution polled with capped exponential backoff until a terminal state, then
 * GetQueryResults paged with `NextToken`.
 */
import { randomUUID } from 'node:crypto';
import {
  AthenaClient,
  GetQueryExecutionCommand,
  type GetQueryExecutionCommandOutput,
  GetQueryResultsCommand,
  type GetQueryResultsCommandOutput,
  type Row,
  StartQueryExecutionCommand,
  StopQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import { GlueError, QueryFailedError } from '../errors.js';
import type { QueryEngine, QueryResult } from '../types.js';
import { toGlueError } from './errors.js';

export interface AthenaQueryEngineOptions {
  /** Athena workgroup (`WorkGroup`), e.g. `primary`. Its enforced settings win over {@link outputLocation}. */
  workgroup: string;
  /** Glue Data Catalog database the queries run in (`QueryExecutionContext.Database`), e.g. `lake`. */
  database: string;
  /** Data catalog (`QueryExecutionContext.Catalog`). @default 'AwsDataCatalog' (Athena's default, not sent) */
  catalog?: string;
  /**
   * `s3://bucket/prefix/` for the result files (`ResultConfiguration.OutputLocation`). Required by
   * Athena unless the workgroup defines one. @default the workgroup's output location
   */
  outputLocation?: string;
  /** First delay between two GetQueryExecution calls, in ms; doubles after each poll. @default 500 */
  pollIntervalMs?: number;
  /** Ceiling of the delay between two polls, in ms. @default 5000 */
  maxPollIntervalMs?: number;
  /**
   * How long one query may take from StartQueryExecution to a terminal state, in ms. On expiry the
   * engine calls StopQueryExecution and throws a retriable {@link QueryFailedError}. @default 300000
   */
  timeoutMs?: number;
  /** Rows per GetQueryResults page (Athena allows at most 1000). @default 1000 */
  pageSize?: number;
  /**
   * A ready client; not destroyed by {@link AthenaQueryEngine.close}. When absent the engine creates
   * an {@link AthenaClient} from {@link region} and {@link endpoint} and the SDK's chains
   * (`AWS_REGION`, `AWS_ENDPOINT_URL_ATHENA`, then `AWS_ENDPOINT_URL`).
   */
  client?: AthenaClient;
  /** AWS region when the engine creates the client. @default the SDK's region chain */
  region?: string;
  /** Endpoint URL when the engine creates the client. @default the SDK's resolution (see {@link client}) */
  endpoint?: string;
}

/** Terminal query states (Athena `QueryExecutionStatus.State`). */
const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);

/** Runs SQL in Athena and returns every row as strings (or `null`), like Athena itself. Kind `athena`. */
export class AthenaQueryEngine implements QueryEngine {
  readonly kind = 'athena' as const;
  private readonly client: AthenaClient;
  private readonly ownsClient: boolean;
  private readonly pollIntervalMs: number;
  private readonly maxPollIntervalMs: number;
  private readonly timeoutMs: number;
  private readonly pageSize: number;

  constructor(private readonly options: AthenaQueryEngineOptions) {
    this.ownsClient = options.client === undefined;
    this.client =
      options.client ??
      new AthenaClient({
        ...(options.region ? { region: options.region } : {}),
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      });
    this.pollIntervalMs = options.pollIntervalMs ?? 500;
    this.maxPollIntervalMs = Math.max(this.pollIntervalMs, options.maxPollIntervalMs ?? 5_000);
    this.timeoutMs = options.timeoutMs ?? 300_000;
    this.pageSize = Math.min(1000, Math.max(1, options.pageSize ?? 1000));
  }

  /**
   * Runs one statement and returns its columns (`ResultSetMetadata.ColumnInfo[].Name`) and every row.
   *
   * StartQueryExecution carries a fresh `ClientRequestToken`, so the SDK's own retries of that call
   * cannot start the query twice. For a SELECT (`StatementType` `DML`) Athena returns the column
   * labels as the first row of the first page ("Working with query results", Athena User Guide): that
   * row is dropped when it equals the column names. A `Datum` without `VarCharValue` is SQL NULL.
   *
   * @throws QueryFailedError when the query ends `FAILED` (message from `StateChangeReason`;
   *   retriable when `AthenaError.Retryable` says so), `CANCELLED` (not retriable), or does not end
   *   within `timeoutMs` (retriable; the query is stopped).
   * @throws GlueError when an Athena call fails (throttling, 5xx, network: retriable).
   */
  async query(sql: string): Promise<QueryResult> {
    const id = await this.start(sql);
    const execution = await this.waitForTerminal(id);
    const status = execution.Status;
    if (status?.State === 'FAILED') {
      const reason = status.StateChangeReason ?? status.AthenaError?.ErrorMessage ?? 'no reason given';
      throw new QueryFailedError(`Athena query ${id} failed: ${reason}`, {
        retriable: status.AthenaError?.Retryable === true,
      });
    }
    if (status?.State === 'CANCELLED') {
      throw new QueryFailedError(
        `Athena query ${id} was cancelled${status.StateChangeReason ? `: ${status.StateChangeReason}` : ''}`,
      );
    }
    return this.readResults(id, execution.StatementType);
  }

  private async start(sql: string): Promise<string> {
    const { workgroup, database, catalog, outputLocation } = this.options;
    try {
      const out = await this.client.send(
        new StartQueryExecutionCommand({
          QueryString: sql,
          WorkGroup: workgroup,
          ClientRequestToken: randomUUID(),
          QueryExecutionContext: { Database: database, ...(catalog ? { Catalog: catalog } : {}) },
          ...(outputLocation ? { ResultConfiguration: { OutputLocation: outputLocation } } : {}),
        }),
      );
      if (!out.QueryExecutionId)
        throw new GlueError('StartQueryExecution: the response has no QueryExecutionId');
      return out.QueryExecutionId;
    } catch (err) {
      throw toGlueError(err, 'Athena StartQueryExecution');
    }
  }

  /** Polls GetQueryExecution (delay `pollIntervalMs`, doubling up to `maxPollIntervalMs`) until terminal. */
  private async waitForTerminal(
    id: string,
  ): Promise<NonNullable<GetQueryExecutionCommandOutput['QueryExecution']>> {
    const deadline = Date.now() + this.timeoutMs;
    let delay = this.pollIntervalMs;
    for (;;) {
      let out: GetQueryExecutionCommandOutput;
      try {
        out = await this.client.send(new GetQueryExecutionCommand({ QueryExecutionId: id }));
      } catch (err) {
        throw toGlueError(err, `Athena GetQueryExecution ${id}`);
      }
      const execution = out.QueryExecution;
      const state = execution?.Status?.State;
      if (execution && state && TERMINAL.has(state)) return execution;
      const left = deadline - Date.now();
      if (left <= 0) {
        await this.client
          .send(new StopQueryExecutionCommand({ QueryExecutionId: id }))
          .catch(() => undefined);
        throw new QueryFailedError(
          `Athena query ${id} did not finish within ${this.timeoutMs} ms (last state ${state ?? 'unknown'}); stopped it`,
          { retriable: true },
        );
      }
      await new Promise((r) => setTimeout(r, Math.min(delay, left)));
      delay = Math.min(delay * 2, this.maxPollIntervalMs);
    }
  }

  /** Pages through GetQueryResults (`MaxResults` = `pageSize`, `NextToken`). */
  private async readResults(id: string, statementType: string | undefined): Promise<QueryResult> {
    let columns: string[] = [];
    const rows: (string | null)[][] = [];
    let nextToken: string | undefined;
    let first = true;
    do {
      let page: GetQueryResultsCommandOutput;
      try {
        page = await this.client.send(
          new GetQueryResultsCommand({
            QueryExecutionId: id,
            MaxResults: this.pageSize,
            ...(nextToken ? { NextToken: nextToken } : {}),
          }),
        );
      } catch (err) {
        throw toGlueError(err, `Athena GetQueryResults ${id}`);
      }
      const pageRows = page.ResultSet?.Rows ?? [];
      let start = 0;
      if (first) {
        columns = (page.ResultSet?.ResultSetMetadata?.ColumnInfo ?? []).map((c) => c.Name ?? c.Label ?? '');
        if (statementType === 'DML' && pageRows[0] && isHeaderRow(pageRows[0], columns)) start = 1;
        first = false;
      }
      for (let i = start; i < pageRows.length; i++) rows.push(toValues(pageRows[i]!, columns.length));
      nextToken = page.NextToken;
    } while (nextToken);
    return { columns, rows };
  }

  /** Destroys the client when the engine created it. */
  async close(): Promise<void> {
    if (this.ownsClient) this.client.destroy();
  }
}

/** Whether a row holds exactly the column names (Athena's header row of a SELECT). */
function isHeaderRow(row: Row, columns: string[]): boolean {
  const data = row.Data ?? [];
  return data.length === columns.length && data.every((d, i) => d.VarCharValue === columns[i]);
}

/** A row's values: `VarCharValue` or `null` when absent (SQL NULL), padded to `width`. */
function toValues(row: Row, width: number): (string | null)[] {
  const data = row.Data ?? [];
  const values = data.map((d) => d.VarCharValue ?? null);
  while (values.length < width) values.push(null);
  return values;
}
