/**
 * Scenario "fixtures → Kinesis → bronze on S3": the `run` and `consume` roles, in process, from the
 * suite's config (DynamoDB state, `s3://` lake), poll every recorded fixture API once; every one of
 * the 283 envelopes lands in bronze on S3 exactly once, under the key of its source, date and hour,
 * read back with a plain S3 client.
 */
import { expect, it } from 'vitest';
import type { Envelope } from '../../../src/envelope.js';
import { silentLogger } from '../../../src/log.js';
import {
  type ConsumeRole,
  type RunRole,
  startConsumeRole,
  startRunRole,
} from '../../../src/runtime/roles.js';
import { FIXTURE_ENVELOPES, NAMES, type SuiteContext, waitFor } from './context.js';

const KEY_RE =
  /^bronze\/source=([a-z0-9._-]+)\/dt=(\d{4}-\d{2}-\d{2})\/hour=(\d{2})\/([a-z0-9-]+)-(shardId-\d+)-(\d+)\.json\.gz$/;

const TOTAL = Object.values(FIXTURE_ENVELOPES).reduce((a, b) => a + b, 0);

/** Registers the pipeline scenario. */
export function pipelineScenario(ctx: SuiteContext): void {
  it(`polls the fixture APIs through Kinesis into bronze on S3: all ${TOTAL} envelopes, exactly once`, async () => {
    expect(TOTAL).toBe(283);
    await ctx.bootstrapped();
    let consume: ConsumeRole | undefined;
    let run: RunRole | undefined;
    try {
      consume = await startConsumeRole(ctx.config, silentLogger, { port: 0 });
      run = await startRunRole(ctx.config, silentLogger, { port: 0 });
      const sources = run.sources;
      const bronze = consume.consumers.find((c) => c.name === 'bronze')!;
      const delivered = () => sources.reduce((n, s) => n + s.stats().emitted, 0);
      await waitFor(
        'every source to poll once and the bronze writer to land what they delivered',
        () =>
          sources.every((s) => s.stats().completedPolls >= 1) &&
          delivered() >= TOTAL &&
          bronze.stats().recordsLanded >= delivered(),
        45_000,
      );
      expect(
        Object.fromEntries(sources.map((s) => [s.name, [s.stats().emitted, s.stats().deadLettered]])),
      ).toEqual(Object.fromEntries(Object.entries(FIXTURE_ENVELOPES).map(([k, n]) => [k, [n, 0]])));
    } finally {
      await run?.stop();
      await consume?.stop();
    }
    const bronzeStats = consume!.consumers.find((c) => c.name === 'bronze')!.stats();
    expect(bronzeStats.recordsLanded).toBe(TOTAL);
    expect(bronzeStats.recordsDeadLettered).toBe(0);

    // What is in S3, read back independently of the service code.
    const objects = await ctx.readBronze();
    expect(objects.length).toBeGreaterThan(0);
    const counts = new Map<string, number>();
    const bySource = new Map<string, Set<string>>();
    const shards = new Set<string>();
    for (const { key, envelopes } of objects) {
      const m = KEY_RE.exec(key);
      expect(m, key).not.toBeNull();
      const [, source, dt, hour, stream, shard] = m!;
      expect(stream).toBe(NAMES.stream);
      shards.add(shard!);
      expect(envelopes.length, key).toBeGreaterThan(0);
      for (const e of envelopes as Envelope[]) {
        expect(e.source, key).toBe(source);
        expect(e.ingested_at.slice(0, 10), key).toBe(dt);
        expect(e.ingested_at.slice(11, 13), key).toBe(hour);
        expect(typeof e.id).toBe('string');
        expect(e.payload).toBeTypeOf('object');
        counts.set(e.id, (counts.get(e.id) ?? 0) + 1);
        if (!bySource.has(e.source)) bySource.set(e.source, new Set());
        bySource.get(e.source)!.add(e.id);
      }
    }
    const repeated = [...counts].filter(([, n]) => n !== 1);
    expect(repeated, 'envelope ids landed more than once').toEqual([]);
    expect(counts.size).toBe(TOTAL);
    expect(Object.fromEntries([...bySource].map(([s, ids]) => [s, ids.size]))).toEqual(FIXTURE_ENVELOPES);
    // Both shards carried records (partition keys spread the entities).
    expect(shards.size).toBe(NAMES.shards);
    // Nothing was dead-lettered.
    expect(await ctx.listKeys(NAMES.deadLetterBucket)).toEqual([]);
  });
}
