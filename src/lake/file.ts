import { access, mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { StorageError } from '../errors.js';
import type { Lake } from './index.js';

let tmpSeq = 0;

/** File-system errors that repeat until an operator acts: no permission, read-only, disk or quota full. */
const PERMANENT_CODES: Record<string, 'access_denied' | 'storage'> = {
  EACCES: 'access_denied',
  EPERM: 'access_denied',
  EROFS: 'access_denied',
  ENOSPC: 'storage',
  EDQUOT: 'storage',
};

/**
 * A failed file write as a {@link StorageError}: not retriable for `EACCES`, `EPERM`, `EROFS` (class
 * `access_denied`), `ENOSPC` and `EDQUOT` (class `storage`); retriable otherwise.
 */
export function fileLakeError(message: string, err: unknown): StorageError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? '';
  const permanent = PERMANENT_CODES[code];
  return new StorageError(`${message}: ${code || (err as Error)?.message || String(err)}`, {
    cause: err,
    retriable: permanent === undefined,
    ...(permanent ? { failureClass: permanent } : {}),
  });
}

/** A lake on the local file system. Writes are atomic: temp file, fsync, rename. */
export class FileLake implements Lake {
  constructor(
    readonly uri: string,
    private readonly root: string,
  ) {}

  async put(key: string, body: Uint8Array): Promise<void> {
    const path = join(this.root, key);
    // Unique per call: two writes of one key in the same millisecond must not share a temp file.
    const tmp = `${path}.${process.pid}.${Date.now()}.${++tmpSeq}.tmp`;
    try {
      await mkdir(dirname(path), { recursive: true });
      const fh = await open(tmp, 'w');
      try {
        await fh.writeFile(body);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw fileLakeError(`lake ${this.uri}: cannot write ${key}`, err);
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      return await readFile(join(this.root, key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new StorageError(`lake ${this.uri}: cannot read ${key}`, { cause: err });
    }
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries: import('node:fs').Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw new StorageError(`lake ${this.uri}: cannot list ${dir}`, { cause: err });
      }
      for (const e of entries) {
        const p = join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        else if (!e.name.endsWith('.tmp')) out.push(relative(this.root, p).split(sep).join('/'));
      }
    };
    // Walk only the folder the prefix names (up to its last `/`), so listing a day of one source
    // costs that day, not the whole lake.
    const folder = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    await walk(folder === '' ? this.root : join(this.root, folder));
    return out.filter((k) => k.startsWith(prefix)).sort();
  }

  async ping(): Promise<boolean> {
    try {
      await mkdir(this.root, { recursive: true });
      await access(this.root);
      return true;
    } catch {
      return false;
    }
  }
}
