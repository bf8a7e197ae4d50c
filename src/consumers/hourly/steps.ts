/**
 * The steps of a cycle after the jobs: the crawler and the quality query. Functions over a
 * {@link StepContext} (what they need of the scheduler), so the scheduler stays about ownership and
 * job runs.
 */
import { describeError, isRetriable } from '../../errors.js';
import type { LakeConfig } from '../../glue/config.js';
import { CrawlerRunningError } from '../../glue/errors.js';
import type { GlueExecutor, QueryEngine } from '../../glue/types.js';
import type { Logger } from '../../log.js';
import type { HourlySchedulerConfig } from './config.js';
import { CrawlerFailedError, CrawlerTimeoutError, QualityCheckError } from './errors.js';
import { type HourId, sqlHourList } from './hours.js';
import type { QualityRecord } from './records.js';
import { schedulerCrawlerRunsTotal, schedulerQualityCheckValue } from './telemetry.js';

/** What the steps need of the scheduler. */
export interface StepContext {
  /** Scheduler name (the `scheduler` metric label). */
  name: string;
  config: HourlySchedulerConfig;
  executor: GlueExecutor;
  queries?: QueryEngine;
  lakeConfig: LakeConfig;
  log: Logger;
  clock: () => Date;
  /** Waits, cut short by `stop()`. @throws SchedulerStoppedError */
  sleep: (ms: number) => Promise<void>;
  /** Renews the leases of the hours still worked on. */
  renewLeases: () => Promise<void>;
  countError: (err: unknown) => void;
  counts: { crawls: number; qualityChecks: number };
}

/**
 * One crawl for the whole cycle. Waits while the crawler is RUNNING or STOPPING (a crawl started
 * before this cycle's data may miss it), starts it when READY (`CrawlerRunningException` → wait and
 * try again), then waits until it is READY again and checks its last crawl's status.
 * @throws CrawlerFailedError, CrawlerTimeoutError, the first non-retriable error, SchedulerStoppedError.
 */
export async function crawl(ctx: StepContext, name: string, hours: HourId[]): Promise<void> {
  const labels = { scheduler: ctx.name };
  const deadline = ctx.clock().getTime() + ctx.config.crawlerTimeoutSecs * 1000;
  const timedOut = () => {
    if (ctx.clock().getTime() >= deadline) {
      schedulerCrawlerRunsTotal.inc({ ...labels, outcome: 'failed' });
      throw new CrawlerTimeoutError(
        `crawler ${name} did not finish within ${ctx.config.crawlerTimeoutSecs} s`,
      );
    }
  };
  let delaySecs = ctx.config.jobPollIntervalSecs;
  const pause = async () => {
    await ctx.sleep(delaySecs * 1000);
    await ctx.renewLeases();
    delaySecs = Math.min(ctx.config.jobPollMaxIntervalSecs, delaySecs * 2);
  };
  // 1. Start it once READY.
  for (;;) {
    const status = await crawlerStatus(ctx, name);
    if (status?.state === 'READY') {
      try {
        await ctx.executor.startCrawler(name);
        break;
      } catch (err) {
        if (err instanceof CrawlerRunningError) {
          schedulerCrawlerRunsTotal.inc({ ...labels, outcome: 'busy' });
          ctx.log.debug({ crawler: name }, 'CrawlerRunningException; waiting for READY');
        } else if (isRetriable(err)) {
          ctx.countError(err);
          ctx.log.warn({ crawler: name, err: describeError(err) }, 'StartCrawler failed; trying again');
        } else {
          throw err;
        }
      }
    } else if (status !== undefined) {
      schedulerCrawlerRunsTotal.inc({ ...labels, outcome: 'busy' });
      ctx.log.debug({ crawler: name, state: status.state }, 'crawler busy; waiting for READY');
    }
    timedOut();
    await pause();
  }
  schedulerCrawlerRunsTotal.inc({ ...labels, outcome: 'started' });
  ctx.counts.crawls += 1;
  ctx.log.info({ crawler: name, hours: hours }, 'crawler started');
  // 2. Wait until it is READY again.
  delaySecs = ctx.config.jobPollIntervalSecs;
  for (;;) {
    await pause();
    const status = await crawlerStatus(ctx, name);
    if (status?.state === 'READY') {
      const last = status.lastCrawlStatus;
      if (last === 'FAILED' || last === 'CANCELLED') {
        schedulerCrawlerRunsTotal.inc({ ...labels, outcome: 'failed' });
        throw new CrawlerFailedError(
          `crawler ${name} crawl ${last}${status.lastCrawlError ? `: ${status.lastCrawlError}` : ''}`,
        );
      }
      schedulerCrawlerRunsTotal.inc({ ...labels, outcome: 'succeeded' });
      ctx.log.info({ crawler: name }, 'crawler finished');
      return;
    }
    timedOut();
  }
}

/** GetCrawler; `undefined` after a retriable error (counted). @throws non-retriable errors. */
async function crawlerStatus(ctx: StepContext, name: string) {
  try {
    return await ctx.executor.getCrawler(name);
  } catch (err) {
    if (!isRetriable(err)) throw err;
    ctx.countError(err);
    ctx.log.warn({ crawler: name, err: describeError(err) }, 'GetCrawler failed; trying again');
    return undefined;
  }
}

/**
 * Runs the quality query (placeholders `{{hours}}`, `{{database}}` filled in) and exports every
 * numeric column of its first row as `ingest_scheduler_quality_check_value{check=<column>}`.
 * @throws QualityCheckError when the query fails.
 */
export async function qualityCheck(ctx: StepContext, sql: string, hours: HourId[]): Promise<QualityRecord> {
  const text = sql
    .replaceAll('{{hours}}', sqlHourList(hours))
    .replaceAll('{{database}}', ctx.lakeConfig.database);
  let res: Awaited<ReturnType<QueryEngine['query']>>;
  try {
    res = await ctx.queries!.query(text);
  } catch (err) {
    throw new QualityCheckError(`quality query failed: ${describeError(err)}`, {
      cause: err,
      retriable: isRetriable(err),
    });
  }
  ctx.counts.qualityChecks += 1;
  const first = res.rows[0] ?? [];
  const values: Record<string, string | null> = {};
  res.columns.forEach((col, i) => {
    const v = first[i] ?? null;
    values[col] = v;
    const n = v === null || v.trim() === '' ? Number.NaN : Number(v);
    if (Number.isFinite(n)) schedulerQualityCheckValue.set({ scheduler: ctx.name, check: col }, n);
  });
  ctx.log.info({ values, rows: res.rows.length }, 'quality query answered');
  return { checkedAt: ctx.clock().toISOString(), values, rows: res.rows.length };
}
