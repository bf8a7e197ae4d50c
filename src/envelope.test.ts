import { describe, expect, it } from 'vitest';
import {
  contentHash,
  entityKeyOf,
  identify,
  mayHoldUnsafeInteger,
  parseJsonLossless,
  recordId,
  toIsoTime,
  wrap,
} from './envelope.js';

describe('envelope', () => {
  const now = new Date('2026-11-25T06:07:08.009Z');

  it('wraps a record with a deterministic id, event time and the payload unchanged', () => {
    const payload = { id: 7, updated_at: '2022-07-19T04:38:37Z', title: 'x' };
    const a = wrap(
      { source: 'gh', idField: 'id', versionField: 'updated_at', eventTimeField: 'updated_at' },
      payload,
      now,
    );
    expect(a.envelope).toEqual({
      source: 'gh',
      id: '7@2022-07-19T04:38:37Z',
      ingested_at: '2026-11-25T06:07:08.009Z',
      event_time: '2022-07-19T04:38:37.000Z',
      payload,
    });
    // Default partition key: `<source>:<entity key>`.
    expect(a.partitionKey).toBe('gh:7');
    expect(Object.keys(a.envelope)).toEqual(['source', 'id', 'ingested_at', 'event_time', 'payload']);
  });

  it('ids without a version hash the canonical payload: key order does not matter, content does', () => {
    const spec = { source: 's', idField: 'id' };
    expect(recordId(spec, { id: 1, a: 1, b: 2 })).toBe(recordId(spec, { b: 2, a: 1, id: 1 }));
    expect(recordId(spec, { id: 1, a: 1 })).not.toBe(recordId(spec, { id: 1, a: 2 }));
    expect(recordId({ source: 's' }, { a: 1 })).toBe(`sha256:${contentHash({ a: 1 })}`);
  });

  it('replaces a partition key over 256 characters by its SHA-256', () => {
    const { partitionKey } = wrap({ source: 's', idField: 'k' }, { k: 'x'.repeat(300) }, now);
    expect(partitionKey).toHaveLength(64);
  });

  it('a partitionKeyField that resolves to nothing falls back to <source>:<key> and is reported missing', () => {
    const spec = { source: 's', idField: 'id', partitionKeyField: 'tenant' };
    expect(wrap(spec, { id: 1, tenant: 'acme' }, now)).toMatchObject({ partitionKey: 'acme', missing: [] });
    expect(wrap(spec, { id: 2 }, now)).toMatchObject({ partitionKey: 's:2', missing: ['tenant'] });
  });

  it('keeps 64-bit integers exact: distinct big ids stay distinct and are written back digit for digit', () => {
    const parsed = parseJsonLossless(
      '[{"id": 1234567890123456789, "v": 1.5}, {"id": 1234567890123456790, "v": 2}]',
    ) as unknown[];
    const spec = { source: 's', idField: 'id', versionField: 'v' };
    const [a, b] = parsed.map((p) => wrap(spec, p, now));
    expect(a!.envelope.id).toBe('1234567890123456789@1.5');
    expect(b!.envelope.id).toBe('1234567890123456790@2');
    expect(a!.partitionKey).not.toBe(b!.partitionKey);
    expect(JSON.stringify(a!.envelope.payload)).toBe('{"id":1234567890123456789,"v":1.5}');
  });

  it('takes the plain parse only when no digit run is long enough to be an integer beyond 2^53', () => {
    expect(mayHoldUnsafeInteger('[{"id": 123456789012345, "price": 12.5, "s": "abc"}]')).toBe(false);
    expect(mayHoldUnsafeInteger('{"id": 9007199254740993}')).toBe(true);
    expect(mayHoldUnsafeInteger('{"id": -12345678901234567890}')).toBe(true);
    // A long digit run inside a string is a false positive (slower parse), never a wrong value.
    expect(mayHoldUnsafeInteger('{"s": "1234567890123456"}')).toBe(true);
    expect(parseJsonLossless('{"s": "1234567890123456", "n": 7}')).toEqual({ s: '1234567890123456', n: 7 });
    expect(JSON.stringify(parseJsonLossless('{"a": 1.5, "b": [1, 2], "c": {"d": null}}'))).toBe(
      '{"a":1.5,"b":[1,2],"c":{"d":null}}',
    );
  });

  it('composite keys join their parts with |, escaping % and | so two keys never collide', () => {
    const spec = { source: 's', idField: ['a', 'b.c'] };
    expect(entityKeyOf(spec, { a: 'US', b: { c: 42 } })).toBe('US|42');
    expect(entityKeyOf(spec, { a: 'x|y', b: { c: 'z' } })).toBe('x%7Cy|z');
    expect(entityKeyOf(spec, { a: 'x', b: { c: 'y|z' } })).toBe('x|y%7Cz');
    expect(entityKeyOf(spec, { a: '100%', b: { c: 1 } })).toBe('100%25|1');
    // A one-element list is the single-path form: ids of existing configs do not change.
    expect(recordId({ source: 's', idField: ['id'] }, { id: 'a|b' })).toBe(
      recordId({ source: 's', idField: 'id' }, { id: 'a|b' }),
    );
  });

  it('reports configured fields that resolve to nothing; a partial composite key is no key', () => {
    const spec = { source: 's', idField: ['a', 'b'], versionField: 'v' };
    expect(identify(spec, { a: 1, b: 2, v: 3 })).toMatchObject({
      id: '1|2@3',
      entity: '1|2',
      keyed: true,
      missing: [],
    });
    const partial = identify(spec, { a: 1, b: '', v: 3 });
    expect(partial).toMatchObject({ keyed: false, missing: ['b'] });
    expect(partial.id).toMatch(/^sha256:/);
    expect(partial.entity).toBe(partial.id);
    expect(identify(spec, { a: 1, b: 2, v: null }).missing).toEqual(['v']);
  });
});

describe('toIsoTime: zoneless times (issue 11)', () => {
  it('reads a zoneless time as UTC by default, whatever the host zone, like Spark with session zone UTC', () => {
    expect(toIsoTime('2024-03-01T10:15:00')).toBe('2024-03-01T10:15:00.000Z');
    expect(toIsoTime('2024-03-01 10:15')).toBe('2024-03-01T10:15:00.000Z');
    expect(toIsoTime('2024-03-01T10:15:00.123456')).toBe('2024-03-01T10:15:00.123Z');
    expect(toIsoTime('2024-03-01')).toBe('2024-03-01T00:00:00.000Z');
    // With a zone or an offset the value says its own instant.
    expect(toIsoTime('2024-03-01T10:15:00+02:00')).toBe('2024-03-01T08:15:00.000Z');
    expect(toIsoTime('2024-03-01T10:15:00Z', 'Europe/Paris')).toBe('2024-03-01T10:15:00.000Z');
    expect(toIsoTime(1_709_288_100_000)).toBe('2024-03-01T10:15:00.000Z');
    expect(toIsoTime('not a time')).toBeUndefined();
  });

  it('reads a zoneless time in the source timezone, across daylight-saving changes', () => {
    expect(toIsoTime('2024-03-01T10:15:00', 'Europe/Paris')).toBe('2024-03-01T09:15:00.000Z'); // CET
    expect(toIsoTime('2024-07-01T10:15:00', 'Europe/Paris')).toBe('2024-07-01T08:15:00.000Z'); // CEST
    expect(toIsoTime('2024-07-01T10:15:00', 'America/New_York')).toBe('2024-07-01T14:15:00.000Z');
    const w = wrap(
      { source: 's', eventTimeField: 't', timezone: 'Asia/Tokyo' },
      { t: '2024-03-01T09:00:00' },
      new Date('2026-11-25T00:00:00Z'),
    );
    expect(w.envelope.event_time).toBe('2024-03-01T00:00:00.000Z');
  });
});
