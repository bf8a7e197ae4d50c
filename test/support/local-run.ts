/** The shared part of the `ingest local` end-to-end tests (test/e2e/local*.test.ts): one run on the fixtures, and what every sink must give. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { LocalSummary } from '../../src/local/index.js';
import {
  type BronzeObject,
  FIXTURE_COUNTS,
  FIXTURE_SILVER_ROWS,
  goldMonthlyRevenue,
  readBronze,
  type Spawned,
  spawnCli,
  tempDir,
} from './cli.js';

/** One finished `ingest local` run in a temp folder. */
export interface LocalRun {
  /** The temp folder: `state/`, `lake/`, `summary.json`. */
  dir: string;
  /** The environment the run had (state, lake, ports): pass it to a second run or `ingest query`. */
  env: Record<string, string>;
  run: Spawned;
  /** `--summary-json`'s file, parsed. */
  summary: LocalSummary;
  /** Every bronze object of the file lake. */
  objects: BronzeObject[];
}

/**
 * Runs `ingest local [--config config] --fixture-port 0 --summary-json <dir>/summary.json` with a
 * fresh temp state and file lake (ports 0), expects exit code 0, and reads the summary and bronze.
 * @param extraEnv - more environment (e.g. the Kafka broker address).
 */
export async function runLocalOnFixtures(
  prefix: string,
  config?: string,
  extraEnv: Record<string, string> = {},
): Promise<LocalRun> {
  const dir = tempDir(prefix);
  const env = {
    INGEST_STATE_DIR: join(dir, 'state'),
    INGEST_LAKE_URI: `file://${join(dir, 'lake')}`,
    INGEST_RUN_PORT: '0',
    INGEST_CONSUME_PORT: '0',
    ...extraEnv,
  };
  const summaryFile = join(dir, 'summary.json');
  const run = spawnCli(
    ['local', ...(config ? ['--config', config] : []), '--fixture-port', '0', '--summary-json', summaryFile],
    env,
  );
  const { code } = await run.exited;
  expect(code, run.stderr()).toBe(0);
  const summary = JSON.parse(readFileSync(summaryFile, 'utf8')) as LocalSummary;
  return { dir, env, run, summary, objects: await readBronze(join(dir, 'lake')) };
}

/** Bronze holds every fixture record exactly once: 283 envelopes, unique `source/id`, the fixture counts per source. */
export function expectFixturesLandedOnce(objects: BronzeObject[]): Record<string, unknown>[] {
  const all = objects.flatMap((o) => o.lines);
  expect(all).toHaveLength(283);
  expect(new Set(all.map((e) => `${e.source}/${e.id}`)).size).toBe(283);
  const perSource: Record<string, number> = {};
  for (const e of all) perSource[e.source as string] = (perSource[e.source as string] ?? 0) + 1;
  expect(perSource).toEqual(FIXTURE_COUNTS);
  return all;
}

/** Silver has the fixture rows, gold the fixture revenue, and every data-quality check passed. */
export function expectFixtureLake(summary: LocalSummary, revenue: Record<string, number>): void {
  expect(summary.lake?.silverRows).toEqual(FIXTURE_SILVER_ROWS);
  expect(goldMonthlyRevenue(summary)).toEqual(revenue);
  expect(summary.lake!.quality.every((q) => q.passed)).toBe(true);
}
