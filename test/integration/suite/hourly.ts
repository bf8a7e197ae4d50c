/**
 * Scenario "hourly scheduler on Glue": the hourly consumer of the suite's config, built by the
 * registry (AwsGlueExecutor and AthenaQueryEngine from the environment, DynamoDB hour records), runs
 * one cycle over the bronze hours in the lake: two closed hours seeded here (plus an unmapped source
 * it must ignore) and whatever the pipeline scenario landed. Asserted is the control flow, which is
 * what an emulator can show (moto runs no script): one `bronze_to_silver` run per mapped source with
 * its hours and mapping, one `silver_to_gold` run over every hour, the crawler started and waited for,
 * the quality query with the hours filled in, and every hour `done` in the state store with those run
 * ids. A second cycle does nothing.
 */
import { gzipSync } from 'node:zlib';
import { GetQueryExecutionCommand, ListQueryExecutionsCommand } from '@aws-sdk/client-athena';
import { GetCrawlerCommand, GetJobRunsCommand, type JobRun, ListCrawlsCommand } from '@aws-sdk/client-glue';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { expect, it } from 'vitest';
import type { HourlyScheduler, HourRecord } from '../../../src/consumers/hourly/index.js';
import { DeadLetterQueue } from '../../../src/deadletter/index.js';
import type { Envelope } from '../../../src/envelope.js';
import { openLake } from '../../../src/lake/index.js';
import { silentLogger } from '../../../src/log.js';
import { buildConsumer } from '../../../src/registry.js';
import { openStateStore } from '../../../src/runtime/roles.js';
import { LAKE_URI, NAMES, QUALITY_QUERY, type SuiteContext, waitFor } from './context.js';

/** Two closed hours of yesterday (UTC), inside the scheduler's default 48-hour listing window. */
const DAY = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
const H09 = `${DAY}T09`;
const H10 = `${DAY}T10`;
/** Seeded bronze: two closed hours, two mapped sources and one without a mapping. */
const SEEDED: { source: string; hour: string; ids: string[] }[] = [
  { source: 'fakestore.carts', hour: H09, ids: ['c-1', 'c-2'] },
  { source: 'fakestore.products', hour: H09, ids: ['p-1'] },
  { source: 'fakestore.carts', hour: H10, ids: ['c-3'] },
  { source: 'unmapped.things', hour: H10, ids: ['u-1'] },
];

const KEY_RE = /^bronze\/source=([^/]+)\/dt=(\d{4}-\d{2}-\d{2})\/hour=(\d{2})\/[^/]+\.json\.gz$/;

async function seedBronze(ctx: SuiteContext): Promise<void> {
  for (const { source, hour, ids } of SEEDED) {
    const envelopes: Envelope[] = ids.map((id, i) => ({
      source,
      id,
      ingested_at: `${hour}:${String(10 + i).padStart(2, '0')}:00.000Z`,
      payload: { id, userId: 1, date: '2024-03-05T00:00:00Z', products: [] },
    }));
    const body = gzipSync(`${envelopes.map((e) => JSON.stringify(e)).join('\n')}\n`);
    await ctx.s3.send(
      new PutObjectCommand({
        Bucket: NAMES.lakeBucket,
        Key: `bronze/source=${source}/dt=${hour.slice(0, 10)}/hour=${hour.slice(11)}/seed-shardId-000000000000-1.json.gz`,
        Body: body,
      }),
    );
  }
}

/** Mapped source → its hours, from the bronze keys in S3 (independently of the scheduler's code). */
async function expectedWork(ctx: SuiteContext): Promise<Map<string, string[]>> {
  const mapped = new Set(ctx.config.lake.entities.map((e) => e.source));
  const bySource = new Map<string, Set<string>>();
  for (const key of await ctx.listKeys(NAMES.lakeBucket, 'bronze/')) {
    const m = KEY_RE.exec(key);
    if (!m || !mapped.has(m[1]!)) continue;
    const hour = `${m[2]}T${m[3]}`;
    if (!bySource.has(m[1]!)) bySource.set(m[1]!, new Set());
    bySource.get(m[1]!)!.add(hour);
  }
  return new Map([...bySource].sort(([a], [b]) => a.localeCompare(b)).map(([s, h]) => [s, [...h].sort()]));
}

async function jobRuns(ctx: SuiteContext, job: string): Promise<JobRun[]> {
  return (await ctx.glue.send(new GetJobRunsCommand({ JobName: job }))).JobRuns ?? [];
}

/** Registers the hourly scenario. */
export function hourlyScenario(ctx: SuiteContext): void {
  it('the hourly scheduler drives the Glue jobs, the crawler and the quality query, and records every hour done', async () => {
    await ctx.bootstrapped();
    await seedBronze(ctx);
    const work = await expectedWork(ctx);
    const hours = [...new Set([...work.values()].flat())].sort();
    expect(hours).toEqual(expect.arrayContaining([H09, H10]));
    expect(work.get('fakestore.carts')).toEqual(expect.arrayContaining([H09, H10]));
    expect(work.has('unmapped.things')).toBe(false);

    const config = ctx.config;
    const hourlyConfig = config.consumers.find((c) => c.name === NAMES.hourly)!;
    const state = await openStateStore(config);
    const scheduler = (await buildConsumer(hourlyConfig, {
      state,
      deadLetters: new DeadLetterQueue(openLake(config.deadLetter.uri)),
      logger: silentLogger,
      lakeConfig: config.lake,
    })) as HourlyScheduler;
    try {
      // The quality query's answer where the backend runs no SQL: the header row, then the value.
      await ctx.started!.injectAthena?.([{ columns: ['value'], rows: [['value'], [String(hours.length)]] }]);
      let finished = false;
      const cycle = scheduler.runOnce({ includeOpenHours: true }).finally(() => {
        finished = true;
      });
      if (ctx.started!.advanceGlue) {
        // moto's crawl ends only when told: the scheduler must be waiting for it, hours still running.
        await waitFor(
          'the scheduler to start the crawler',
          async () =>
            finished ||
            (await ctx.glue.send(new GetCrawlerCommand({ Name: NAMES.crawler }))).Crawler?.State ===
              'RUNNING',
        );
        expect(finished, 'runOnce returned before the crawl finished').toBe(false);
        await new Promise((r) => setTimeout(r, 500));
        expect(finished, 'runOnce returned while the crawl was RUNNING').toBe(false);
        const running = await scheduler.hours();
        expect(running.map((r) => [r.hour, r.status])).toEqual(hours.map((h) => [h, 'running']));
        await ctx.started!.advanceGlue();
      }
      const result = await cycle;
      expect(result).toMatchObject({
        processed: hours,
        done: hours,
        retrying: [],
        failed: [],
        deferred: [],
        abandoned: [],
        hoursBehind: 0,
      });

      // bronze_to_silver: one run per mapped source, with its hours, the lake and its mapping.
      const b2s = await jobRuns(ctx, NAMES.bronzeToSilver);
      expect(b2s).toHaveLength(work.size);
      const runBySource = new Map<string, JobRun>();
      for (const run of b2s) runBySource.set(run.Arguments?.['--source'] ?? '?', run);
      expect([...runBySource.keys()].sort()).toEqual([...work.keys()]);
      for (const [source, sourceHours] of work) {
        const run = runBySource.get(source)!;
        expect(run.JobRunState, source).toBe('SUCCEEDED');
        expect(run.Arguments, source).toMatchObject({
          '--source': source,
          '--hours': sourceHours.join(','),
          '--lake_uri': LAKE_URI,
          '--pii_key_env': 'INGEST_PII_KEY',
        });
        expect(JSON.parse(run.Arguments!['--entity_json']!)).toEqual(
          config.lake.entities.find((e) => e.source === source),
        );
      }
      // silver_to_gold: once, over every hour.
      const s2g = await jobRuns(ctx, NAMES.silverToGold);
      expect(s2g).toHaveLength(1);
      expect(s2g[0]?.JobRunState).toBe('SUCCEEDED');
      expect(s2g[0]?.Arguments).toMatchObject({ '--hours': hours.join(','), '--lake_uri': LAKE_URI });
      // The crawler: one crawl, finished; READY again.
      const crawls =
        (await ctx.glue.send(new ListCrawlsCommand({ CrawlerName: NAMES.crawler }))).Crawls ?? [];
      expect(crawls).toHaveLength(1);
      expect(crawls[0]?.State).not.toMatch(/FAILED|CANCELLED|RUNNING/);
      expect((await ctx.glue.send(new GetCrawlerCommand({ Name: NAMES.crawler }))).Crawler?.State).toBe(
        'READY',
      );
      // The quality query went to Athena with the hours filled in.
      const expectedSql = QUALITY_QUERY.replace('{{hours}}', hours.map((h) => `'${h}'`).join(','));
      const ids =
        (await ctx.athena.send(new ListQueryExecutionsCommand({ WorkGroup: NAMES.workgroup })))
          .QueryExecutionIds ?? [];
      const queries = [];
      for (const id of ids) {
        queries.push(
          (await ctx.athena.send(new GetQueryExecutionCommand({ QueryExecutionId: id }))).QueryExecution,
        );
      }
      expect(queries.map((q) => q?.Query)).toContain(expectedSql);
      expect(queries.find((q) => q?.Query === expectedSql)?.QueryExecutionContext?.Database).toBe(
        NAMES.database,
      );

      // The hour records in DynamoDB: done, with the run ids of this cycle and the quality answer.
      const goldRunId = s2g[0]!.Id;
      for (const hour of hours) {
        const rec = (await state.get<HourRecord>(`hour/${NAMES.hourly}/${hour}`))?.value;
        const sources = [...work].filter(([, h]) => h.includes(hour)).map(([s]) => s);
        expect(rec, hour).toMatchObject({
          hour,
          status: 'done',
          attempts: 0,
          runs: {
            bronzeToSilver: Object.fromEntries(sources.map((s) => [s, runBySource.get(s)!.Id])),
            silverToGold: goldRunId,
          },
          quality: { values: { value: String(hours.length) }, rows: 1 },
        });
        expect([...rec!.sources].sort()).toEqual(sources);
        expect(rec?.owner).toBeUndefined();
      }

      // A second cycle finds nothing to do and starts nothing.
      const again = await scheduler.runOnce({ includeOpenHours: true });
      expect(again.processed).toEqual([]);
      expect(await jobRuns(ctx, NAMES.bronzeToSilver)).toHaveLength(work.size);
      expect(await jobRuns(ctx, NAMES.silverToGold)).toHaveLength(1);
    } finally {
      await scheduler.stop();
      await state.close();
    }
  });
}
