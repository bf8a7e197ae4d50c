import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FixtureServer, startFixtureServer } from '../../src/local/fixture-server.js';
import { freePort, type KinesisLocal, startKinesisLocal } from '../../src/local/kinesis-local.js';
import {
  FIXTURE_COUNTS,
  readBronze,
  requireBuiltCli,
  type Spawned,
  spawnCli,
  tempDir,
  waitFor,
} from '../support/cli.js';

/**
 * The two ECS roles as separate processes (`ingest run`, `ingest consume`) against the real Kinesis
 * emulator and the fixture server: SIGTERM mid-run loses nothing and exits 0 in time; after SIGKILL
 * a restart resumes from the checkpoint and, after dedup by id, loses nothing.
 */
describe('roles under SIGTERM and SIGKILL', () => {
  let kinesis: KinesisLocal;
  let fixtures: FixtureServer;

  beforeAll(async () => {
    requireBuiltCli();
    kinesis = await startKinesisLocal({
      streams: [
        { name: 'sig-a', shards: 2 },
        { name: 'sig-b', shards: 2 },
        { name: 'sig-c', shards: 2 },
      ],
    });
    fixtures = await startFixtureServer({ port: 0 });
  });
  afterAll(async () => {
    kinesis?.resume();
    await kinesis?.stop();
    await fixtures?.close();
  });

  async function setup(stream: string) {
    const dir = tempDir(`e2e-${stream}`);
    const consumePort = await freePort();
    const file = join(dir, 'config.yaml');
    const slowFile = join(dir, 'slow.yaml');
    const slowPollsFile = join(dir, 'slow-polls.yaml');
    const base = readFileSync('config/local.yaml', 'utf8');
    writeFileSync(file, base);
    // The first run is slowed down so a signal lands mid-run: GitHub's five pages at one request per second,
    // and a bronze buffer that only a shutdown flush (or 60 s) empties.
    const text = base
      .replace('bufferIntervalSecs: 5', 'bufferIntervalSecs: 60')
      .replace(
        '    pagination:\n      type: linkHeader',
        '    pagination:\n      type: linkHeader\n    rateLimit: { requestsPerSec: 1, burst: 1, maxConcurrent: 1 }',
      );
    if (!text.includes('requestsPerSec: 1') || !text.includes('bufferIntervalSecs: 60'))
      throw new Error('config/local.yaml changed shape');
    writeFileSync(slowFile, text);
    writeFileSync(slowPollsFile, text.replace('bufferIntervalSecs: 60', 'bufferIntervalSecs: 1'));
    const env = {
      FIXTURE_ORIGIN: fixtures.origin,
      INGEST_STREAM: stream,
      INGEST_STATE_DIR: join(dir, 'state'),
      INGEST_LAKE_URI: `file://${join(dir, 'lake')}`,
      INGEST_RUN_PORT: '0',
      INGEST_CONSUME_PORT: String(consumePort),
      AWS_ENDPOINT_URL_KINESIS: kinesis.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    };
    const files = { normal: file, slow: slowFile, slowPolls: slowPollsFile };
    const start = (mode: keyof typeof files = 'normal'): [Spawned, Spawned] => [
      spawnCli(['consume', '--config', files[mode]], env),
      spawnCli(['run', '--config', files[mode]], env),
    ];
    /** Records the bronze writer has read so far, from its /metrics (0 while it is starting). */
    const recordsRead = async () => {
      const text = await fetch(`http://127.0.0.1:${consumePort}/metrics`)
        .then((r) => r.text())
        .catch(() => '');
      return Number(/ingest_bronze_records_total\{[^}]*outcome="read"[^}]*\} (\d+)/.exec(text)?.[1] ?? 0);
    };
    return { dir, start, recordsRead };
  }

  async function distinctIds(lake: string): Promise<Map<string, Set<string>>> {
    const ids = new Map<string, Set<string>>();
    for (const o of await readBronze(lake)) {
      for (const e of o.lines) {
        const s = e.source as string;
        if (!ids.has(s)) ids.set(s, new Set());
        ids.get(s)!.add(e.id as string);
      }
    }
    return ids;
  }

  /** Restarts both roles, waits until bronze holds every fixture record, stops them (exit 0) and checks. */
  async function restartUntilComplete(start: () => [Spawned, Spawned], lake: string): Promise<void> {
    const [consume, run] = start();
    await waitFor(() => complete(lake), 60_000, 'every fixture record in bronze after the restart');
    run.child.kill('SIGTERM');
    consume.child.kill('SIGTERM');
    expect((await run.exited).code).toBe(0);
    expect((await consume.exited).code).toBe(0);
    const ids = await distinctIds(lake);
    for (const [s, n] of Object.entries(FIXTURE_COUNTS)) expect(ids.get(s)?.size, s).toBe(n);
  }

  const complete = async (lake: string) => {
    const ids = await distinctIds(lake);
    return Object.entries(FIXTURE_COUNTS).every(([s, n]) => (ids.get(s)?.size ?? 0) === n);
  };

  it('SIGTERM mid-run: both roles exit 0 within 20 s, and a restart completes with nothing lost', async () => {
    const { dir, start, recordsRead } = await setup('sig-a');
    const lake = join(dir, 'lake');
    const [consume, run] = start('slow');
    // Signal mid-run: once the bronze writer holds records in its buffer and GitHub's rate-limited
    // pagination has moved past its first page (so it is not finished).
    await waitFor(
      async () => (await recordsRead()) > 0 && (fixtures.hits.get('/repositories/515435940/issues') ?? 0) > 0,
      30_000,
      'records read by the bronze writer while GitHub pages are still being fetched',
    );
    const t0 = Date.now();
    run.child.kill('SIGTERM');
    consume.child.kill('SIGTERM');
    const [r1, c1] = await Promise.all([run.exited, consume.exited]);
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(r1.code, run.stderr()).toBe(0);
    expect(c1.code, consume.stderr()).toBe(0);
    expect(run.stderr()).toContain('stopped cleanly');
    // It really was mid-run: the shutdown flushed buffered records to bronze, but GitHub's
    // rate-limited pages were not all fetched yet.
    const partial = await distinctIds(lake);
    expect([...partial.values()].reduce((n, s) => n + s.size, 0)).toBeGreaterThan(0);
    expect(partial.get('github.issues')?.size ?? 0).toBeLessThan(13);

    await restartUntilComplete(start, lake);
  });

  it('SIGKILL mid-run: a restart resumes from the checkpoint and, after dedup by id, loses nothing', async () => {
    const { dir, start } = await setup('sig-b');
    const lake = join(dir, 'lake');
    const [consume, run] = start('slowPolls');
    // Kill once the bronze writer has checkpointed something but GitHub's pages are not all in.
    await waitFor(() => existsSync(join(dir, 'state', 'checkpoint')), 20_000, 'a first checkpoint');
    run.child.kill('SIGKILL');
    consume.child.kill('SIGKILL');
    await Promise.all([run.exited, consume.exited]);
    expect((await distinctIds(lake)).get('github.issues')?.size ?? 0).toBeLessThan(13);

    await restartUntilComplete(start, lake);
  });

  it('SIGTERM while Kinesis is stalled: run exits 0 within shutdownTimeoutSecs, dead-letters nothing, and a restart completes', async () => {
    const { dir, start } = await setup('sig-c');
    const lake = join(dir, 'lake');
    // The fixture server's hit counts are shared with the tests before: count from here.
    const issuesPage = '/repositories/515435940/issues';
    const hitsBefore = fixtures.hits.get(issuesPage) ?? 0;
    const [consume, run] = start('slow');
    // Stall the stream once this run fetches GitHub's rate-limited pages (its sink started, its
    // first pages went out): the run role then holds records that Kinesis never acknowledges.
    await waitFor(
      async () => (fixtures.hits.get(issuesPage) ?? 0) > hitsBefore,
      30_000,
      'GitHub pages being fetched by this run',
    );
    kinesis.pause();
    try {
      await new Promise((r) => setTimeout(r, 3_000));
      const t0 = Date.now();
      run.child.kill('SIGTERM');
      const r1 = await run.exited;
      // shutdownTimeoutSecs is 20 (the default): the stop abandons what is unacknowledged in time.
      expect(Date.now() - t0).toBeLessThan(20_000);
      expect(r1.code, run.stderr()).toBe(0);
      expect(run.stderr()).toContain('stopped cleanly');
      expect(run.stderr()).not.toContain('dead_lettered');
      // It really was stalled: records were waiting for Kinesis and were abandoned, not dead-lettered.
      expect(run.stderr()).toContain('"event":"sink_abandoned"');
    } finally {
      kinesis.resume();
    }
    consume.child.kill('SIGTERM');
    expect((await consume.exited).code).toBe(0);
    expect(existsSync(join(lake, 'dead-letter'))).toBe(false);
    // The abandoned records were not recorded as seen: the restart polls and lands them.
    await restartUntilComplete(start, lake);
  });
});
