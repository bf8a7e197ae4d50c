/**
 * {@link QueryEngine} over a local `file://` lake with DuckDB (`@duckdb/node-api`, in-process, in
 * memory): the local stand-in for Athena. The Glue Data Catalog's tables become DuckDB views over the
 * Parquet files the local Glue jobs write:
 * - the Iceberg tables `<lake>/iceberg/<database>/<table>` (ADR 0015) → view `<table>`: the catalog
 *   names are the query names, as on Athena (`silver_<entity>`, `silver_<entity>_history`, gold
 *   `fact_order_lines`). DuckDB cannot load its Iceberg extension here, so
 *   `src/glue/iceberg/table_files.py` (pyiceberg, in the project venv) names the Parquet files of the
 *   table's current snapshot (materialising it once per snapshot when merge-on-read delete files
 *   exist), and the view reads those files;
 * - Parquet folders of a lake written before gold and silver became Iceberg: `<lake>/gold/<table>/`
 *   → view `<table>` (partitioned `year=`/`month=`), `<lake>/silver/<entity>/` → `silver_<entity>`;
 *   an Iceberg table of the same view name replaces them.
 *
 * Each view is `read_parquet('<folder>/**\/*.parquet', hive_partitioning = true, union_by_name = true)`:
 * Hive partition folders become columns, typed by DuckDB's inference (`year=2024`/`month=3` → BIGINT,
 * `dt=2024-03-06` → DATE, zero-padded `hour=09` stays VARCHAR), and files written before a schema
 * change still read. The glob is evaluated on every
 * query, so new files are seen at once; a new folder needs {@link DuckDbQueryEngine.refreshViews}.
 */
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type DuckDBConnection, DuckDBInstance, type DuckDBValue } from '@duckdb/node-api';
import { ConfigError, describeError } from '../../errors.js';
import { QueryFailedError } from '../errors.js';
import { findProjectRoot } from '../local/executor.js';
import type { QueryEngine, QueryResult } from '../types.js';

export interface DuckDbQueryEngineOptions {
  /** Lake root: `file://./data/lake` (relative to the working directory) or `file:///abs/path`. */
  lakeUri: string;
  /** DuckDB worker threads. @default DuckDB's default (the number of cores) */
  threads?: number;
  /** Python with pyiceberg (`make venv`). @default `<project>/.venv/bin/python` */
  python?: string;
}

/** One Iceberg table of the lake: its layer (table property `ingest.layer`) and current Parquet files. */
export interface IcebergTableFiles {
  layer: 'silver' | 'gold';
  files: string[];
}

/** The current Parquet files of every Iceberg table of the lake, by `<database>.<table>`. */
export async function icebergTableFiles(
  lakeDir: string,
  python?: string,
): Promise<Map<string, IcebergTableFiles>> {
  const root = findProjectRoot();
  const script = join(root, 'src', 'glue', 'iceberg', 'table_files.py');
  const py = python ?? join(root, '.venv', 'bin', 'python');
  const out = await new Promise<string>((res, rej) => {
    execFile(
      py,
      [script, lakeDir],
      { timeout: 300_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err)
          rej(
            new QueryFailedError(
              `cannot list the lake's Iceberg tables: ${String(stderr).trim() || describeError(err)}`,
              { cause: err },
            ),
          );
        else res(stdout);
      },
    );
  });
  const parsed = JSON.parse(out) as { tables: Record<string, { files: string[]; layer?: string }> };
  return new Map(
    Object.entries(parsed.tables).map(([name, t]) => [
      name,
      { layer: t.layer === 'gold' ? 'gold' : 'silver', files: t.files },
    ]),
  );
}

/** Folder names that may become view names (the lake config's `entity` pattern). */
const NAME = /^[a-z_][a-z0-9_]*$/;

/**
 * Resolves a `file://` lake URI to an absolute directory, with the same rules as `openLake`.
 * @throws ConfigError for any other scheme (DuckDB here reads local files only).
 */
export function lakeDirectory(uri: string): string {
  if (!uri.startsWith('file://')) {
    throw new ConfigError(`DuckDB query engine: lake URI ${uri} must be file:// (use Athena for s3://)`);
  }
  const rest = uri.slice('file://'.length);
  return rest.startsWith('/') ? fileURLToPath(`file://${rest}`) : resolve(rest);
}

/** Runs SQL over the local lake's gold and silver tables. Kind `duckdb`. */
export class DuckDbQueryEngine implements QueryEngine {
  readonly kind = 'duckdb' as const;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  private viewNames: string[] = [];

  private constructor(
    /** Absolute path of the lake root. */
    readonly lakeDir: string,
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
    private readonly python?: string,
  ) {}

  /**
   * Opens an in-memory DuckDB and creates the views of every gold table and silver entity that has
   * rows (see the module comment).
   * @throws ConfigError when the lake URI is not `file://`.
   */
  static async open(options: DuckDbQueryEngineOptions): Promise<DuckDbQueryEngine> {
    const lakeDir = lakeDirectory(options.lakeUri);
    const instance = await DuckDBInstance.create(':memory:', {
      ...(options.threads ? { threads: String(options.threads) } : {}),
    });
    const connection = await instance.connect();
    const engine = new DuckDbQueryEngine(lakeDir, instance, connection, options.python);
    try {
      await engine.refreshViews();
    } catch (err) {
      await engine.close();
      throw err;
    }
    return engine;
  }

  /** The views created by the last {@link refreshViews}, sorted. */
  get views(): readonly string[] {
    return this.viewNames;
  }

  /**
   * (Re)creates the views from the Iceberg tables now under `<lake>/iceberg/` and the folders under
   * `<lake>/gold/` and `<lake>/silver/`, dropping the views of tables or folders that are gone or
   * hold no Parquet file. Names that are not `[a-z_][a-z0-9_]*` are ignored.
   * @returns the view names, sorted.
   */
  async refreshViews(): Promise<string[]> {
    /** View name → the `read_parquet` source. */
    const wanted = new Map<string, string>();
    for (const table of await subfolders(join(this.lakeDir, 'gold'))) {
      const glob = `${join(this.lakeDir, 'gold', table)}/**/*.parquet`;
      wanted.set(table, `read_parquet(${literal(glob)}, hive_partitioning = true, union_by_name = true)`);
    }
    // Silver Parquet folders of a lake written before silver became Iceberg (issue 11); an Iceberg
    // table of the same name replaces its view.
    for (const entity of await subfolders(join(this.lakeDir, 'silver'))) {
      const glob = `${join(this.lakeDir, 'silver', entity)}/**/*.parquet`;
      wanted.set(
        `silver_${entity}`,
        `read_parquet(${literal(glob)}, hive_partitioning = true, union_by_name = true)`,
      );
    }
    if ((await subfolders(join(this.lakeDir, 'iceberg'))).length > 0) {
      for (const [name, { files }] of await icebergTableFiles(this.lakeDir, this.python)) {
        const table = name.slice(name.indexOf('.') + 1);
        if (!NAME.test(table) || files.length === 0) continue;
        // Iceberg data paths hold `col_bucket=N` folders that are not columns, and the data files
        // hold the identity partition columns themselves: no Hive partitioning.
        // Catalog names are the view names (`silver_<entity>`, `silver_<entity>_history`, gold tables).
        wanted.set(table, `read_parquet([${files.map(literal).join(', ')}], union_by_name = true)`);
      }
    }
    return this.serial(async () => {
      const created: string[] = [];
      for (const name of this.viewNames) {
        if (!wanted.has(name)) await this.connection.run(`DROP VIEW IF EXISTS ${ident(name)}`);
      }
      for (const [name, source] of wanted) {
        try {
          await this.connection.run(`CREATE OR REPLACE VIEW ${ident(name)} AS SELECT * FROM ${source}`);
          created.push(name);
        } catch (err) {
          // A folder without Parquet files yet (DuckDB: "No files found that match the pattern").
          if (!/no files found/i.test(describeError(err))) {
            throw new QueryFailedError(`DuckDB: cannot create view ${name}: ${describeError(err)}`, {
              cause: err,
            });
          }
          await this.connection.run(`DROP VIEW IF EXISTS ${ident(name)}`);
        }
      }
      this.viewNames = created.sort();
      return [...this.viewNames];
    });
  }

  /**
   * Runs one statement. Values come back as Athena gives them: strings, or `null` for SQL NULL
   * (integers and decimals in plain notation, e.g. `"3"`, `"109.95"`; dates `YYYY-MM-DD`;
   * timestamps `YYYY-MM-DD HH:MM:SS[.ffffff]`; lists and structs in DuckDB's text form). Statements
   * run one at a time on the engine's connection.
   * @throws QueryFailedError (not retriable) when DuckDB rejects or fails the statement, or after close.
   */
  query(sql: string): Promise<QueryResult> {
    return this.serial(async () => {
      try {
        const reader = await this.connection.runAndReadAll(sql);
        return {
          columns: reader.columnNames(),
          rows: reader.getRows().map((row) => row.map(toText)),
        };
      } catch (err) {
        throw new QueryFailedError(`DuckDB query failed: ${describeError(err)}`, { cause: err });
      }
    });
  }

  /** Closes the connection and the database. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.chain.catch(() => undefined);
    this.connection.closeSync();
    this.instance.closeSync();
  }

  /** Runs `fn` after every earlier statement of this engine (one connection runs one at a time). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new QueryFailedError('DuckDB query engine is closed'));
    const next = this.chain.catch(() => undefined).then(fn);
    this.chain = next;
    return next;
  }
}

/** Names of the sub-folders of `dir` usable as view names; none when `dir` does not exist. */
async function subfolders(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries
      .filter((e) => e.isDirectory() && NAME.test(e.name))
      .map((e) => e.name)
      .sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** A DuckDB value as Athena would return it: text, or `null`. */
function toText(value: DuckDBValue): string | null {
  if (value === null) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return String(value);
  return value.toString();
}

function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}
