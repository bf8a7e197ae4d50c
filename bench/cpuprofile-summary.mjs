/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`, e.g. the ingest process of
 * bench/pipeline-e2e.ts with `BENCH_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof'`): main-thread
 * self time by component of the `run` path, then the top functions by self time.
 * The profiler samples wall time: on a shared machine a share is a hint, not CPU-s.
 *
 * Run: `node bench/cpuprofile-summary.mjs <file.cpuprofile> [top functions, default 30]`
 */
import { readFileSync } from 'node:fs';

const [file, top = '30'] = process.argv.slice(2);
if (!file) throw new Error('usage: node bench/cpuprofile-summary.mjs <file.cpuprofile> [top]');
const profile = JSON.parse(readFileSync(file, 'utf8'));
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const selfUs = new Map();
profile.samples.forEach((id, i) => {
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
});

/** Components, first match wins: [name, test(functionName, url)]. */
const COMPONENTS = [
  ['idle', (f) => f === '(idle)'],
  ['GC (main thread)', (f) => f === '(garbage collector)'],
  [
    'JSON.parse of pages (+ 16-digit scan)',
    (f) => f === 'parseJsonLossless' || f.startsWith('RegExp: \\d{16}'),
  ],
  ['envelope + JSON.stringify (stage, wrap, identify)', (_f, u) => /envelope\.js|stage\.js/.test(u)],
  ['change detection: SQLite seen-state', (_f, u) => /seen\/sqlite/.test(u)],
  ['change detection: plan, LRU', (_f, u) => /changes\.js/.test(u)],
  [
    'sink engine (admit, batch, settle, shard map, limiter)',
    (_f, u) => /producers\/(engine|kinesis\/(index|shard|batcher))|bottleneck/.test(u),
  ],
  ['shard prefix MD5', (f, u) => f === 'hash' && /crypto\/hash/.test(u)],
  [
    'AWS SDK (middleware, serialiser, SigV4, response parse)',
    (f, u) => /@smithy|@aws-sdk|crypto\/hash|crypto:/.test(u) || /^(update|digest|Hash|Hmac)$/.test(f),
  ],
  [
    'poller (fetch, pagination, limiter), telemetry, logs',
    (_f, u) => /pollers|prom-client|pino|telemetry|log\.js/.test(u),
  ],
  [
    'HTTP I/O (sockets, undici fetch, streams)',
    (f, u) =>
      /undici|node:net|stream|http|abort_controller/.test(u) ||
      /^(writev|writeLatin1String|read|utf8Slice|latin1Slice|utf8Write)$/.test(f),
  ],
  [
    'module loading / compile (start-up)',
    (f, u) => /modules|loader|compile|ModuleWrap|readFileUtf8|internalModuleStat|zod|yaml/.test(`${u} ${f}`),
  ],
];
const OTHER = 'other (timers, microtasks, native)';

const byComponent = new Map();
const byFunction = new Map();
let busy = 0;
for (const [id, us] of selfUs) {
  const { functionName: f, url: u, lineNumber } = nodes.get(id).callFrame;
  const name = COMPONENTS.find(([, test]) => test(f, u))?.[0] ?? OTHER;
  byComponent.set(name, (byComponent.get(name) ?? 0) + us);
  if (name === 'idle') continue;
  busy += us;
  const where = u.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/dist\//, 'dist/');
  const key = `${f || '(anonymous)'} ${where}:${lineNumber + 1}`;
  byFunction.set(key, (byFunction.get(key) ?? 0) + us);
}
const row = (us, text) =>
  console.log(
    `${(us / 1e3).toFixed(0).padStart(7)} ms ${((100 * us) / busy).toFixed(1).padStart(5)} %  ${text}`,
  );
console.log(
  `main thread busy ${(busy / 1e6).toFixed(2)} s (idle ${((byComponent.get('idle') ?? 0) / 1e6).toFixed(2)} s)`,
);
for (const [name, us] of [...byComponent].sort((a, b) => b[1] - a[1])) if (name !== 'idle') row(us, name);
console.log(`--- top ${top} functions by self time`);
for (const [key, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, Number(top))) row(us, key);
