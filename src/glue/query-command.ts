/**
 * `ingest query --config FILE "SQL" [--format table|json]` (issue 11): runs SQL on the local lake's
 * tables with the query engine the local pipeline uses (DuckDB over the gold and silver Iceberg
 * tables, whose current files pyiceberg names), in the SQL subset of the named Athena queries. `--named
 * NAME` runs one of them (`src/glue/queries/*.sql`). In AWS the same SQL runs on Athena against the
 * Glue Data Catalog database `lake.database`.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../config/load.js';
import { ConfigError } from '../errors.js';

interface QueryOptions {
  config: string;
  format: 'table' | 'json';
  named?: string;
}

/** Registers `ingest query`. */
export function registerQueryCommand(program: Command, fail: (err: unknown) => void): void {
  program
    .command('query')
    .description(
      'Run SQL on the local lake (gold fact_order_lines, silver_<entity> Iceberg tables) and print a table or JSON.',
    )
    .argument('[sql]', 'SQL statement (omit with --named)')
    .requiredOption('--config <file>', 'YAML config file (its lake.uri must be file://)')
    .option(
      '--format <format>',
      'table or json',
      (v: string) => {
        if (v !== 'table' && v !== 'json') throw new InvalidArgumentError('expected table or json');
        return v;
      },
      'table',
    )
    .option(
      '--named <name>',
      'run a named query of src/glue/queries (e.g. monthly_sales_trend, dq_duplicate_keys)',
    )
    .action(async (sql: string | undefined, options: QueryOptions) => {
      try {
        const config = await loadConfig(options.config);
        const { ANALYTICS, QUALITY_CHECKS } = await import('./queries/index.js');
        let statement = sql;
        if (options.named !== undefined) {
          const q = [...ANALYTICS, ...QUALITY_CHECKS].find((x) => x.name === options.named);
          if (!q) {
            const names = [...ANALYTICS, ...QUALITY_CHECKS].map((x) => x.name).join(', ');
            throw new ConfigError(`unknown named query ${options.named} (known: ${names})`);
          }
          statement = q.sql;
        }
        if (!statement) throw new ConfigError('give a SQL statement or --named NAME');
        const { DuckDbQueryEngine } = await import('./duckdb/engine.js');
        const engine = await DuckDbQueryEngine.open({ lakeUri: config.lake.uri });
        try {
          const result = await engine.query(statement);
          if (options.format === 'json') {
            const rows = result.rows.map((r) => Object.fromEntries(result.columns.map((c, i) => [c, r[i]])));
            process.stdout.write(`${JSON.stringify(rows)}\n`);
          } else {
            const { formatTable } = await import('../local/index.js');
            process.stdout.write(`${formatTable(result.columns, result.rows).join('\n')}\n`);
          }
        } finally {
          await engine.close();
        }
      } catch (err) {
        fail(err);
      }
    });
}
