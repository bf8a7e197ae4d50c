/**
 * Change-detection state at scale (issue 7, part 3): one source with SEEN_BENCH_ENTITIES entities
 * (default 1,000,000) goes through the poller's real path (`ChangeDetector`: plan a page, commit the
 * acknowledged entries) in pages of 1,000, twice: the first poll finds every entity new (read +
 * write), the second finds every entity unchanged (read only). Backends: the local SQLite store and
 * DynamoDB on the moto server (SEEN_BENCH_DYNAMODB_ENTITIES, default 100,000 to keep `make bench` short; 0 skips it).
 *
 * It prints, per backend and pass: wall seconds, this process's CPU seconds (user + system), moto's
 * CPU seconds (DynamoDB), CPU-seconds per million entities, the bytes stored per million entities
 * (SQLite: database + WAL file size; DynamoDB: item sizes by DynamoDB's rules, attribute names plus
 * values), and the process RSS (current and peak). Then the memory of the in-process cache per entry.
 *
 * Run: `make bench` (all benchmarks), or only this one:
 *   vitest bench --run bench/seen-state.bench.ts
 *   SEEN_BENCH_ENTITIES=100000 SEEN_BENCH_DYNAMODB_ENTITIES=0 vitest bench --run bench/seen-state.bench.ts
 */
import { readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { test } from 'vitest';
import { ChangeDetector, LruMap, type TrackedRow } from '../src/pollers/http/changes.js';
import { createStateTable } from '../src/state/dynamodb.js';
import { type SeenStore, SqliteSeenStore } from '../src/state/index.js';
import { DynamoDbSeenStore, seenItemKey } from '../src/state/seen/dynamodb.js';
import { startMoto } from '../test/support/moto.js';

const ENTITIES = Number(process.env.SEEN_BENCH_ENTITIES ?? 1_000_000);
// moto takes about 5 minutes per million-entity pass; the default keeps `make bench` short.
const DDB_ENTITIES = Number(process.env.SEEN_BENCH_DYNAMODB_ENTITIES ?? Math.min(ENTITIES, 100_000));
const PAGE = 1_000;
const CACHE = 100_000; // maxTrackedIds default
const MB = 1024 * 1024;

/** Entity i of the benchmark source: a USGS-like key and a key@version id. */
const row = (i: number, version: number): TrackedRow => ({
  entity: `us7000${i.toString(36).padStart(6, '0')}`,
  id: `us7000${i.toString(36).padStart(6, '0')}@${1_700_000_000_000 + version}`,
});

/** CPU seconds (user + system) of another process, from /proc/<pid>/stat. */
function cpuSecsOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

function rssMb(): string {
  return `${(process.memoryUsage().rss / MB).toFixed(0)} MB (peak ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB)`;
}

interface Pass {
  name: string;
  wallSecs: number;
  cpuSecs: number;
  otherCpuSecs: number;
  emitted: number;
  unchanged: number;
}

/** One poll over `n` entities: plan each page, commit what it emits. */
async function poll(detector: ChangeDetector, n: number, version: number, otherPid?: number): Promise<Pass> {
  const cpu0 = process.cpuUsage();
  const other0 = cpuSecsOf(otherPid);
  const t0 = performance.now();
  let emitted = 0;
  let unchanged = 0;
  for (let start = 0; start < n; start += PAGE) {
    const rows: TrackedRow[] = [];
    for (let i = start; i < Math.min(n, start + PAGE); i++) rows.push(row(i, version));
    const plan = await detector.plan(rows);
    emitted += plan.emit.length;
    unchanged += plan.unchanged;
    await detector.commit(plan.emit.map((e) => e.entry));
  }
  const cpu = process.cpuUsage(cpu0);
  return {
    name: '',
    wallSecs: (performance.now() - t0) / 1000,
    cpuSecs: (cpu.user + cpu.system) / 1e6,
    otherCpuSecs: cpuSecsOf(otherPid) - other0,
    emitted,
    unchanged,
  };
}

function report(backend: string, n: number, passes: Pass[], bytes: number, note = ''): void {
  const perM = 1_000_000 / n;
  const lines = [
    `\n== seen-state ${backend}: ${n.toLocaleString('en')} entities, pages of ${PAGE}, cache ${CACHE.toLocaleString('en')} entries ${note}`,
  ];
  for (const p of passes) {
    lines.push(
      `  ${p.name.padEnd(26)} wall ${p.wallSecs.toFixed(1).padStart(7)} s  cpu ${p.cpuSecs.toFixed(1).padStart(6)} s` +
        (p.otherCpuSecs > 0 ? ` (+ moto ${p.otherCpuSecs.toFixed(1)} s)` : '') +
        `  = ${(p.cpuSecs * perM).toFixed(1)} cpu-s per million` +
        (p.otherCpuSecs > 0 ? ` (+ moto ${(p.otherCpuSecs * perM).toFixed(1)})` : '') +
        `  emitted ${p.emitted} unchanged ${p.unchanged}`,
    );
  }
  lines.push(
    `  stored: ${(bytes / MB).toFixed(1)} MB = ${((bytes * perM) / MB).toFixed(1)} MB per million entities`,
  );
  lines.push(`  process RSS: ${rssMb()}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

/**
 * Polls of `n` entities, each through a new detector (a restarted process: nothing cached, every
 * page read from the store): all new (read + write), all unchanged (read only), and, unless
 * `withChanged` is false, all changed (read + write, deltas replacing ids in place).
 */
async function run(store: SeenStore, n: number, otherPid?: number, withChanged = true): Promise<Pass[]> {
  const source = 'bench.source';
  const fresh = () => new ChangeDetector(source, store, CACHE);
  const passes = [
    { ...(await poll(fresh(), n, 1, otherPid)), name: 'poll 1: all new' },
    { ...(await poll(fresh(), n, 1, otherPid)), name: 'poll 2: all unchanged' },
  ];
  if (withChanged) passes.push({ ...(await poll(fresh(), n, 2, otherPid)), name: 'poll 3: all changed' });
  return passes;
}

test(`seen-state on SQLite: ${ENTITIES.toLocaleString('en')} entities`, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'seen-bench-'));
  const file = join(dir, 'seen.sqlite');
  const store = new SqliteSeenStore(file);
  try {
    const passes = await run(store, ENTITIES);
    await store.close();
    const size = (f: string) => {
      try {
        return statSync(f).size;
      } catch {
        return 0;
      }
    };
    const bytes = size(file) + size(`${file}-wal`);
    report('SQLite (node:sqlite, WAL)', ENTITIES, passes, bytes);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}, 3_600_000);

test(`seen-state on DynamoDB (moto): ${DDB_ENTITIES.toLocaleString('en')} entities`, async () => {
  if (DDB_ENTITIES <= 0) {
    process.stdout.write('\n== seen-state DynamoDB: skipped (SEEN_BENCH_DYNAMODB_ENTITIES=0)\n');
    return;
  }
  const moto = await startMoto();
  const client = new DynamoDBClient({
    endpoint: moto.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    requestHandler: new NodeHttpHandler({ httpAgent: { keepAlive: true, maxSockets: 8 } }),
  });
  try {
    await createStateTable(client, 'bench-state');
    const store = new DynamoDbSeenStore({ tableName: 'bench-state', client, concurrency: 4 });
    // Two polls only: moto handles a few thousand items per second, so a third would add minutes.
    const passes = await run(store, DDB_ENTITIES, moto.process.pid, false);
    // Item size by DynamoDB's rules: attribute names plus values (UTF-8), per item.
    let bytes = 0;
    for (let i = 0; i < DDB_ENTITIES; i++) {
      const r = row(i, 1);
      bytes +=
        'pk'.length +
        Buffer.byteLength(seenItemKey('bench.source', r.entity)) +
        'rid'.length +
        Buffer.byteLength(r.id);
    }
    const mem = readFileSync(`/proc/${moto.process.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)?.[1];
    report(
      'DynamoDB (moto server)',
      DDB_ENTITIES,
      passes,
      bytes,
      `(moto RSS ${(Number(mem) / 1024).toFixed(0)} MB)`,
    );
  } finally {
    client.destroy();
    await moto.stop();
  }
}, 7_200_000);

test('memory of the in-process cache (LruMap) per entry', () => {
  const n = 1_000_000;
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  const before = process.memoryUsage().heapUsed;
  // Capacity 2n: the young generation (n) rotates into the old one exactly once, holding all n.
  const lru = new LruMap<string, string>(2 * n);
  for (let i = 0; i < n; i++) {
    const r = row(i, 1);
    lru.set(r.entity, r.id);
  }
  gc();
  const after = process.memoryUsage().heapUsed;
  const per = (after - before) / n;
  process.stdout.write(
    `\n== seen-state cache: ${n.toLocaleString('en')} entries hold ${((after - before) / MB).toFixed(0)} MB of heap = ${per.toFixed(0)} bytes per entry` +
      ` (maxTrackedIds ${CACHE.toLocaleString('en')}: ~${((per * CACHE) / MB).toFixed(0)} MB per source); process RSS ${rssMb()}\n`,
  );
  if (lru.size !== n) throw new Error('cache lost entries');
});
