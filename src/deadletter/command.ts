/**
 * The `ingest dead-letters` commands: `list` shows what is in the dead-letter location and why;
 * `replay` sends it through the configured sink again (see `replay.ts`).
 */
import { type Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../config/load.js';
import { createLogger } from '../log.js';
import type { Sink } from '../producers/types.js';
import type { DeadLetterFilter } from './read.js';

// The commands import the lake, the sinks and the readers when they run, so registering them
// costs the other commands (the `run` role above all) no start-up time.

/**
 * Parses `--since`/`--until`: an ISO-8601 instant (`2026-12-04T10:00:00Z`, `2026-12-04`) or an age
 * (`30m`, `6h`, `2d`: that long before now).
 * @throws InvalidArgumentError for anything else.
 */
export function parseInstant(value: string, now = Date.now()): Date {
  const age = /^(\d+)([mhd])$/.exec(value);
  if (age) {
    const unitMs = { m: 60_000, h: 3_600_000, d: 86_400_000 }[age[2] as 'm' | 'h' | 'd'];
    return new Date(now - Number(age[1]) * unitMs);
  }
  const t = Date.parse(value);
  if (Number.isNaN(t))
    throw new InvalidArgumentError(
      'expected an ISO-8601 time (2026-12-04T10:00:00Z) or an age (30m, 6h, 2d)',
    );
  return new Date(t);
}

interface FilterOptions {
  config: string;
  source?: string;
  component?: string;
  since?: Date;
  until?: Date;
  reason?: string;
}

function withFilters(cmd: Command): Command {
  return cmd
    .requiredOption('-c, --config <file>', 'YAML config file (its deadLetter.uri is read)')
    .option('--source <name>', 'only records of this source')
    .option('--component <name>', 'only letters from this component (kinesis, bronze, or a source name)')
    .option(
      '--since <time>',
      'only letters written at or after this time (ISO-8601, or an age: 30m, 6h, 2d)',
      (v) => parseInstant(v),
    )
    .option('--until <time>', 'only letters written before this time (ISO-8601, or an age)', (v) =>
      parseInstant(v),
    )
    .option('--reason <text>', 'only letters whose reason contains this text (case-insensitive)');
}

function filterOf(o: FilterOptions): DeadLetterFilter {
  return {
    ...(o.source !== undefined ? { source: o.source } : {}),
    ...(o.component !== undefined ? { component: o.component } : {}),
    ...(o.since !== undefined ? { since: o.since } : {}),
    ...(o.until !== undefined ? { until: o.until } : {}),
    ...(o.reason !== undefined ? { reason: o.reason } : {}),
  };
}

/**
 * Adds `dead-letters list` and `dead-letters replay` to the CLI.
 * @param fail - the CLI's error handler (prints one line, exits 1, or 2 for config errors).
 */
export function registerDeadLetterCommands(program: Command, fail: (err: unknown) => never): void {
  const group = program
    .command('dead-letters')
    .description(
      'List dead letters (records a sink or the bronze writer could never accept) and replay them.',
    );

  withFilters(group.command('list'))
    .description(
      'List dead letters with when, where from and why; a summary by source and reason at the end.',
    )
    .option('--json', 'one JSON object per letter (without its data) instead of a table')
    .action(async (o: FilterOptions & { json?: boolean }) => {
      try {
        const config = await loadConfig(o.config);
        const { openLake } = await import('../lake/index.js');
        const { readDeadLetters } = await import('./read.js');
        const lake = openLake(config.deadLetter.uri);
        const out = process.stdout;
        const byReason = new Map<string, number>();
        let n = 0;
        let objects = 0;
        for await (const obj of readDeadLetters(lake, filterOf(o))) {
          objects++;
          for (const l of obj.letters) {
            n++;
            const reasonKey = `${l.source}: ${l.reason.slice(0, 120)}`;
            byReason.set(reasonKey, (byReason.get(reasonKey) ?? 0) + 1);
            const row = {
              dead_lettered_at: l.deadLetteredAt,
              component: l.component,
              source: l.source,
              failure_class: l.failureClass,
              reason: l.reason,
              partition_key: l.partitionKey,
              bytes: l.data.byteLength,
              object: l.key,
              line: l.line,
              replayed: obj.replayed,
            };
            if (o.json) out.write(`${JSON.stringify(row)}\n`);
            else
              out.write(
                `${l.deadLetteredAt}  ${l.component}  ${l.source}  ${l.failureClass}  ${l.data.byteLength} B${obj.replayed ? '  (replayed)' : ''}  ${l.reason}\n`,
              );
          }
        }
        if (!o.json) {
          out.write(`\n${n} dead letter(s) in ${objects} object(s) under ${config.deadLetter.uri}\n`);
          for (const [r, c] of [...byReason].sort((a, b) => b[1] - a[1])) out.write(`  ${c}  ${r}\n`);
        }
      } catch (err) {
        fail(err);
      }
    });

  withFilters(group.command('replay'))
    .description(
      "Send the selected dead letters through the source's configured sink again. Envelope ids are deterministic, " +
        'so a record replayed twice is deduplicated downstream. Replayed objects are marked and skipped next time.',
    )
    .option('--again', 'also replay objects an earlier replay already sent')
    .option('--dry-run', 'count what would be sent; send nothing')
    .action(async (o: FilterOptions & { again?: boolean; dryRun?: boolean }) => {
      try {
        const config = await loadConfig(o.config);
        const logger = createLogger({ level: config.logging.level, redact: config.logging.redactFields });
        const { commonDeps } = await import('../runtime/roles.js');
        const { buildSink } = await import('../registry.js');
        const { replayDeadLetters } = await import('./replay.js');
        const { openLake } = await import('../lake/index.js');
        const deps = await commonDeps(config, logger);
        const sinks = new Map<string, Promise<Sink>>();
        const sinkFor = (source: string): Promise<Sink> => {
          const name = config.sources.find((s) => s.name === source)?.sink ?? config.sinks[0]?.name;
          const sinkConfig = config.sinks.find((s) => s.name === name);
          if (!sinkConfig) throw new InvalidArgumentError(`no sink configured for source ${source}`);
          let sink = sinks.get(sinkConfig.name);
          if (!sink) {
            sink = buildSink(sinkConfig, deps).then(async (built) => {
              await built.start();
              return built;
            });
            sinks.set(sinkConfig.name, sink);
          }
          return sink;
        };
        try {
          const s = await replayDeadLetters(openLake(config.deadLetter.uri), sinkFor, logger, {
            filter: filterOf(o),
            ...(o.again ? { again: true } : {}),
            ...(o.dryRun ? { dryRun: true } : {}),
          });
          const lines = o.dryRun
            ? [`would send ${s.wouldSend}`, `not replayable ${s.skipped}`]
            : [
                `delivered ${s.delivered}`,
                `dead-lettered again ${s.deadLettered}`,
                `not replayable ${s.skipped}`,
              ];
          process.stdout.write(
            `${s.objects} object(s) selected, ${s.alreadyReplayedObjects} already replayed (use --again): ${lines.join(', ')}\n`,
          );
        } finally {
          for (const sink of sinks.values()) await (await sink).close();
          await deps.state.close();
        }
      } catch (err) {
        fail(err);
      }
    });
}
