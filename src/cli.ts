#!/usr/bin/env node
/**
 * `ingest`: the service's command line. Roles `run` (pollers + producer) and `consume` (consumers)
 * are what ECS runs; `local` runs everything embedded with no Docker; `validate-config` checks a
 * file; `docs config` prints the config reference generated from the schemas.
 */
// First: the compile cache then covers every module loaded after it.
import './runtime/compile-cache.js';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { registerDeadLetterCommands } from './deadletter/command.js';
import { IngestError } from './errors.js';
import { registerQueryCommand } from './glue/query-command.js';
import { createLogger, type Logger } from './log.js';
import type { Role } from './runtime/roles.js';
import { Shutdown } from './runtime/shutdown.js';

// Each command imports what it needs when it runs (`await import`): the `run` role never loads the
// consumers, the Glue/Athena clients, the bootstrap's AWS clients or the local emulator (start-up CPU).

/** The packaged default config for `ingest local`. */
function defaultLocalConfig(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, 'config', 'local.yaml');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  return 'config/local.yaml';
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number of seconds');
  return n;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number of at least 1');
  return n;
}

function portNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port 0-65535');
  return n;
}

function fail(err: unknown): never {
  if (err instanceof IngestError) {
    process.stderr.write(`ingest: ${err.message}\n`);
    process.exit(err.failureClass === 'config' ? 2 : 1);
  }
  process.stderr.write(`ingest: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}

interface RoleOptions {
  config: string;
  port?: number;
}

/**
 * Runs one long-lived role until SIGTERM/SIGINT. The signal handlers are installed before anything
 * starts, so a signal during startup still ends in a clean stop.
 */
async function runRole(opts: RoleOptions, which: 'run' | 'consume'): Promise<void> {
  const shutdown = new Shutdown();
  try {
    const roles = await import('./runtime/roles.js');
    const start: (
      config: Config,
      logger: Logger,
      options: { port?: number; signal?: AbortSignal },
    ) => Promise<Role> = which === 'run' ? roles.startRunRole : roles.startConsumeRole;
    const config = await loadConfig(opts.config);
    const logger = createLogger({ level: config.logging.level, redact: config.logging.redactFields });
    let role: Role;
    try {
      role = await start(config, logger, { port: opts.port, signal: shutdown.startup });
    } catch (err) {
      if (!shutdown.startup.aborted) throw err;
      // Stopped while waiting for a dependency: nothing was accepted yet, so this is a clean stop.
      logger.info({ event: 'shutdown_during_startup' }, 'stopped during startup');
      process.exit(0);
    }
    await shutdown.waitAndStop([role], logger, config.shutdownTimeoutSecs);
  } catch (err) {
    fail(err);
  }
}

const program = new Command()
  .name('ingest')
  .description(
    'Streaming ingestion for AWS data lakes: polls HTTP APIs into Kinesis and lands gzipped NDJSON in the bronze zone on S3.\n' +
      'AWS endpoints and region follow the SDK conventions: AWS_REGION, AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_KINESIS, AWS_ENDPOINT_URL_S3.',
  )
  .showHelpAfterError();

program
  .command('run')
  .description(
    'Role "run": poll every configured source continuously and write to the sinks, until SIGTERM/SIGINT.',
  )
  .requiredOption('-c, --config <file>', 'YAML config file')
  .option(
    '--port <port>',
    'telemetry port (/metrics, /healthz, /readyz); overrides telemetry.runPort',
    portNumber,
  )
  .addHelpText(
    'after',
    '\nOn SIGTERM or SIGINT it stops polling, flushes the sinks and exits 0 within shutdownTimeoutSecs (default 20).',
  )
  .action((opts: RoleOptions) => runRole(opts, 'run'));

program
  .command('consume')
  .description(
    'Role "consume": run the stream consumers (the bronze writer, the hourly scheduler), until SIGTERM/SIGINT.',
  )
  .requiredOption('-c, --config <file>', 'YAML config file')
  .option('--port <port>', 'telemetry port; overrides telemetry.consumePort', portNumber)
  .addHelpText(
    'after',
    '\nOn SIGTERM or SIGINT it flushes every shard buffer to bronze, checkpoints and exits 0.',
  )
  .action((opts: RoleOptions) => runRole(opts, 'consume'));

program
  .command('local')
  .description(
    'Run everything embedded, with no Docker: a local Kinesis emulator, the fixture API server and both roles.\n' +
      'Stops by itself once every source has completed a full poll and every accepted record has landed in bronze\n' +
      '(or after --duration), then prints a per-source summary.\n' +
      'With --run-tasks/--consume-tasks: that many separate `run` and `consume` processes share the sources and\n' +
      'shards through leases, with their state in DynamoDB on a local moto server (ADR 0013). That mode stops at\n' +
      'bronze (the hourly lake does not run); its summary shows which task polled each source and its requests\n' +
      'per second against the budget.',
  )
  .option('-c, --config <file>', 'YAML config file', defaultLocalConfig())
  .option(
    '-d, --duration <secs>',
    'run this long, then stop (polling continues on schedule until then)',
    positiveNumber,
  )
  .option(
    '--fresh',
    "first remove the local state, the emulator data and the file lake's zones (bronze, silver, gold, dead-letter)",
    false,
  )
  .option('--fixture-port <port>', 'port of the fixture API server (0 = any free port)', portNumber, 8787)
  .option(
    '--summary-json <file>',
    'also write the summary (sources, silver, gold analytics, quality) as JSON to this file',
  )
  .option('--shards <n>', 'shards per stream in the emulator', (v) => Number.parseInt(v, 10), 2)
  .option('--run-tasks <n>', 'separate `run` processes sharing the sources through leases', positiveInt)
  .option(
    '--consume-tasks <n>',
    'separate `consume` processes sharing the shards through leases',
    positiveInt,
  )
  .option('--lease-secs <secs>', 'lease length in multi-task mode', positiveNumber, 10)
  .action(
    async (opts: {
      config: string;
      duration?: number;
      fresh: boolean;
      fixturePort: number;
      shards: number;
      summaryJson?: string;
      runTasks?: number;
      consumeTasks?: number;
      leaseSecs: number;
    }) => {
      const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'warn' });
      const abort = new AbortController();
      const onSignal = () => {
        if (abort.signal.aborted) process.exit(1);
        abort.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        const common = {
          configFile: opts.config,
          durationSecs: opts.duration,
          fresh: opts.fresh,
          fixturePort: opts.fixturePort,
          shards: opts.shards,
          logger,
          signal: abort.signal,
        };
        let text: string;
        let summary: { complete: boolean };
        if (opts.runTasks !== undefined || opts.consumeTasks !== undefined) {
          const { formatTasksSummary, runLocalTasks } = await import('./local/tasks.js');
          const s = await runLocalTasks({
            ...common,
            runTasks: opts.runTasks ?? 1,
            consumeTasks: opts.consumeTasks ?? 1,
            leaseSecs: opts.leaseSecs,
          });
          [text, summary] = [formatTasksSummary(s), s];
        } else {
          const { formatSummary, runLocal } = await import('./local/index.js');
          const s = await runLocal(common);
          [text, summary] = [formatSummary(s), s];
        }
        process.stdout.write(`${text}\n`);
        if (opts.summaryJson) await writeFile(opts.summaryJson, `${JSON.stringify(summary, null, 2)}\n`);
        process.exit(summary.complete ? 0 : 1);
      } catch (err) {
        fail(err);
      }
    },
  );

program
  .command('bootstrap')
  .description(
    'Create what a local endpoint (LocalStack, moto, kinesis-local) needs for a config: streams, buckets, state table, ' +
      'Glue database, scripts, jobs and crawler, Athena workgroup. Idempotent; refuses real AWS endpoints.',
  )
  .requiredOption('-c, --config <file>', 'YAML config file')
  .option(
    '--endpoint <url>',
    'endpoint of every service; default AWS_ENDPOINT_URL_<SERVICE>, then AWS_ENDPOINT_URL',
  )
  .option('--shards <n>', 'shards of each stream created', (v) => Number.parseInt(v, 10), 2)
  .addHelpText(
    'after',
    '\nEvery service needs an explicit endpoint whose host is not an AWS domain (*.amazonaws.com, *.amazonaws.com.cn, ...).\n' +
      'Prints one line per resource: created, exists, updated (a changed job script) or skipped (unsupported by the endpoint).',
  )
  .action(async (opts: { config: string; endpoint?: string; shards: number }) => {
    try {
      const { runBootstrapCommand } = await import('./bootstrap/index.js');
      await runBootstrapCommand(opts);
    } catch (err) {
      fail(err);
    }
  });

program
  .command('validate-config')
  .description('Validate a config file; exits 0 when valid, 2 naming each bad field otherwise.')
  .argument('<file>', 'YAML config file')
  .action(async (file: string) => {
    try {
      const config = await loadConfig(file);
      process.stdout.write(
        `${file}: valid (${config.sources.length} sources, ${config.sinks.length} sinks, ${config.consumers.length} consumers)\n`,
      );
    } catch (err) {
      fail(err);
    }
  });

program
  .command('docs')
  .description('Print generated documentation.')
  .argument('<topic>', '"config" (the config reference, from the zod schemas) or "metrics" (every metric)')
  .action(async (topic: string) => {
    if (topic === 'config') process.stdout.write((await import('./config/docs.js')).configReference());
    else if (topic === 'metrics')
      process.stdout.write(await (await import('./telemetry/docs.js')).metricsReference());
    else fail(new InvalidArgumentError(`unknown docs topic "${topic}" (try: config, metrics)`));
  });

program
  .command('status')
  .description(
    'Per-source health of the running roles, from their /metrics: lease owner, freshness, last success, rate-limit headroom, breaker.',
  )
  .requiredOption('-c, --config <file>', 'YAML config file')
  .option(
    '--metrics <url...>',
    '/metrics URLs to read (one per task); default the config telemetry.runPort and consumePort on this host',
  )
  .action(async (opts: { config: string; metrics?: string[] }) => {
    try {
      const { runStatusCommand } = await import('./status/index.js');
      process.exitCode = await runStatusCommand(opts);
    } catch (err) {
      fail(err);
    }
  });

registerDeadLetterCommands(program, fail);
registerQueryCommand(program, fail);

program.parseAsync(process.argv).catch(fail);
