/**
 * End-to-end benchmark (issue 8): `ingest run` (dist/cli.js, built) pulls N realistic ~1 KB records
 * from a paginated API (bench/e2e/server.mjs, its own process) into Kinesis (kinesalite from npm,
 * its own process, 8 shards, in memory), then the stream is read back and checked (count, unique ids).
 *
 * Printed per case: the ingest process's CPU-s (utime + stime from /proc/<pid>/stat) per million
 * records, start-up CPU-s (until the first page request) reported apart, records/s (first request to
 * last acknowledged record), peak RSS (VmHWM), PutRecords calls and Kinesis records (from the
 * process's /metrics), and PUT payload units per million user records against the floor (a record
 * is billed in 25 KB units, rounded up; the floor is the user bytes / 25 KB, 1 MiB ≈ 41 units),
 * and the CPU-s per million by thread (main thread, V8's GC/compiler helpers, libuv's pool).
 * Env: BENCH_CLI (another build), BENCH_NODE_ARGS (node flags for the ingest process, e.g.
 * `--cpu-prof --cpu-prof-dir=/tmp/prof` or `--trace-gc`), BENCH_KEEP_DIR=1 (keep its log and state).
 *
 * Run: `make bench-e2e` (builds first), or after `tsc -p tsconfig.build.json`:
 *   node --import ./deploy/cdk/register.mjs bench/pipeline-e2e.ts [--sizes 100000,1000000] [--cases default,all,aggregation]
 * The CPU is shared: CPU-s figures are comparable between runs, wall-time figures (records/s) less so.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { decodeAggregated, isAggregated } from '../src/producers/kinesis/kpl.js';

const ROOT = resolve(import.meta.dirname, '..');
/** The CLI under test (BENCH_CLI to compare builds). */
const CLI = resolve(process.env.BENCH_CLI ?? join(ROOT, 'dist/cli.js'));
/** Extra node flags for the ingest process, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` (BENCH_NODE_ARGS). */
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
const SHARDS = 8;
const PAGE_SIZE = 100;
/** PUT payload unit: 25 KB (Kinesis pricing). */
const UNIT_BYTES = 25 * 1024;
const TICKS_PER_SEC = 100;

interface Case {
  name: string;
  source: Record<string, unknown>;
  sink: Record<string, unknown>;
}

const CASES: Record<string, Case> = {
  default: { name: 'default', source: {}, sink: {} },
  all: { name: 'emit: all', source: { emit: 'all' }, sink: {} },
  aggregation: { name: 'aggregation on', source: {}, sink: { aggregation: { enabled: true } } },
};

const freePort = (): Promise<number> =>
  new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function cpuSecs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields after the command: state is [0], utime is [11], stime is [12] (proc(5): 14 and 15).
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SEC;
}

/** CPU-s (user + system) of each thread of a process, summed by thread name (`/proc/<pid>/task`). */
function threadCpuSecs(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const comm = stat
        .slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
        .replace(/\d+$/, '')
        .trim();
      // V8's helper threads (GC, compiler) share the process name: the main thread is the one whose id is the pid.
      const name = tid === String(pid) ? 'main thread' : comm === 'node' ? 'V8 helpers' : comm;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const secs = (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SEC;
      out.set(name, (out.get(name) ?? 0) + secs);
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}

function statusKb(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : Number.NaN;
}

async function metrics(port: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const sp = line.lastIndexOf(' ');
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

const sumOf = (m: Map<string, number>, prefix: string, ...labels: string[]): number => {
  let n = 0;
  for (const [k, v] of m) if (k.startsWith(prefix) && labels.every((l) => k.includes(l))) n += v;
  return n;
};

async function startKinesalite(): Promise<{ proc: ChildProcess; endpoint: string; client: KinesisClient }> {
  const port = await freePort();
  const proc = spawn(
    process.execPath,
    [
      join(ROOT, 'node_modules/kinesalite/cli.js'),
      '--port',
      String(port),
      '--createStreamMs',
      '0',
      '--shardLimit',
      '64',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((res, rej) => {
    proc.stdout!.once('data', () => res());
    proc.once('exit', (code) => rej(new Error(`kinesalite exited ${code}`)));
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new KinesisClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
    requestHandler: new NodeHttpHandler(),
  });
  return { proc, endpoint, client };
}

async function createStream(client: KinesisClient, name: string): Promise<void> {
  await client.send(new CreateStreamCommand({ StreamName: name, ShardCount: SHARDS }));
  for (;;) {
    const d = await client.send(new DescribeStreamSummaryCommand({ StreamName: name }));
    if (d.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    await sleep(50);
  }
}

interface ReadBack {
  kinesisRecords: number;
  userRecords: number;
  unique: number;
  userBytes: number;
  units: number;
}

/** Reads every shard from TRIM_HORIZON, deaggregates, and counts distinct upstream ids (1..n). */
async function readBack(client: KinesisClient, stream: string, n: number): Promise<ReadBack> {
  const seen = new Uint8Array(n + 1);
  const r: ReadBack = { kinesisRecords: 0, userRecords: 0, unique: 0, userBytes: 0, units: 0 };
  const shards = (await client.send(new ListShardsCommand({ StreamName: stream }))).Shards ?? [];
  for (const shard of shards) {
    let it = (
      await client.send(
        new GetShardIteratorCommand({
          StreamName: stream,
          ShardId: shard.ShardId!,
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      )
    ).ShardIterator;
    while (it) {
      const res = await client.send(new GetRecordsCommand({ ShardIterator: it, Limit: 10_000 }));
      const records = res.Records ?? [];
      if (records.length === 0) break;
      for (const rec of records) {
        const data = rec.Data!;
        r.kinesisRecords++;
        r.units += Math.ceil((data.byteLength + Buffer.byteLength(rec.PartitionKey ?? '')) / UNIT_BYTES);
        const users = isAggregated(data)
          ? decodeAggregated(data).map((u) => ({ data: u.data, partitionKey: u.partitionKey }))
          : [{ data, partitionKey: rec.PartitionKey ?? '' }];
        for (const u of users) {
          r.userRecords++;
          r.userBytes += u.data.byteLength + Buffer.byteLength(u.partitionKey);
          const id = (JSON.parse(Buffer.from(u.data).toString('utf8')) as { payload: { id: number } }).payload
            .id;
          if (id >= 1 && id <= n && seen[id] === 0) {
            seen[id] = 1;
            r.unique++;
          }
        }
      }
      it = res.NextShardIterator;
    }
  }
  return r;
}

interface Result {
  case: string;
  records: number;
  startupCpuSecs: number;
  cpuSecsPerMillion: number;
  recordsPerSec: number;
  peakRssMiB: number;
  putRecordsCalls: number;
  kinesisRecords: number;
  unitsPerMillion: number;
  floorUnitsPerMillion: number;
  userPerKinesisRecord: number;
  readBack: ReadBack;
  /** CPU-s per million records by thread name, start-up included (`main thread`, `V8 helpers`: V8's
   * GC and compiler threads, `libuv-worker`: libuv's pool). */
  threadCpuSecsPerMillion: Map<string, number>;
}

async function runCase(
  c: Case,
  n: number,
  kinesis: { endpoint: string; client: KinesisClient },
): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-e2e-'));
  const stream = `bench-${c.name.replace(/\W+/g, '-')}-${n}`;
  await createStream(kinesis.client, stream);
  const server = fork(join(ROOT, 'bench/e2e/server.mjs'), [String(n), String(PAGE_SIZE)], {
    stdio: 'inherit',
  });
  let firstAt = 0;
  let firstCpu = Number.NaN;
  let ingestPid = 0;
  const serverPort = await new Promise<number>((res) => {
    server.on('message', (m: { type: string; port?: number }) => {
      if (m.type === 'listening') res(m.port!);
      if (m.type === 'first') {
        firstAt = performance.now();
        if (ingestPid) firstCpu = cpuSecs(ingestPid);
      }
    });
  });
  const metricsPort = await freePort();
  const config = {
    sources: [
      {
        name: 'bench.items',
        type: 'http',
        url: `http://127.0.0.1:${serverPort}/items`,
        idField: 'id',
        versionField: 'updated_at',
        // The upstream's shape and limits, not tuning: its page size and page count, and a rate
        // limit the local server allows (the default of 5 requests/s is for public APIs).
        pagination: { type: 'pageNumber', pageSize: PAGE_SIZE, maxPages: Math.ceil(n / PAGE_SIZE) + 1 },
        rateLimit: { requestsPerSec: 10_000, burst: 100, maxConcurrent: 4 },
        intervalSecs: 3600,
        ...c.source,
      },
    ],
    sinks: [{ name: 'kinesis', type: 'kinesis', streamName: stream, endpoint: kinesis.endpoint, ...c.sink }],
    state: { type: 'file', path: join(dir, 'state') },
    deadLetter: { uri: `file://${join(dir, 'lake')}` },
    telemetry: { host: '127.0.0.1', runPort: metricsPort },
  };
  const configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify(config));
  const logFd = openSync(join(dir, 'ingest.log'), 'w');
  const ingest = spawn(process.execPath, [...NODE_ARGS, CLI, 'run', '--config', configFile], {
    stdio: ['ignore', logFd, logFd],
    env: {
      ...process.env,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'bench',
      AWS_SECRET_ACCESS_KEY: 'bench',
    },
  });
  ingestPid = ingest.pid!;
  let exited = false;
  ingest.once('exit', () => {
    exited = true;
  });
  // Sample start-up CPU as soon as the first page is requested (the IPC message may arrive late;
  // a 2 ms poll of /proc bounds the error).
  while (firstAt === 0 && !exited) {
    await sleep(2);
    if (firstAt !== 0 && Number.isNaN(firstCpu)) firstCpu = cpuSecs(ingestPid);
  }
  if (Number.isNaN(firstCpu) && !exited) firstCpu = cpuSecs(ingestPid);
  // Done when the poll's completion line appears in the log: every record acknowledged. (Scraping
  // /metrics in a loop would cost the measured process CPU.)
  const logFile = join(dir, 'ingest.log');
  for (;;) {
    if (exited) {
      throw new Error(
        `ingest exited early (case ${c.name}, ${n}):\n${readFileSync(logFile, 'utf8').slice(-4000)}`,
      );
    }
    await sleep(20);
    if (readFileSync(logFile, 'utf8').includes('"msg":"poll completed"')) break;
  }
  const doneAt = performance.now();
  const totalCpu = cpuSecs(ingestPid);
  const threads = threadCpuSecs(ingestPid);
  const peakRssKb = statusKb(ingestPid, 'VmHWM');
  const m = await metrics(metricsPort);
  ingest.kill('SIGTERM');
  await new Promise((r) => (exited ? r(undefined) : ingest.once('exit', r)));
  server.disconnect();
  const back = await readBack(kinesis.client, stream, n);
  closeSync(logFd);
  // BENCH_KEEP_DIR=1 keeps the config, ingest.log (with `--trace-gc` in BENCH_NODE_ARGS: the GC
  // trace) and state for a look afterwards.
  if (process.env.BENCH_KEEP_DIR) console.log(`kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
  const perMillion = 1_000_000 / n;
  return {
    case: c.name,
    records: n,
    startupCpuSecs: firstCpu,
    cpuSecsPerMillion: (totalCpu - firstCpu) * perMillion,
    recordsPerSec: n / ((doneAt - firstAt) / 1000),
    peakRssMiB: peakRssKb / 1024,
    putRecordsCalls: sumOf(m, 'ingest_producer_batches_total'),
    kinesisRecords: sumOf(m, 'ingest_producer_kinesis_records_total'),
    unitsPerMillion: back.units * (1_000_000 / back.userRecords),
    floorUnitsPerMillion: (back.userBytes / UNIT_BYTES) * (1_000_000 / back.userRecords),
    userPerKinesisRecord: back.userRecords / back.kinesisRecords,
    readBack: back,
    threadCpuSecsPerMillion: new Map([...threads].map(([k, v]) => [k, v * perMillion])),
  };
}

const fmt = (v: number, d = 1) => v.toFixed(d);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '100000,1000000' },
      cases: { type: 'string', default: 'default,all,aggregation' },
    },
  });
  const sizes = values.sizes.split(',').map(Number);
  const cases = values.cases.split(',').map((k) => {
    const c = CASES[k];
    if (!c) throw new Error(`unknown case ${k}; one of ${Object.keys(CASES).join(', ')}`);
    return c;
  });
  const kinesis = await startKinesalite();
  const rows: Result[] = [];
  let failed = false;
  try {
    for (const n of sizes) {
      for (const c of cases) {
        const r = await runCase(c, n, kinesis);
        rows.push(r);
        const ok = r.readBack.userRecords >= n && r.readBack.unique === n;
        if (!ok) failed = true;
        console.log(
          `${r.case.padEnd(15)} ${String(n).padStart(8)} records: ` +
            `${fmt(r.cpuSecsPerMillion)} CPU-s/M (+${fmt(r.startupCpuSecs, 2)} s start-up), ` +
            `${fmt(r.recordsPerSec, 0)} rec/s, peak RSS ${fmt(r.peakRssMiB, 0)} MiB, ` +
            `${r.putRecordsCalls} PutRecords, ${r.kinesisRecords} Kinesis records ` +
            `(${fmt(r.userPerKinesisRecord, 2)} user/Kinesis record), ` +
            `${fmt(r.unitsPerMillion, 0)} PUT units/M vs floor ${fmt(r.floorUnitsPerMillion, 0)} ` +
            `(${fmt(r.unitsPerMillion / r.floorUnitsPerMillion, 2)}x); read back ${r.readBack.userRecords} user records, ` +
            `${r.readBack.unique} unique ids: ${ok ? 'OK' : 'MISMATCH'}`,
        );
        console.log(
          `  CPU-s/M by thread (start-up included): ${[...r.threadCpuSecsPerMillion]
            .sort((a, b) => b[1] - a[1])
            .map(([k, v]) => `${k} ${fmt(v)}`)
            .join(', ')}`,
        );
      }
    }
  } finally {
    kinesis.proc.kill('SIGTERM');
  }
  console.log(
    '\n| case | records | CPU-s / M | start-up CPU-s | records/s | peak RSS MiB | PutRecords | Kinesis records | user/Kinesis rec | PUT units / M (floor) |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(
      `| ${r.case} | ${r.records} | ${fmt(r.cpuSecsPerMillion)} | ${fmt(r.startupCpuSecs, 2)} | ${fmt(r.recordsPerSec, 0)} | ${fmt(r.peakRssMiB, 0)} | ${r.putRecordsCalls} | ${r.kinesisRecords} | ${fmt(r.userPerKinesisRecord, 2)} | ${fmt(r.unitsPerMillion, 0)} (${fmt(r.floorUnitsPerMillion, 0)}) |`,
    );
  }
  if (failed) {
    console.error('read-back check failed: records missing or duplicated ids');
    process.exitCode = 1;
  }
}

await main();
