/**
 * Scenario "Athena round trip": one of the reference analytics (`monthly_sales_trend`) through
 * AthenaQueryEngine, built as the registry builds it (workgroup, database and result location from
 * the config, client from the environment). Where the backend runs no SQL (moto) the rows are
 * injected and the engine's parsing is checked exactly (header row dropped, NULL kept, paging of one
 * page); where it does (LocalStack), a data-free query checks the same round trip.
 */
import { GetQueryExecutionCommand, ListQueryExecutionsCommand } from '@aws-sdk/client-athena';
import { expect, it } from 'vitest';
import { AthenaQueryEngine } from '../../../src/glue/aws/athena.js';
import { ANALYTICS } from '../../../src/glue/queries/index.js';
import { NAMES, type SuiteContext } from './context.js';

/** Registers the Athena scenario. */
export function athenaScenario(ctx: SuiteContext): void {
  it('runs an analytics query through Athena and parses the result', async () => {
    await ctx.bootstrapped();
    const hourly = ctx.config.consumers.find((c) => c.name === NAMES.hourly);
    if (hourly?.type !== 'hourly' || hourly.queryEngine.type !== 'athena')
      throw new Error('no athena engine');
    const engine = new AthenaQueryEngine({
      workgroup: hourly.queryEngine.workgroup,
      database: ctx.config.lake.database,
      outputLocation: hourly.queryEngine.outputLocation,
      pollIntervalMs: 50,
      timeoutMs: hourly.queryEngine.timeoutMs,
    });
    try {
      const inject = ctx.started!.injectAthena;
      if (inject) {
        const query = ANALYTICS.find((q) => q.name === 'monthly_sales_trend')!;
        const columns = ['year', 'month', 'orders', 'lines', 'units', 'revenue'];
        await inject([
          {
            columns,
            rows: [columns, ['2020', '1', '2', '4', '20', '3018.50'], ['2020', '3', '5', '10', '22', null]],
          },
        ]);
        const result = await engine.query(query.sql);
        expect(result).toEqual({
          columns,
          rows: [
            ['2020', '1', '2', '4', '20', '3018.50'],
            ['2020', '3', '5', '10', '22', null],
          ],
        });
        // Athena got the statement in the config's workgroup and database.
        const ids =
          (await ctx.athena.send(new ListQueryExecutionsCommand({ WorkGroup: NAMES.workgroup })))
            .QueryExecutionIds ?? [];
        const sent = [];
        for (const id of ids) {
          sent.push(
            (await ctx.athena.send(new GetQueryExecutionCommand({ QueryExecutionId: id }))).QueryExecution,
          );
        }
        const ours = sent.find((q) => q?.Query === query.sql);
        expect(ours).toMatchObject({
          StatementType: 'DML',
          WorkGroup: NAMES.workgroup,
          QueryExecutionContext: { Database: NAMES.database },
          Status: { State: 'SUCCEEDED' },
        });
        expect(ours?.ResultConfiguration?.OutputLocation).toMatch(
          new RegExp(`^s3://${NAMES.athenaBucket}/results/`),
        );
      } else {
        expect(await engine.query("SELECT 1 AS one, CAST(NULL AS varchar) AS two, 'x' AS three")).toEqual({
          columns: ['one', 'two', 'three'],
          rows: [['1', null, 'x']],
        });
      }
    } finally {
      await engine.close();
    }
  });
}
