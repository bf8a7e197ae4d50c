import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bronzeKey, encodeNdjson, gunzipNdjson, gzipNdjson, lineBytes, planObjects } from './objects.js';
import type { ParsedEnvelope } from './records.js';

const e = (seq: string, source: string, dt: string, hour: string, id = seq): ParsedEnvelope => ({
  sequenceNumber: seq,
  source,
  id,
  dt,
  hour,
  line: JSON.stringify({ source, id, seq }),
});

describe('bronzeKey', () => {
  it('follows the Hive-style bronze layout', () => {
    expect(
      bronzeKey({
        source: 'fakestore.carts',
        dt: '2024-03-05',
        hour: '07',
        streamName: 'ingest',
        shardId: 'shardId-000000000001',
        firstSequenceNumber: '4960',
      }),
    ).toBe('bronze/source=fakestore.carts/dt=2024-03-05/hour=07/ingest-shardId-000000000001-4960.json.gz');
  });
});

describe('planObjects', () => {
  it('makes one object per (source, dt, hour), named after its first sequence number', () => {
    const buf = [
      e('10', 'a', '2024-01-01', '23'),
      e('11', 'b', '2024-01-01', '23'),
      e('12', 'a', '2024-01-02', '00'),
      e('13', 'a', '2024-01-01', '23'),
      e('14', 'b', '2024-01-01', '23'),
    ];
    const plans = planObjects(buf, 's', 'shard-1');
    expect(plans.map((p) => [p.key, p.lines.length, p.firstSequenceNumber, p.lastSequenceNumber])).toEqual([
      ['bronze/source=a/dt=2024-01-01/hour=23/s-shard-1-10.json.gz', 2, '10', '13'],
      ['bronze/source=b/dt=2024-01-01/hour=23/s-shard-1-11.json.gz', 2, '11', '14'],
      ['bronze/source=a/dt=2024-01-02/hour=00/s-shard-1-12.json.gz', 1, '12', '12'],
    ]);
    expect(plans[0]?.lines).toEqual([buf[0]?.line, buf[3]?.line]);
    expect(plans[0]?.uncompressedBytes).toBe(encodeNdjson(plans[0]?.lines ?? []).length);
  });

  it('keeps several envelopes of one record (NDJSON) under the record sequence number', () => {
    const plans = planObjects(
      [e('5', 'a', '2024-01-01', '01', 'x'), e('5', 'a', '2024-01-01', '01', 'y')],
      's',
      'h',
    );
    expect(plans).toHaveLength(1);
    expect(plans[0]?.lines).toHaveLength(2);
    expect(plans[0]?.key).toMatch(/s-h-5\.json\.gz$/);
  });

  it('is deterministic, loses nothing and duplicates nothing (property)', () => {
    const arb = fc.array(
      fc.record({
        source: fc.constantFrom('a', 'b', 'c.d'),
        dt: fc.constantFrom('2024-01-01', '2024-01-02'),
        hour: fc.constantFrom('00', '13', '23'),
      }),
      { maxLength: 60 },
    );
    fc.assert(
      fc.property(arb, (rows) => {
        const buf = rows.map((r, i) => e(String(1000 + i), r.source, r.dt, r.hour));
        const plans = planObjects(buf, 's', 'h');
        expect(planObjects(buf, 's', 'h')).toEqual(plans);
        expect(plans.flatMap((p) => p.lines).sort()).toEqual(buf.map((b) => b.line).sort());
        expect(new Set(plans.map((p) => p.key)).size).toBe(plans.length);
        for (const p of plans) {
          const first = buf.find((b) => b.source === p.source && b.dt === p.dt && b.hour === p.hour);
          expect(p.firstSequenceNumber).toBe(first?.sequenceNumber);
        }
      }),
    );
  });
});

describe('NDJSON and gzip', () => {
  it('ends every line with a newline and counts UTF-8 bytes', () => {
    expect(encodeNdjson(['{"a":1}', '{"b":"é"}']).toString()).toBe('{"a":1}\n{"b":"é"}\n');
    expect(encodeNdjson([]).length).toBe(0);
    expect(lineBytes('é')).toBe(3);
  });

  it('round-trips through gzip', async () => {
    const lines = ['{"a":1}', '{"b":"é"}'];
    const gz = await gzipNdjson(lines);
    expect([gz[0], gz[1]]).toEqual([0x1f, 0x8b]);
    expect(await gunzipNdjson(gz)).toEqual(lines);
  });
});
