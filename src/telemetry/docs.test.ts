import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { metricsReference } from './docs.js';

describe('metrics reference', () => {
  it('the committed reference lists exactly the metrics the components register', async () => {
    expect(readFileSync('docs/metrics-reference.md', 'utf8')).toBe(await metricsReference());
  });

  it('names follow Prometheus conventions: counters end in _total, units in the name', async () => {
    const doc = await metricsReference();
    const rows = doc.split('\n').filter((l) => l.startsWith('| `ingest_'));
    expect(rows.length).toBeGreaterThan(20);
    for (const row of rows) {
      const [, name, type] = /^\| `([^`]+)` \| (\w+) \|/.exec(row)!;
      if (type === 'counter') expect(name, row).toMatch(/_total$/);
      else expect(name, row).not.toMatch(/_total$/);
    }
  });
});
