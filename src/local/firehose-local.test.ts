import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { partitionObject } from './firehose-local.js';

const lines = (...o: object[]) => `${o.map((x) => JSON.stringify(x)).join('\n')}\n`;

describe('partitionObject (the mirror of Firehose dynamic partitioning)', () => {
  const key =
    'bronze/source=!{partitionKeyFromQuery:source}/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/2026/12/05/07/s-1-2026-12-05-07-01-02-abc';

  it('splits a moto object by source into the bronze layout at its arrival hour, with a stable name', () => {
    const body = new TextEncoder().encode(
      lines({ source: 'a.b', id: 1 }, { source: 'c', id: 2 }, { source: 'a.b', id: 3 }),
    );
    const parts = partitionObject(key, body);
    expect(parts).toEqual([
      {
        key: 'bronze/source=a.b/dt=2026-12-05/hour=07/s-1-2026-12-05-07-01-02-abc.json.gz',
        lines: ['{"source":"a.b","id":1}', '{"source":"a.b","id":3}'],
      },
      {
        key: 'bronze/source=c/dt=2026-12-05/hour=07/s-1-2026-12-05-07-01-02-abc.json.gz',
        lines: ['{"source":"c","id":2}'],
      },
    ]);
    expect(partitionObject(key, gzipSync(body))).toEqual(parts);
  });

  it('sends a line without a usable source to the error prefix, never dropping it', () => {
    const parts = partitionObject(key, new TextEncoder().encode('not json\n{"id":1}\n'));
    expect(parts).toHaveLength(1);
    expect(parts[0]!.key).toMatch(/^bronze-errors\/partitioning-failed\/dt=2026-12-05\/hour=07\//);
    expect(parts[0]!.lines).toHaveLength(2);
  });
});
