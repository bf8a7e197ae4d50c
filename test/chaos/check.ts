/**
 * The end-of-run checks: what the upstream served against what landed in bronze and in dead-letter,
 * and a search for the bearer token in every output and every file the run left behind.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { ServedEntry } from './upstream.js';

function walk(dir: string, out: string[] = []): string[] {
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.isFile()) out.push(p);
  }
  return out;
}

const gzLines = (file: string): string[] => {
  try {
    return gunzipSync(readFileSync(file)).toString('utf8').split('\n').filter(Boolean);
  } catch {
    // A file being written right now (the writer renames complete objects into place) or damaged.
    return [];
  }
};

const keyOf = (payload: unknown): string | undefined => {
  const p = payload as { id?: unknown; version?: unknown } | undefined;
  return p && p.id !== undefined ? `${p.id}@${p.version}` : undefined;
};

/** `id@version` of every payload in `bronze/` with the number of lines holding it. */
export function readBronzeKeys(lakeDir: string): {
  keys: Map<string, number>;
  lines: number;
  objects: number;
} {
  const keys = new Map<string, number>();
  let lines = 0;
  let objects = 0;
  for (const f of walk(join(lakeDir, 'bronze'))) {
    if (!f.endsWith('.json.gz')) continue;
    objects++;
    for (const line of gzLines(f)) {
      lines++;
      const k = keyOf((JSON.parse(line) as { payload?: unknown }).payload);
      if (k) keys.set(k, (keys.get(k) ?? 0) + 1);
    }
  }
  return { keys, lines, objects };
}

/** `id@version` → reasons of every dead letter under `dead-letter/`, plus lines whose record did not parse. */
export function readDeadLetters(lakeDir: string): {
  keys: Map<string, string[]>;
  lines: number;
  unparsed: number;
} {
  const keys = new Map<string, string[]>();
  let lines = 0;
  let unparsed = 0;
  for (const f of walk(join(lakeDir, 'dead-letter'))) {
    if (!f.endsWith('.json.gz')) continue;
    for (const line of gzLines(f)) {
      lines++;
      const dl = JSON.parse(line) as { reason?: string; data?: string; data_base64?: string };
      const text = dl.data ?? (dl.data_base64 ? Buffer.from(dl.data_base64, 'base64').toString('utf8') : '');
      let k: string | undefined;
      try {
        k = keyOf((JSON.parse(text) as { payload?: unknown }).payload);
      } catch {}
      if (!k) {
        unparsed++;
        continue;
      }
      keys.set(k, [...(keys.get(k) ?? []), dl.reason ?? '']);
    }
  }
  return { keys, lines, unparsed };
}

export interface Analysis {
  /** Distinct (id, version) the upstream served in full pages. */
  served: number;
  servedBig: number;
  /** Served, still the record's current version, in neither bronze nor dead-letter. */
  lost: string[];
  /** Served (not a big record), in dead-letter, not in bronze. */
  onlyInDeadLetter: string[];
  /** Big records (over 1 MiB) served but not in dead-letter, or in dead-letter without a reason. */
  bigNotDeadLettered: string[];
  /** Big records found in bronze (cannot happen through a Kinesis record). */
  bigInBronze: string[];
  /** Served versions that a later version replaced upstream and that are in neither place (allowed: a poll may skip a version). */
  supersededMissing: number;
  /** Records of the final data set (current versions, not big) that the upstream never served in a full page. */
  neverServed: string[];
  /** Current versions in bronze out of the final data set (not big). */
  currentInBronze: number;
  currentTotal: number;
  /** Bronze lines beyond the first for an (id, version). */
  duplicateLines: number;
  /** (id, version) with more than one bronze line. */
  duplicatedKeys: number;
  bronzeLines: number;
  bronzeObjects: number;
  deadLetterLines: number;
  deadLetterUnparsed: number;
}

export function analyse(
  served: Iterable<ServedEntry>,
  current: ServedEntry[],
  lakeDir: string,
  deadLetterDir = lakeDir,
): Analysis {
  const bronze = readBronzeKeys(lakeDir);
  const dl = readDeadLetters(deadLetterDir);
  const currentVersion = new Map(current.map((c) => [c.id, c.v]));
  const a: Analysis = {
    served: 0,
    servedBig: 0,
    lost: [],
    onlyInDeadLetter: [],
    bigNotDeadLettered: [],
    bigInBronze: [],
    supersededMissing: 0,
    neverServed: [],
    currentInBronze: 0,
    currentTotal: 0,
    duplicateLines: 0,
    duplicatedKeys: 0,
    bronzeLines: bronze.lines,
    bronzeObjects: bronze.objects,
    deadLetterLines: dl.lines,
    deadLetterUnparsed: dl.unparsed,
  };
  const servedKeys = new Set<string>();
  for (const s of served) {
    const k = `${s.id}@${s.v}`;
    servedKeys.add(k);
    a.served++;
    const inBronze = bronze.keys.has(k);
    const reasons = dl.keys.get(k);
    if (s.big) {
      a.servedBig++;
      if (inBronze) a.bigInBronze.push(k);
      if (!reasons?.some((r) => r.length > 0)) a.bigNotDeadLettered.push(k);
    } else if (inBronze) {
      // delivered
    } else if (reasons) a.onlyInDeadLetter.push(k);
    else if (currentVersion.get(s.id) === s.v) a.lost.push(k);
    else a.supersededMissing++;
  }
  for (const c of current) {
    if (c.big) continue;
    const k = `${c.id}@${c.v}`;
    a.currentTotal++;
    if (bronze.keys.has(k)) a.currentInBronze++;
    if (!servedKeys.has(k)) a.neverServed.push(k);
  }
  for (const n of bronze.keys.values()) {
    if (n > 1) {
      a.duplicatedKeys++;
      a.duplicateLines += n - 1;
    }
  }
  return a;
}

/** Occurrences of `needle` in every file under `dirs` (gzip files are searched decompressed). */
export function grepFiles(
  dirs: string[],
  needle: string,
): { files: number; hits: { file: string; count: number }[] } {
  const hits: { file: string; count: number }[] = [];
  let files = 0;
  const n = Buffer.from(needle);
  for (const dir of dirs) {
    for (const f of walk(dir)) {
      files++;
      let buf: Buffer;
      try {
        if (statSync(f).size > 512 * 1024 * 1024) continue;
        buf = readFileSync(f);
      } catch {
        continue;
      }
      if (buf[0] === 0x1f && buf[1] === 0x8b) {
        try {
          buf = gunzipSync(buf);
        } catch {}
      }
      let count = 0;
      for (let i = buf.indexOf(n); i >= 0; i = buf.indexOf(n, i + n.length)) count++;
      if (count > 0) hits.push({ file: f, count });
    }
  }
  return { files, hits };
}
