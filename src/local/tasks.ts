/**
 * `ingest local --run-tasks N --consume-tasks M`: several `run` and `consume` processes on one
 * machine, sharing sources and shards through leases (ADR 0013), with their state in DynamoDB on
 * moto's server (its DynamoDB item writes under one lock, so conditional writes are atomic) and
 * their rate budgets in Redis. Starts kinesis-local, moto, redis-server and the fixture server,
 * writes a derived config (DynamoDB state, coordination on, budgets shared through Redis, the bronze
 * writer only, telemetry on free ports), spawns the tasks (`node dist/cli.js run|consume`),
 * waits until every source completed a poll and every record it served is in bronze, stops the tasks
 * (SIGTERM: run tasks first, then consume tasks) and the emulators, and summarises from the tasks'
 * log lines. Multi-task mode stops at bronze: the hourly lake does not run.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Config } from '../config/schema.js';
import { sinkResources } from '../producers/registry.js';
import { nodeWatchdogArgs } from '../runtime/children.js';
import { createStateTable } from '../state/dynamodb.js';
import { countBronze, type LocalOptions, removeLocalData } from './index.js';
import { startKinesisLocal } from './kinesis-local.js';
import { startMoto } from './moto.js';
import { startRedis } from './redis.js';
import { loadWithFixtures } from './startup.js';
import {
  formatTasksSummary,
  type LeaseChange,
  leaseChangesOf,
  overlappingPolls,
  type PollRecord,
  parseTaskLogLine,
  pollsOf,
  type SourceTaskSummary,
  summariseSources,
  type TaskView,
} from './tasks-summary.js';

/** {@link LocalOptions} (`durationSecs` defaults to 300 here) plus the tasks. */
export interface LocalTasksOptions extends LocalOptions {
  runTasks: number;
  consumeTasks: number;
  /** Lease length. @default 10 */
  leaseSecs?: number;
  /** The CLI the tasks run. @default dist/cli.js beside this module */
  cliPath?: string;
  /** Called once every task was spawned (tests kill some). */
  onTasks?: (tasks: LocalTask[]) => void;
}

/** A spawned task. */
export interface LocalTask extends TaskView {
  child: ChildProcess;
  exited: Promise<void>;
  /** Kills it with SIGKILL (no clean stop, leases not released) and records when. */
  kill(): void;
}

export interface LocalTasksSummary {
  sources: SourceTaskSummary[];
  polls: PollRecord[];
  leaseChanges: LeaseChange[];
  /** Polls of one source by two tasks that overlapped in time. */
  overlaps: number;
  tasks: { name: string; role: 'run' | 'consume'; pid: number; killed: boolean; killedAtMs?: number }[];
  complete: boolean;
  elapsedSecs: number;
  lakeUri: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TABLE = 'ingest-local-state';

/**
 * The config every task loads: DynamoDB state, coordination on, every source's rate budget shared
 * through Redis (`rateLimit.shared`), bronze only, free telemetry ports.
 */
export function tasksConfig(config: Config, leaseSecs: number): Config {
  return {
    ...config,
    sources: config.sources.map((s) => ({ ...s, rateLimit: { ...s.rateLimit, shared: true } })),
    state: { type: 'dynamodb', tableName: TABLE, region: 'us-east-1' },
    coordination: {
      ...config.coordination,
      enabled: true,
      leaseSecs,
      heartbeatIntervalSecs: Math.min(config.coordination.heartbeatIntervalSecs, leaseSecs / 4),
    },
    consumers: config.consumers.filter((c) => c.type === 'bronze'),
    telemetry: { ...config.telemetry, runPort: 0, consumePort: 0 },
    logging: { ...config.logging, level: 'info' },
  };
}

function spawnTask(
  role: 'run' | 'consume',
  index: number,
  cli: string,
  configPath: string,
  env: NodeJS.ProcessEnv,
): LocalTask {
  const child = spawn(process.execPath, [...nodeWatchdogArgs(), cli, role, '--config', configPath], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const task: LocalTask = {
    name: `${role}-${index}`,
    role,
    pid: child.pid ?? 0,
    lines: [],
    child,
    exited: new Promise<void>((r) => child.once('exit', () => r())),
    kill: () => {
      task.killedAtMs = Date.now();
      child.kill('SIGKILL');
    },
  };
  const read = (stream: NodeJS.ReadableStream | null) => {
    if (!stream) return;
    createInterface({ input: stream }).on('line', (line) => {
      const parsed = parseTaskLogLine(line);
      if (parsed) task.lines.push(parsed);
    });
  };
  read(child.stdout);
  read(child.stderr);
  return task;
}

/** Runs the tasks; see the module comment. */
export async function runLocalTasks(options: LocalTasksOptions): Promise<LocalTasksSummary> {
  const { logger } = options;
  const started = Date.now();
  const leaseSecs = options.leaseSecs ?? 10;
  const { config, fixtures } = await loadWithFixtures(options.configFile, options.fixturePort ?? 8787);
  const stateDir = config.state.type === 'file' ? config.state.path : './data/state';
  const dataDir = resolve(stateDir, '..');
  const kinesisDir = resolve(dataDir, 'kinesis');
  if (options.fresh) await removeLocalData(config, kinesisDir);
  const derived = tasksConfig(config, leaseSecs);
  const lakeUri = derived.consumers[0]?.lakeUri ?? config.deadLetter.uri;
  const streams = [
    ...new Set([
      ...config.sinks.flatMap(sinkResources).flatMap((r) => (r.kind === 'kinesis-stream' ? [r.name] : [])),
      ...derived.consumers.flatMap((c) => (c.type === 'bronze' ? [c.streamName] : [])),
    ]),
  ];
  const [kinesis, moto, redis] = await Promise.all([
    startKinesisLocal({
      streams: streams.map((name) => ({ name, shards: options.shards ?? 2 })),
      persistDir: kinesisDir,
    }),
    startMoto({ atomicWrites: true }),
    startRedis(),
  ]);
  const tasks: LocalTask[] = [];
  try {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      AWS_ENDPOINT_URL_KINESIS: kinesis.endpoint,
      AWS_ENDPOINT_URL_DYNAMODB: moto.endpoint,
      // Every source's budget, shared by the tasks (each source names its own variable).
      ...Object.fromEntries(derived.sources.map((s) => [s.rateLimit.redisUrlEnv, redis.url])),
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? 'test',
      AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? 'test',
    };
    const dynamo = new DynamoDBClient({
      endpoint: moto.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    await createStateTable(dynamo, TABLE);
    dynamo.destroy();
    const configPath = resolve(dataDir, 'tasks-config.json');
    await mkdir(dirname(configPath), { recursive: true });
    // JSON is YAML; every value is already resolved (environment, fixture origin).
    await writeFile(configPath, JSON.stringify(derived, null, 2));
    const cli = options.cliPath ?? resolve(import.meta.dirname, '../cli.js');
    for (let i = 1; i <= options.consumeTasks; i++) tasks.push(spawnTask('consume', i, cli, configPath, env));
    for (let i = 1; i <= options.runTasks; i++) tasks.push(spawnTask('run', i, cli, configPath, env));
    logger.info(
      {
        event: 'local_tasks_started',
        kinesis: kinesis.endpoint,
        dynamodb: moto.endpoint,
        redis: redis.url,
        tasks: tasks.map((t) => `${t.name}:${t.pid}`),
      },
      'local tasks started',
    );
    options.onTasks?.(tasks);

    const deadline = started + (options.durationSecs ?? 300) * 1000;
    while (Date.now() < deadline && !options.signal?.aborted) {
      await sleep(1_000);
      if (await landedEverything(config, tasks, lakeUri)) break;
      if (tasks.every((t) => t.child.exitCode !== null || t.child.signalCode !== null)) break;
    }
    // Run tasks first (their last polls finish delivering), then give the consume tasks time to land.
    await stopTasks(tasks.filter((t) => t.role === 'run'));
    const settleUntil = Date.now() + 15_000;
    while (Date.now() < settleUntil && !(await landedEverything(config, tasks, lakeUri))) await sleep(1_000);
    await stopTasks(tasks.filter((t) => t.role === 'consume'));
  } finally {
    await stopTasks(tasks);
    await Promise.all([kinesis.stop(), moto.stop(), redis.stop(), fixtures?.close()]);
  }
  const polls = pollsOf(tasks);
  const sources = summariseSources(config, polls, await countBronze(lakeUri));
  return {
    sources,
    polls,
    leaseChanges: leaseChangesOf(tasks),
    overlaps: overlappingPolls(polls).length,
    tasks: tasks.map((t) => ({
      name: t.name,
      role: t.role,
      pid: t.pid,
      killed: t.killedAtMs !== undefined,
      ...(t.killedAtMs === undefined ? {} : { killedAtMs: t.killedAtMs }),
    })),
    complete: sources.every((s) => s.expected > 0 && s.inBronze >= s.expected),
    elapsedSecs: (Date.now() - started) / 1000,
    lakeUri,
  };
}

/** Every source completed a poll, and as many distinct ids as it served are in bronze. */
async function landedEverything(config: Config, tasks: LocalTask[], lakeUri: string): Promise<boolean> {
  const polls = pollsOf(tasks);
  if (!config.sources.every((s) => polls.some((p) => p.source === s.name))) return false;
  const sources = summariseSources(config, polls, await countBronze(lakeUri));
  return sources.every((s) => s.inBronze >= s.expected);
}

/** SIGTERM, then SIGKILL after 30 s; resolves once every task exited. */
async function stopTasks(tasks: LocalTask[]): Promise<void> {
  await Promise.all(
    tasks.map(async (t) => {
      if (t.child.exitCode !== null || t.child.signalCode !== null) return;
      t.child.kill('SIGTERM');
      const timer = setTimeout(() => t.child.kill('SIGKILL'), 30_000);
      await t.exited;
      clearTimeout(timer);
    }),
  );
}

export { formatTasksSummary };
