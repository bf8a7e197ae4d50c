import { link, mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { StateConflictError, StorageError } from '../errors.js';
import type { PutOptions, StateStore, Versioned } from './index.js';
import { SqliteSeenStore } from './seen/sqlite.js';

/** File name of the change-detection database inside the state directory. */
export const SEEN_DB_FILE = 'seen.sqlite';

/**
 * State store on a local directory: one JSON file per key, written to a temporary file, fsynced and
 * renamed into place so a crash never leaves a half-written value. Conditional writes are atomic
 * within one process (writes to one key are serialised); across processes a lock file created with
 * `O_EXCL` guards the compare-and-set.
 *
 * Change-detection state is not kept in JSON files but in `<dir>/seen.sqlite` ({@link seen},
 * a {@link SqliteSeenStore}): one row per entity, written per page.
 */
export class FileStateStore implements StateStore {
  private readonly chains = new Map<string, Promise<unknown>>();
  private seenStore: SqliteSeenStore | undefined;

  /** @param dir - directory holding the state files; created when missing. */
  constructor(private readonly dir: string) {}

  /** The change-detection store in `<dir>/seen.sqlite`, opened on first use. */
  get seen(): SqliteSeenStore {
    this.seenStore ??= new SqliteSeenStore(join(this.dir, SEEN_DB_FILE));
    return this.seenStore;
  }

  /** `a/b/c` → `<dir>/a/b/c.json`; each segment escaped so no key can leave the directory. */
  private file(key: string): string {
    const segments = key
      .split('/')
      .map((seg) =>
        seg === '' || seg === '.' || seg === '..'
          ? `%${Buffer.from(seg).toString('hex')}`
          : seg.replace(/[^A-Za-z0-9._=-]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`),
      );
    return `${join(this.dir, ...segments)}.json`;
  }

  async get<T>(key: string): Promise<Versioned<T> | undefined> {
    try {
      return JSON.parse(await readFile(this.file(key), 'utf8')) as Versioned<T>;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new StorageError(`state: cannot read ${key}`, { cause: err });
    }
  }

  put<T>(key: string, value: T, options: PutOptions = {}): Promise<number> {
    const prev = this.chains.get(key) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(() => this.putNow(key, value, options));
    this.chains.set(key, next);
    void next
      .finally(() => {
        if (this.chains.get(key) === next) this.chains.delete(key);
      })
      .catch(() => undefined);
    return next;
  }

  private async putNow<T>(key: string, value: T, options: PutOptions): Promise<number> {
    const path = this.file(key);
    await mkdir(dirname(path), { recursive: true });
    const lock = `${path}.lock`;
    let lockHandle: Awaited<ReturnType<typeof open>> | undefined;
    if (options.expectedVersion !== undefined) lockHandle = await this.lock(key, lock);
    try {
      const current = await this.get<T>(key);
      const currentVersion = current?.version ?? 0;
      if (options.expectedVersion !== undefined && options.expectedVersion !== currentVersion) {
        throw new StateConflictError(
          `state: ${key} is at version ${currentVersion}, expected ${options.expectedVersion}`,
        );
      }
      const version = currentVersion + 1;
      const tmp = `${path}.${process.pid}.tmp`;
      const fh = await open(tmp, 'w');
      try {
        await fh.writeFile(JSON.stringify({ value, version } satisfies Versioned<T>));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
      return version;
    } catch (err) {
      if (err instanceof StateConflictError) throw err;
      throw new StorageError(`state: cannot write ${key}`, { cause: err });
    } finally {
      if (lockHandle) {
        await lockHandle.close();
        await rm(lock, { force: true });
      }
    }
  }

  /**
   * Takes the cross-process lock of one key. A lock left behind by a process that died (SIGKILL in
   * the middle of a write) is detected by its pid and taken over.
   * @throws StateConflictError while a live process holds the lock.
   */
  private async lock(key: string, lock: string): Promise<Awaited<ReturnType<typeof open>>> {
    for (let attempt = 0; ; attempt++) {
      // Write the pid to a private file, then link it into place: the lock appears atomically with
      // its owner in it, so no other process can ever read an empty lock.
      const mine = `${lock}.${process.pid}.${Math.random().toString(36).slice(2)}`;
      await writeFile(mine, String(process.pid));
      try {
        await link(mine, lock);
        return await open(lock, 'r');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) {
          throw new StateConflictError(`state: ${key} is being written by another process`, { cause: err });
        }
        const holder = Number.parseInt(await readFile(lock, 'utf8').catch(() => ''), 10);
        // Stale: its process is gone, or it carries our own pid (writes to one key are serialised in
        // this process, so that lock is a previous incarnation's, e.g. pid 1 in a restarted
        // container), or it names no pid and is older than STALE_LOCK_MS.
        const age = await stat(lock).then(
          (st) => Date.now() - st.mtimeMs,
          () => 0,
        );
        const stale =
          Number.isInteger(holder) && holder > 0
            ? holder === process.pid || !isAlive(holder)
            : age > STALE_LOCK_MS;
        if (!stale) {
          throw new StateConflictError(`state: ${key} is being written by process ${holder}`, { cause: err });
        }
        // Take over a dead process's lock only if it still is that process's lock.
        await rm(lock, { force: true });
      } finally {
        await rm(mine, { force: true });
      }
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.file(key), { force: true });
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.chains.values()]);
    await this.seenStore?.close();
  }
}

/** A lock file without a pid is taken over after this long. */
const STALE_LOCK_MS = 30_000;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
