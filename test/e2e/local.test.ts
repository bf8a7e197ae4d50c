import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_COUNTS, readBronze, requireBuiltCli, spawnCli, tempDir } from '../support/cli.js';

/**
 * End to end: `ingest local` on the real fixtures, through the real Kinesis emulator, into a file
 * lake. Bronze must hold every fixture record exactly once, as valid gzip, in the right partitions.
 */
describe('ingest local on the fixtures', () => {
  beforeAll(() => requireBuiltCli());

  it('lands all 283 fixture records in bronze exactly once, then a second run puts nothing new', async () => {
    const dir = tempDir('e2e-local');
    const env = {
      INGEST_STATE_DIR: join(dir, 'state'),
      INGEST_LAKE_URI: `file://${join(dir, 'lake')}`,
      INGEST_RUN_PORT: '0',
      INGEST_CONSUME_PORT: '0',
    };
    const run = spawnCli(['local', '--fixture-port', '0'], env);
    const { code } = await run.exited;
    expect(code, run.stderr()).toBe(0);
    expect(run.stdout()).toMatch(/TOTAL\s+5\s+0\s+283\s+0\s+283\s+0\s+283/);

    const objects = await readBronze(join(dir, 'lake'));
    const all = objects.flatMap((o) => o.lines);
    expect(all).toHaveLength(283);
    const ids = new Set(all.map((e) => `${e.source}/${e.id}`));
    expect(ids.size).toBe(283);
    const perSource: Record<string, number> = {};
    for (const e of all) perSource[e.source as string] = (perSource[e.source as string] ?? 0) + 1;
    expect(perSource).toEqual(FIXTURE_COUNTS);

    for (const o of objects) {
      const m =
        /^bronze\/source=([^/]+)\/dt=(\d{4}-\d{2}-\d{2})\/hour=(\d{2})\/ingest-local-shardId-\d{12}-\d+\.json\.gz$/.exec(
          o.key,
        );
      expect(m, o.key).not.toBeNull();
      for (const e of o.lines) {
        expect(e.source).toBe(m![1]);
        const at = e.ingested_at as string;
        expect(at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
        expect(at.slice(0, 10)).toBe(m![2]);
        expect(at.slice(11, 13)).toBe(m![3]);
        expect(e.payload).toBeTypeOf('object');
      }
    }
    // The envelope carries the payload unchanged and a deterministic id.
    const issue = all.find((e) => e.source === 'github.issues')!;
    const payload = issue.payload as { id: number; updated_at: string };
    expect(issue.id).toBe(`${payload.id}@${payload.updated_at}`);
    expect(issue.event_time).toBe(new Date(payload.updated_at).toISOString());

    // Second run on the same state: every record is unchanged, nothing is put, bronze is unchanged.
    const again = spawnCli(['local', '--fixture-port', '0'], env);
    const second = await again.exited;
    expect(second.code, again.stderr()).toBe(0);
    expect(again.stdout()).toMatch(/TOTAL\s+5\s+0\s+283\s+283\s+0\s+0\s+283/);
    const after = (await readBronze(join(dir, 'lake'))).flatMap((o) => o.lines);
    expect(after).toHaveLength(283);
  });
});
