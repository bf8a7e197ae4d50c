/**
 * Takeover time of a dead hour owner (issue 12). A real hourly scheduler runs in a child process
 * (from `dist/`: run `make build` first) with the state store under test; it claims an hour, records
 * its `bronze_to_silver` run and waits for it (the fake executor keeps it RUNNING), renewing its lease
 * by heartbeat. The benchmark SIGKILLs the child and measures the time until a second scheduler in
 * this process has claimed the hour (its record names a new owner), cycling every
 * TAKEOVER_BENCH_CHECK_MS (default 200 ms; in production `checkIntervalSecs` adds up to one interval).
 * The kill comes right after the owner's claim, so its lease is nearly whole: the other-host figure is
 * the worst case, `leaseSecs`.
 *
 * Cases, for the file state store and DynamoDB (moto): the new owner on the same host (the dead pid
 * is noticed at once) and on another host (it waits for the lease to expire: at most `leaseSecs`
 * after the last heartbeat). `leaseSecs` is TAKEOVER_BENCH_LEASE_SECS (default 60, the config default);
 * `heartbeatIntervalSecs` is 10 (the default), or a third of a shorter lease.
 *
 * Run: vitest bench --run bench/hourly-takeover.bench.ts
 *      TAKEOVER_BENCH_LEASE_SECS=30 vitest bench --run bench/hourly-takeover.bench.ts
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { test } from 'vitest';
import { createHourlyScheduler, type HourRecord, hourStateKey } from '../src/consumers/hourly/index.js';
import { LakeSchema } from '../src/glue/config.js';
import type { GlueExecutor } from '../src/glue/types.js';
import { openLake } from '../src/lake/index.js';
import { silentLogger } from '../src/log.js';
import { createStateTable, DynamoDbStateStore } from '../src/state/dynamodb.js';
import { FileStateStore, type StateStore } from '../src/state/index.js';
import { startMoto } from '../test/support/moto.js';

const LEASE_SECS = Number(process.env.TAKEOVER_BENCH_LEASE_SECS ?? 60);
const HEARTBEAT_SECS = Math.min(10, LEASE_SECS / 3);
const CHECK_MS = Number(process.env.TAKEOVER_BENCH_CHECK_MS ?? 200);
const HOUR = '2026-12-04T10';
const SOURCE = 'shop.carts';
const ENTITIES = [{ source: SOURCE, entity: 'carts', columns: [{ name: 'user_id', path: 'userId' }] }];
const DIST = resolve('dist');

/** Where the state lives: enough for the child to open the same store. */
type StoreSpec = { type: 'file'; dir: string } | { type: 'dynamodb'; table: string; endpoint: string };

function openStore(spec: StoreSpec): StateStore {
  return spec.type === 'file'
    ? new FileStateStore(spec.dir)
    : new DynamoDbStateStore({ tableName: spec.table, endpoint: spec.endpoint, region: 'us-east-1' });
}

/** A Glue executor whose runs stay RUNNING (the owner), or that succeed at once (the successor). */
function executor(state: 'RUNNING' | 'SUCCEEDED'): GlueExecutor {
  let n = 0;
  return {
    kind: 'local',
    startJobRun: async () => `jr_${state}_${++n}`,
    getJobRun: async (_job, runId) => ({ runId, state }),
    startCrawler: async () => {},
    getCrawler: async () => ({ state: 'READY' }),
    close: async () => {},
  };
}

const schedulerConfig = (name: string, lakeUri: string) => ({
  type: 'hourly' as const,
  name,
  lakeUri,
  leaseSecs: LEASE_SECS,
  heartbeatIntervalSecs: HEARTBEAT_SECS,
  jobPollIntervalSecs: 1,
  jobPollMaxIntervalSecs: 1,
});

/** The owner: a scheduler in a child process (from dist/) that claims the hour and waits on its job. */
function startOwner(spec: StoreSpec, name: string, lakeUri: string): ChildProcess {
  const code = `
    const { createHourlyScheduler } = await import(${JSON.stringify(`${DIST}/consumers/hourly/index.js`)});
    const { FileStateStore } = await import(${JSON.stringify(`${DIST}/state/index.js`)});
    const { DynamoDbStateStore } = await import(${JSON.stringify(`${DIST}/state/dynamodb.js`)});
    const { LakeSchema } = await import(${JSON.stringify(`${DIST}/glue/config.js`)});
    const { silentLogger } = await import(${JSON.stringify(`${DIST}/log.js`)});
    const spec = ${JSON.stringify(spec)};
    const state = spec.type === 'file' ? new FileStateStore(spec.dir)
      : new DynamoDbStateStore({ tableName: spec.table, endpoint: spec.endpoint, region: 'us-east-1' });
    const executor = {
      kind: 'local', startJobRun: async () => 'jr_owner', getJobRun: async (_j, runId) => ({ runId, state: 'RUNNING' }),
      startCrawler: async () => {}, getCrawler: async () => ({ state: 'READY' }), close: async () => {},
    };
    const s = createHourlyScheduler(${JSON.stringify(schedulerConfig(name, lakeUri))},
      { state, logger: silentLogger, executor, lakeConfig: LakeSchema.parse({ entities: ${JSON.stringify(ENTITIES)} }) });
    await s.runOnce({ includeOpenHours: true });`;
  return spawn(process.execPath, ['--input-type=module', '-e', code], {
    stdio: 'inherit',
    env: { ...process.env, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' },
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Seconds from the owner's SIGKILL until the successor holds the hour. */
async function measure(spec: StoreSpec, sameHost: boolean): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'takeover-'));
  const lakeUri = `file://${join(dir, 'lake')}`;
  await openLake(lakeUri).put(`bronze/source=${SOURCE}/dt=2026-12-04/hour=10/o.json.gz`, new Uint8Array());
  const name = `takeover_${Date.now()}`;
  const state = openStore(spec);
  const key = hourStateKey(name, HOUR);
  const owner = startOwner(spec, name, lakeUri);
  try {
    for (;;) {
      const rec = (await state.get<HourRecord>(key))?.value;
      if (rec !== undefined && rec.ownerPid === owner.pid && rec.runs.bronzeToSilver[SOURCE] !== undefined)
        break;
      if (owner.exitCode !== null) throw new Error(`owner exited ${owner.exitCode}`);
      await sleep(50);
    }
    owner.kill('SIGKILL');
    const killedAt = performance.now();
    const successor = createHourlyScheduler(schedulerConfig(name, lakeUri), {
      state,
      logger: silentLogger,
      executor: executor('SUCCEEDED'),
      lakeConfig: LakeSchema.parse({ entities: ENTITIES }),
      ...(sameHost ? {} : { host: 'another-host' }),
    });
    // The successor cycles in the background; the claim is seen in the store (a cycle's fake jobs
    // take a poll interval more, which must not count).
    let claimedAt: number | undefined;
    const cycles = (async () => {
      while (claimedAt === undefined) {
        await successor.runOnce({ includeOpenHours: true });
        await sleep(CHECK_MS);
      }
    })();
    while (claimedAt === undefined) {
      const rec = (await state.get<HourRecord>(key))?.value;
      if (rec !== undefined && rec.ownerPid !== owner.pid) claimedAt = performance.now();
      else await sleep(10);
    }
    await cycles;
    return (claimedAt - killedAt) / 1000;
  } finally {
    owner.kill('SIGKILL');
    await state.close();
    await rm(dir, { recursive: true, force: true });
  }
}

test('takeover time of a dead owner', { timeout: 900_000 }, async () => {
  const rows: string[] = [];
  const report = async (store: string, spec: StoreSpec) => {
    for (const sameHost of [true, false]) {
      const secs = await measure(spec, sameHost);
      rows.push(
        `${store.padEnd(16)} ${(sameHost ? 'same host' : 'other host').padEnd(11)} ${secs.toFixed(2).padStart(7)} s`,
      );
    }
  };
  const dir = await mkdtemp(join(tmpdir(), 'takeover-state-'));
  await report('file', { type: 'file', dir });
  await rm(dir, { recursive: true, force: true });
  const moto = await startMoto();
  try {
    const client = new DynamoDBClient({
      endpoint: moto.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    await createStateTable(client, 'takeover-state');
    client.destroy();
    process.env.AWS_ACCESS_KEY_ID ??= 'test';
    process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
    await report('dynamodb (moto)', { type: 'dynamodb', table: 'takeover-state', endpoint: moto.endpoint });
  } finally {
    await moto.stop();
  }
  console.log(
    [
      `takeover of a SIGKILLed owner: leaseSecs ${LEASE_SECS}, heartbeatIntervalSecs ${HEARTBEAT_SECS}, successor cycles every ${CHECK_MS} ms`,
      'store            new owner   kill → claimed',
      ...rows,
    ].join('\n'),
  );
});
