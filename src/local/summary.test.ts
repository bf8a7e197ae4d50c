import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { countBronze, formatSummary, type LocalSummary, type SourceSummary } from './index.js';

const row = (source: string, over: Partial<SourceSummary>): SourceSummary => ({
  source,
  polls: 1,
  failedPolls: 0,
  polled: 3,
  unchanged: 0,
  put: 3,
  deadLettered: 0,
  inBronze: 3,
  bronzeRecords: 3,
  ...over,
});

describe('ingest local summary', () => {
  it('counts records and distinct ids per source in bronze', async () => {
    const root = mkdtempSync(join(tmpdir(), 'lake-'));
    const hour = join(root, 'bronze/source=a/dt=2026-12-04/hour=10');
    mkdirSync(hour, { recursive: true });
    const lines = [
      { source: 'a', id: '1@x' },
      { source: 'a', id: '1@x' },
      { source: 'a', id: '2@x' },
      { source: 'b', id: '9' },
    ];
    writeFileSync(join(hour, 'o.json.gz'), gzipSync(lines.map((l) => JSON.stringify(l)).join('\n')));
    const counts = await countBronze(`file://${root}`);
    expect(counts.get('a')).toMatchObject({ records: 3 });
    expect(counts.get('a')?.ids.size).toBe(2);
    expect(counts.get('b')?.records).toBe(1);
  });

  it('shows bronze records and distinct ids, and flags a source with duplicates', () => {
    const summary: LocalSummary = {
      sources: [
        row('clean', {}),
        row('dupes', { polled: 1001, put: 3003, bronzeRecords: 3003, inBronze: 1001 }),
      ],
      landedThisRun: 3006,
      consumerDeadLettered: 0,
      landedAll: true,
      complete: true,
      elapsedSecs: 1,
      lakeUri: 'file:///tmp/lake',
    };
    const text = formatSummary(summary);
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/bronze records\s+distinct ids\s+duplicates$/);
    expect(lines.find((l) => l.startsWith('clean'))).toMatch(/3\s+3\s+0$/);
    expect(lines.find((l) => l.startsWith('dupes'))).toMatch(/3003\s+1001\s+2002 DUP$/);
    expect(lines.find((l) => l.startsWith('TOTAL'))).toMatch(/3006\s+1004\s+2002 DUP$/);
    expect(text).toContain('DUPLICATES in bronze (records > distinct ids): dupes 3003 records for 1001 ids');
    expect(formatSummary({ ...summary, sources: [row('clean', {})] })).not.toContain('DUPLICATES');
  });
});
