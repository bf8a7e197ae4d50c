import { describe, expect, it } from 'vitest';
import { encodeAggregated } from '../../producers/kinesis/kpl.js';
import { parseRecord, partitionOf, validateEnvelope } from './records.js';

const enc = (s: string) => new TextEncoder().encode(s);
const env = (over: Record<string, unknown> = {}) => ({
  source: 'fakestore.carts',
  id: '1@2024-01-01',
  ingested_at: '2024-03-05T07:59:59.999Z',
  payload: { id: 1 },
  ...over,
});

describe('partitionOf', () => {
  it('takes the UTC date and hour of ingested_at', () => {
    expect(partitionOf('2024-03-05T07:59:59.999Z')).toEqual({ dt: '2024-03-05', hour: '07' });
    expect(partitionOf('2024-03-05T01:30:00.000+05:00')).toEqual({ dt: '2024-03-04', hour: '20' });
  });
  it('rejects what is not a date', () => {
    expect(() => partitionOf('yesterday')).toThrow(/not a date/);
  });
});

describe('validateEnvelope', () => {
  it('accepts an envelope', () => {
    expect(validateEnvelope(env())).toMatchObject({
      source: 'fakestore.carts',
      dt: '2024-03-05',
      hour: '07',
    });
  });
  it.each([
    ['source', /missing or empty "source"/],
    ['id', /missing or empty "id"/],
    ['ingested_at', /missing or empty "ingested_at"/],
  ])('rejects an envelope without %s', (field, reason) => {
    const e: Record<string, unknown> = env();
    delete e[field];
    expect(() => validateEnvelope(e)).toThrow(reason);
    expect(() => validateEnvelope({ ...env(), [field]: '' })).toThrow(reason);
    expect(() => validateEnvelope({ ...env(), [field]: 42 })).toThrow(reason);
  });
  it('rejects non-objects and unsafe sources', () => {
    expect(() => validateEnvelope([env()])).toThrow(/not a JSON object \(array\)/);
    expect(() => validateEnvelope(null)).toThrow(/not a JSON object/);
    expect(() => validateEnvelope(env({ source: '../etc' }))).toThrow(/not a valid partition value/);
    expect(() => validateEnvelope(env({ source: 'a/b' }))).toThrow(/not a valid partition value/);
  });
});

describe('parseRecord', () => {
  it('parses one envelope and keeps its text as is', () => {
    const text =
      '{"source":"a","id":"1","ingested_at":"2024-01-01T00:00:00.000Z","payload":{"n":12345678901234567890}}';
    const r = parseRecord({ sequenceNumber: '7', data: enc(text) });
    expect(r.rejected).toEqual([]);
    expect(r.envelopes).toEqual([
      { sequenceNumber: '7', source: 'a', id: '1', dt: '2024-01-01', hour: '00', line: text },
    ]);
  });

  it('puts a pretty-printed envelope on one line', () => {
    const r = parseRecord({ sequenceNumber: '7', data: enc(JSON.stringify(env(), null, 2)) });
    expect(r.envelopes).toHaveLength(1);
    expect(r.envelopes[0]?.line).not.toContain('\n');
    expect(JSON.parse(r.envelopes[0]?.line ?? '')).toEqual(env());
  });

  it('splits NDJSON into several envelopes and rejects bad lines one by one', () => {
    const lines = [
      JSON.stringify(env({ id: 'a' })),
      JSON.stringify(env({ id: 'b', source: 'other', ingested_at: '2024-03-05T08:00:00.000Z' })),
      'not json',
      JSON.stringify(env({ id: undefined })),
      '',
    ];
    const r = parseRecord({ sequenceNumber: '9', data: enc(lines.join('\r\n')), partitionKey: 'pk' });
    expect(r.envelopes.map((e) => [e.id, e.source, e.hour])).toEqual([
      ['a', 'fakestore.carts', '07'],
      ['b', 'other', '08'],
    ]);
    expect(r.rejected.map((x) => x.reason)).toEqual([
      expect.stringMatching(/^line 3: not valid JSON/),
      'line 4: missing or empty "id"',
    ]);
    expect(r.rejected[1]).toMatchObject({
      source: 'fakestore.carts',
      partitionKey: 'pk',
      sequenceNumber: '9',
    });
    expect(new TextDecoder().decode(r.rejected[0]?.data)).toBe('not json');
  });

  it('rejects non-JSON, empty and non-UTF-8 records with a reason', () => {
    expect(parseRecord({ sequenceNumber: '1', data: enc('hello') }).rejected[0]?.reason).toMatch(
      /^not valid JSON/,
    );
    expect(parseRecord({ sequenceNumber: '1', data: enc('  \n') }).rejected[0]?.reason).toBe('empty record');
    expect(parseRecord({ sequenceNumber: '1', data: new Uint8Array([0xff, 0xfe]) }).rejected[0]?.reason).toBe(
      'not valid UTF-8',
    );
  });
});

describe('parseRecord with KPL-aggregated records', () => {
  it('deaggregates: every user record (one envelope or NDJSON) lands in order under the Kinesis sequence number', () => {
    const e = (id: string) => env({ id });
    const data = encodeAggregated([
      { partitionKey: 'k1', data: enc(JSON.stringify(e('a'))) },
      { partitionKey: 'k2', data: enc(`${JSON.stringify(e('b'))}\n${JSON.stringify(e('c'))}\n`) },
      { partitionKey: 'k1', data: enc(JSON.stringify(e('d'), null, 2)) },
    ]);
    const r = parseRecord({ sequenceNumber: '42', data, partitionKey: 'k1' });
    expect(r.rejected).toEqual([]);
    expect(r.envelopes.map((x) => [x.id, x.sequenceNumber])).toEqual([
      ['a', '42'],
      ['b', '42'],
      ['c', '42'],
      ['d', '42'],
    ]);
    expect(JSON.parse(r.envelopes[3]!.line)).toEqual(e('d'));
  });

  it('dead-letters a bad user record with its own partition key and position, and lands the others', () => {
    const data = encodeAggregated([
      { partitionKey: 'good', data: enc(JSON.stringify(env({ id: 'ok' }))) },
      { partitionKey: 'bad', data: enc('not json') },
    ]);
    const r = parseRecord({ sequenceNumber: '7', data, partitionKey: 'good' });
    expect(r.envelopes.map((x) => x.id)).toEqual(['ok']);
    expect(r.rejected).toHaveLength(1);
    expect(r.rejected[0]).toMatchObject({ sequenceNumber: '7', partitionKey: 'bad', source: 'unknown' });
    expect(r.rejected[0]?.reason).toMatch(/^KPL user record 2 of 2: not valid JSON/);
    expect(new TextDecoder().decode(r.rejected[0]?.data)).toBe('not json');
  });

  it('dead-letters the whole record on a bad MD5 or a bad protobuf, with the reason', () => {
    const data = encodeAggregated([{ partitionKey: 'k', data: enc(JSON.stringify(env())) }]);
    data[data.length - 1] = data[data.length - 1]! ^ 0xff;
    const r = parseRecord({ sequenceNumber: '1', data, partitionKey: 'k' });
    expect(r.envelopes).toEqual([]);
    expect(r.rejected).toHaveLength(1);
    expect(r.rejected[0]).toMatchObject({ reason: 'bad KPL-aggregated record: MD5 checksum mismatch', data });
    const garbage = new Uint8Array([0xf3, 0x89, 0x9a, 0xc2, 1, 2]);
    expect(parseRecord({ sequenceNumber: '1', data: garbage }).rejected[0]).toMatchObject({
      reason: expect.stringMatching(/^bad KPL-aggregated record: /),
      data: garbage,
      source: 'unknown',
    });
  });
});
