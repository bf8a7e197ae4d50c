/**
 * What `ingest local --run-tasks N --consume-tasks M` reports, from the tasks' own JSON log lines:
 * per source, which task polled it, how many polls and requests (pages) it made, the most requests in
 * any one-second window against the source's budget (`rateLimit.requestsPerSec`, `burst`), and every
 * lease that changed hands.
 */
import type { Config } from '../config/schema.js';
import { formatTable } from './index.js';

/** One JSON log line of a task (pino), with the fields this summary reads. */
export interface TaskLogLine {
  /** ms since the epoch (pino writes ISO-8601; {@link parseTaskLogLine} converts it). */
  time: number;
  msg?: string;
  event?: string;
  source?: string;
  resource?: string;
  group?: string;
  reason?: string;
  fencingToken?: number;
  previousOwner?: string | null;
  instance?: string;
  pages?: number;
  polled?: number;
  emitted?: number;
  deadLettered?: number;
  durationMs?: number;
}

/** A task as the summary sees it. */
export interface TaskView {
  /** `run-1`, `consume-2`, ... */
  name: string;
  role: 'run' | 'consume';
  pid: number;
  lines: TaskLogLine[];
  /** When the harness killed it (SIGKILL), ms since the epoch. */
  killedAtMs?: number;
}

/** One completed poll of a source by a task. */
export interface PollRecord {
  task: string;
  source: string;
  startMs: number;
  endMs: number;
  pages: number;
  polled: number;
  deadLettered: number;
}

/** A lease that a task took. */
export interface LeaseChange {
  task: string;
  /** `sources` or `shards/<consumer>/<stream>`. */
  group: string;
  resource: string;
  reason: string;
  token: number;
  atMs: number;
  /** The task that held it before, when known. */
  fromTask?: string;
}

export interface SourceTaskSummary {
  source: string;
  /** Per task that polled it: polls and requests (pages). */
  tasks: { task: string; polls: number; requests: number }[];
  /** Most requests (pages) in any one-second window, all tasks together. */
  maxRequestsPerSec: number;
  /** The source's budget: `rateLimit.requestsPerSec` (and `burst`). */
  budgetPerSec: number;
  burst: number;
  /** Distinct record ids of this source in bronze. */
  inBronze: number;
  /** Records (lines) of this source in bronze (more than {@link inBronze}: duplicates). */
  bronzeRecords: number;
  /** Distinct records the API served (largest completed poll, minus dead letters). */
  expected: number;
}

/** A task's JSON log line, with `time` in ms since the epoch; `undefined` when not a log line. */
export function parseTaskLogLine(line: string): TaskLogLine | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const l = JSON.parse(line) as Omit<TaskLogLine, 'time'> & { time?: number | string };
    const time = typeof l.time === 'string' ? Date.parse(l.time) : l.time;
    return Number.isFinite(time) ? { ...l, time: time as number } : undefined;
  } catch {
    return undefined;
  }
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) out.set(key(item), [...(out.get(key(item)) ?? []), item]);
  return out;
}

/** Every completed poll, from the `poll completed` lines (start = end − duration). */
export function pollsOf(tasks: readonly TaskView[]): PollRecord[] {
  return tasks.flatMap((t) =>
    t.lines
      .filter((l) => l.msg === 'poll completed' && l.source)
      .map((l) => ({
        task: t.name,
        source: l.source!,
        startMs: l.time - (l.durationMs ?? 0),
        endMs: l.time,
        pages: l.pages ?? 0,
        polled: l.polled ?? 0,
        deadLettered: l.deadLettered ?? 0,
      })),
  );
}

/** Every lease taken, oldest first, with the task it came from. */
export function leaseChangesOf(tasks: readonly TaskView[]): LeaseChange[] {
  const taskOfInstance = new Map<string, string>();
  for (const t of tasks) for (const l of t.lines) if (l.instance) taskOfInstance.set(l.instance, t.name);
  return tasks
    .flatMap((t) =>
      t.lines
        .filter((l) => l.event === 'lease_acquired' && l.resource && l.group)
        .map((l) => {
          const from = l.previousOwner ? taskOfInstance.get(l.previousOwner) : undefined;
          return {
            task: t.name,
            group: l.group!,
            resource: l.resource!,
            reason: l.reason ?? 'unknown',
            token: l.fencingToken ?? 0,
            atMs: l.time,
            ...(from ? { fromTask: from } : {}),
          };
        }),
    )
    .sort((a, b) => a.atMs - b.atMs);
}

/**
 * Polls of one source by different tasks that overlap in time (should be none: one owner at a time).
 */
export function overlappingPolls(polls: readonly PollRecord[]): [PollRecord, PollRecord][] {
  const out: [PollRecord, PollRecord][] = [];
  const bySource = groupBy(polls, (p) => p.source);
  for (const list of bySource.values()) {
    const sorted = [...list].sort((a, b) => a.startMs - b.startMs);
    for (let i = 0; i < sorted.length; i++) {
      for (let j = i + 1; j < sorted.length && sorted[j]!.startMs < sorted[i]!.endMs; j++) {
        if (sorted[j]!.task !== sorted[i]!.task) out.push([sorted[i]!, sorted[j]!]);
      }
    }
  }
  return out;
}

/** Per source: who polled it, requests per window against the budget, what landed. */
export function summariseSources(
  config: Config,
  polls: readonly PollRecord[],
  bronze: Map<string, { records: number; ids: Set<string> }>,
): SourceTaskSummary[] {
  return config.sources.map((s) => {
    const mine = polls.filter((p) => p.source === s.name);
    const byTask = groupBy(mine, (p) => p.task);
    const perSecond = new Map<number, number>();
    // A poll's pages are counted in the second its log line was written (an upper bound per window).
    for (const p of mine) {
      const sec = Math.floor(p.endMs / 1000);
      perSecond.set(sec, (perSecond.get(sec) ?? 0) + p.pages);
    }
    return {
      source: s.name,
      tasks: [...byTask].map(([task, list]) => ({
        task,
        polls: list.length,
        requests: list.reduce((n, p) => n + p.pages, 0),
      })),
      maxRequestsPerSec: Math.max(0, ...perSecond.values()),
      budgetPerSec: s.rateLimit.requestsPerSec,
      burst: s.rateLimit.burst,
      inBronze: bronze.get(s.name)?.ids.size ?? 0,
      bronzeRecords: bronze.get(s.name)?.records ?? 0,
      expected: Math.max(0, ...mine.map((p) => p.polled - p.deadLettered)),
    };
  });
}

/** The summary as text: the per-source table, then the lease changes. */
export function formatTasksSummary(s: {
  sources: SourceTaskSummary[];
  leaseChanges: LeaseChange[];
  overlaps: number;
  complete: boolean;
  elapsedSecs: number;
  lakeUri: string;
  tasks: { name: string; killed: boolean }[];
}): string {
  const rows = s.sources.map((r) => [
    r.source,
    r.tasks.map((t) => `${t.task}(${t.polls} polls, ${t.requests} req)`).join(' ') || '-',
    `${r.maxRequestsPerSec}/${r.budgetPerSec} (burst ${r.burst})`,
    String(r.expected),
    String(r.bronzeRecords),
    String(r.inBronze),
  ]);
  const takeovers = s.leaseChanges.filter((c) => c.reason !== 'new');
  return [
    ...formatTable(
      ['source', 'polled by', 'max req/s / budget', 'served', 'bronze records', 'distinct ids'],
      rows,
    ),
    '',
    `tasks: ${s.tasks.map((t) => `${t.name}${t.killed ? ' (killed)' : ''}`).join(', ')}`,
    `lease hand-overs: ${takeovers.length === 0 ? 'none' : ''}`,
    ...takeovers.map(
      (c) =>
        `  ${new Date(c.atMs).toISOString()}  ${c.group} ${c.resource}: ${c.fromTask ?? '?'} -> ${c.task} (${c.reason}, token ${c.token})`,
    ),
    `overlapping polls of one source by two tasks: ${s.overlaps}`,
    'requests per window: pages of a poll are counted in the second the poll ended (an upper bound).',
    'multi-task mode stops at bronze: the hourly lake (silver, gold) does not run.',
    `lake: ${s.lakeUri}   elapsed: ${s.elapsedSecs.toFixed(1)} s   ${s.complete ? 'complete: every record the APIs served is in bronze' : 'INCOMPLETE: not every record the APIs served is in bronze'}`,
  ].join('\n');
}
