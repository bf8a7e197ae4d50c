/**
 * The local change-detection store: one SQLite database (Node 22's built-in `node:sqlite`, the
 * SQLite library bundled with Node, no native add-on to build) in the file state store's directory.
 *
 * ## Schema
 * ```sql
 * CREATE TABLE seen (source TEXT, entity TEXT, id TEXT, PRIMARY KEY (source, entity)) WITHOUT ROWID
 * ```
 * - WAL journal (`PRAGMA journal_mode=WAL`): readers never block the writer, and a commit appends to
 *   the log instead of rewriting pages in place;
 * - `synchronous=NORMAL`: a commit survives a crash of the process; on a power loss the last
 *   commits may be lost, which at worst re-emits their records (at-least-once, never a loss);
 * - `busy_timeout=5000`: a second process on the same directory waits for the lock, up to 5 s.
 *
 * `putMany` is one transaction of upserts, {@link PUT_CHUNK} rows per statement (one native call per
 * chunk instead of per row: about a quarter less CPU per row); `getMany` one indexed lookup per key. Both run
 * synchronously on the event loop (`DatabaseSync`), about a microsecond or two per key (see
 * bench/seen-state.bench.ts), so a page of 1,000 keys holds the loop for a few milliseconds.
 *
 * @module
 */
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { StorageError } from '../../errors.js';
import type { SeenEntry, SeenStore } from './types.js';

let sqlite: typeof import('node:sqlite') | undefined;

/**
 * Loads `node:sqlite` once. Node 22 marks the module experimental and prints an `ExperimentalWarning`
 * the first time it is loaded; that one warning (and only it) is not printed: the module is stable
 * in use here (its API has not changed since Node 22.5) and the warning would only alarm operators.
 */
export function loadSqlite(): typeof import('node:sqlite') {
  if (sqlite) return sqlite;
  const emitWarning = process.emitWarning;
  process.emitWarning = function (this: unknown, warning: string | Error, ...rest: unknown[]) {
    const text = typeof warning === 'string' ? warning : warning.message;
    const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
    if (
      (type === 'ExperimentalWarning' || warning instanceof Error) &&
      /^SQLite is an experimental/.test(text)
    ) {
      return;
    }
    return (emitWarning as (...a: unknown[]) => void).call(process, warning, ...rest);
  } as typeof process.emitWarning;
  try {
    sqlite = createRequire(import.meta.url)('node:sqlite') as typeof import('node:sqlite');
  } finally {
    process.emitWarning = emitWarning;
  }
  return sqlite;
}

/** Entities read per statement by `getMany` (SQLite allows 32,766 parameters). */
const GET_CHUNK = 50;
/** Entries written per statement by `putMany` (3 parameters each). */
const PUT_CHUNK = 50;
const UPSERT = 'INSERT INTO seen (source, entity, id) VALUES';
const ON_CONFLICT = 'ON CONFLICT (source, entity) DO UPDATE SET id = excluded.id';

/** {@link SeenStore} in one SQLite file (see the module comment). */
export class SqliteSeenStore implements SeenStore {
  private db: DatabaseSync | undefined;
  private select: StatementSync | undefined;
  private upsert: StatementSync | undefined;
  private chunkSelect: StatementSync | undefined;
  private chunkUpsert: StatementSync | undefined;

  /** Upsert of {@link PUT_CHUNK} entries at once. */
  private upsertChunk(): StatementSync {
    this.chunkUpsert ??= this.open().db.prepare(
      `${UPSERT} ${new Array(PUT_CHUNK).fill('(?, ?, ?)').join(', ')} ${ON_CONFLICT}`,
    );
    return this.chunkUpsert;
  }

  /** `SELECT` of {@link GET_CHUNK} entities at once. */
  private selectChunk(): StatementSync {
    this.chunkSelect ??= this.open().db.prepare(
      `SELECT entity, id FROM seen WHERE source = ? AND entity IN (${new Array(GET_CHUNK).fill('?').join(', ')})`,
    );
    return this.chunkSelect;
  }

  /**
   * @param file - the database file, e.g. `data/state/seen.sqlite`; its directory is created when
   *   missing. Opened on first use.
   */
  constructor(readonly file: string) {}

  private open(): { db: DatabaseSync; select: StatementSync; upsert: StatementSync } {
    if (this.db && this.select && this.upsert)
      return { db: this.db, select: this.select, upsert: this.upsert };
    try {
      mkdirSync(dirname(this.file), { recursive: true });
      const { DatabaseSync } = loadSqlite();
      const db = new DatabaseSync(this.file);
      db.exec('PRAGMA journal_mode = WAL');
      db.exec('PRAGMA synchronous = NORMAL');
      db.exec('PRAGMA busy_timeout = 5000');
      db.exec(
        `CREATE TABLE IF NOT EXISTS seen (
           source TEXT NOT NULL,
           entity TEXT NOT NULL,
           id     TEXT NOT NULL,
           PRIMARY KEY (source, entity)
         ) WITHOUT ROWID`,
      );
      this.select = db.prepare('SELECT id FROM seen WHERE source = ? AND entity = ?');
      this.upsert = db.prepare(`${UPSERT} (?, ?, ?) ${ON_CONFLICT}`);
      this.db = db;
      return { db, select: this.select, upsert: this.upsert };
    } catch (err) {
      throw new StorageError(`state: cannot open ${this.file}: ${(err as Error).message}`, {
        cause: err,
        retriable: false,
      });
    }
  }

  async getMany(source: string, entities: readonly string[]): Promise<Map<string, string>> {
    const { select } = this.open();
    const out = new Map<string, string>();
    try {
      // Whole chunks in one statement (a page is one or a few); the rest one row at a time.
      let i = 0;
      for (; i + GET_CHUNK <= entities.length; i += GET_CHUNK) {
        const rows = this.selectChunk().all(source, ...entities.slice(i, i + GET_CHUNK)) as {
          entity: string;
          id: string;
        }[];
        for (const row of rows) out.set(row.entity, row.id);
      }
      for (; i < entities.length; i++) {
        const entity = entities[i]!;
        const row = select.get(source, entity) as { id: string } | undefined;
        if (row) out.set(entity, row.id);
      }
    } catch (err) {
      throw sqliteError(err, `state: cannot read seen-state of ${source} from ${this.file}`);
    }
    return out;
  }

  async putMany(source: string, entries: readonly SeenEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const { db, upsert } = this.open();
    try {
      db.exec('BEGIN IMMEDIATE');
      try {
        // Whole chunks in one statement; the rest one row at a time. Entities are unique per page
        // (change detection emits one entry per tracking key), and a repeated entity within one
        // statement is still an upsert: the later row wins, as row by row.
        let i = 0;
        if (entries.length >= PUT_CHUNK) {
          const chunk = this.upsertChunk();
          const params: string[] = new Array(PUT_CHUNK * 3);
          for (; i + PUT_CHUNK <= entries.length; i += PUT_CHUNK) {
            for (let j = 0; j < PUT_CHUNK; j++) {
              const e = entries[i + j]!;
              params[3 * j] = source;
              params[3 * j + 1] = e.entity;
              params[3 * j + 2] = e.id;
            }
            chunk.run(...params);
          }
        }
        for (; i < entries.length; i++) upsert.run(source, entries[i]!.entity, entries[i]!.id);
        db.exec('COMMIT');
      } catch (err) {
        db.exec('ROLLBACK');
        throw err;
      }
    } catch (err) {
      throw sqliteError(err, `state: cannot write seen-state of ${source} to ${this.file}`);
    }
  }

  /** Number of entries of a source (tests and benchmarks). */
  count(source: string): number {
    const row = this.open().db.prepare('SELECT count(*) AS n FROM seen WHERE source = ?').get(source) as {
      n: number;
    };
    return Number(row.n);
  }

  async close(): Promise<void> {
    const db = this.db;
    this.db = undefined;
    this.select = undefined;
    this.upsert = undefined;
    this.chunkSelect = undefined;
    this.chunkUpsert = undefined;
    db?.close();
  }
}

/** `SQLITE_BUSY`/`SQLITE_LOCKED` (another process holds the lock past busy_timeout) may be retried. */
function sqliteError(err: unknown, message: string): StorageError {
  const text = err instanceof Error ? err.message : String(err);
  const busy = /SQLITE_BUSY|SQLITE_LOCKED|database is locked/i.test(
    `${text} ${(err as { code?: unknown })?.code ?? ''} ${(err as { errstr?: unknown })?.errstr ?? ''}`,
  );
  return new StorageError(`${message}: ${text}`, { cause: err, retriable: busy });
}
