import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { nodeWatchdogArgs } from '../../src/runtime/children.js';

export const CLI = resolve('dist/cli.js');

/** Fails clearly when the CLI was not built (`make test` builds it first). */
export function requireBuiltCli(): void {
  if (!existsSync(CLI))
    throw new Error(`${CLI} is missing: run \`make build\` (make test does) before the end-to-end tests`);
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `${prefix}-`));
}

export interface Spawned {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Spawns `node dist/cli.js ...args` with the current Node (22) and extra environment. The CLI dies
 * with the test process (a watchdog), and its own children with it, even when vitest is killed.
 */
export function spawnCli(args: string[], env: Record<string, string> = {}, cwd = process.cwd()): Spawned {
  const child = spawn(process.execPath, [...nodeWatchdogArgs(), CLI, ...args], {
    env: { ...process.env, ...env },
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (b: Buffer) => {
    out += b.toString();
  });
  child.stderr?.on('data', (b: Buffer) => {
    err += b.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => r({ code, signal })),
  );
  return { child, stdout: () => out, stderr: () => err, exited };
}

export interface BronzeObject {
  key: string;
  lines: Record<string, unknown>[];
}

/** Reads every bronze object of a file lake, gunzipping and parsing each NDJSON line. */
export async function readBronze(lakeDir: string): Promise<BronzeObject[]> {
  const root = join(lakeDir, 'bronze');
  const out: BronzeObject[] = [];
  const walk = async (dir: string): Promise<void> => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.name.endsWith('.json.gz')) {
        const text = gunzipSync(await readFile(p)).toString('utf8');
        out.push({
          key: p.slice(lakeDir.length + 1),
          lines: text
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as Record<string, unknown>),
        });
      }
    }
  };
  await walk(root);
  return out;
}

/** The fixture record counts per source from fixtures/README.md: 283 in all. */
export const FIXTURE_COUNTS: Record<string, number> = {
  'fakestore.products': 20,
  'fakestore.carts': 7,
  'fakestore.users': 10,
  'github.issues': 13,
  'usgs.earthquakes': 233,
};

/** Silver rows per table after the fixtures landed once. */
export const FIXTURE_SILVER_ROWS: Record<string, number> = {
  silver_carts: 7,
  silver_carts_history: 7,
  silver_earthquakes: 233,
  silver_github_issues: 13,
  silver_products: 20,
  silver_products_history: 20,
  silver_users: 10,
  silver_users_history: 10,
};

/** Gold revenue per `YYYY-MM` from a summary's `monthly_sales_trend` analytics. */
export function goldMonthlyRevenue(summary: {
  lake?: { analytics: { name: string; result: { columns: string[]; rows: (string | null)[][] } }[] };
}): Record<string, number> {
  const trend = summary.lake!.analytics.find((a) => a.name === 'monthly_sales_trend')!.result;
  const col = (name: string) => trend.columns.indexOf(name);
  return Object.fromEntries(
    trend.rows.map((r) => [
      `${r[col('year')]}-${String(r[col('month')]).padStart(2, '0')}`,
      Number(r[col('revenue')]),
    ]),
  );
}

export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
