import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { configReference } from './docs.js';
import { interpolateEnv } from './interpolate.js';
import { parseConfig } from './load.js';

const minimal = `
sources:
  - name: shop.products
    type: http
    url: http://127.0.0.1:1/products
    idField: id
sinks:
  - type: kinesis
    streamName: s
consumers:
  - type: bronze
    streamName: s
`;

describe('config', () => {
  it('fills documented defaults', () => {
    const cfg = parseConfig(minimal);
    const src = cfg.sources[0]!;
    expect(src.intervalSecs).toBe(60);
    expect(src.emit).toBe('changed');
    expect(src.pagination).toEqual({ type: 'none' });
    expect(cfg.sinks[0]!.maxBatchRecords).toBe(500);
    expect(cfg.sinks[0]!.maxBatchBytes).toBe(5 * 1024 * 1024);
    expect(cfg.consumers[0]!.lakeUri).toBe('file://./data/lake');
    expect(cfg.shutdownTimeoutSecs).toBe(20);
  });

  it('names the path, what was expected and what was found', () => {
    const bad = minimal
      .replace('url: http://127.0.0.1:1/products', 'url: 42')
      .replace('streamName: s\nconsumers', 'streamName: s\n    maxBatchRecords: 501\nconsumers');
    let err: unknown;
    try {
      parseConfig(bad, 'bad.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    expect(msg).toContain('bad.yaml: invalid configuration');
    expect(msg).toMatch(/sources\[0\]\.url: .*string.*\(found 42\)/);
    expect(msg).toMatch(/sinks\[0\]\.maxBatchRecords: .*500.*\(found 501\)/);
  });

  it('rejects unknown top-level keys, duplicate sources and unknown sinks', () => {
    expect(() => parseConfig(`${minimal}\nsourcez: []\n`)).toThrow(/sourcez/);
    const dup = minimal.replace(
      'sinks:',
      '  - name: shop.products\n    type: http\n    url: http://127.0.0.1:1/x\nsinks:',
    );
    expect(() => parseConfig(dup)).toThrow(/duplicate source name "shop.products"/);
    const wrongSink = minimal.replace('idField: id', 'idField: id\n    sink: nope');
    expect(() => parseConfig(wrongSink)).toThrow(/sources\[0\]\.sink: no sink named "nope"/);
  });

  it("gives a lake entity its source's timezone, and refuses an entity timezone that disagrees with it", () => {
    const lake = (entityTimezone: string) => `
lake:
  entities:
    - source: shop.products
      entity: products
      columns: [{ name: product_id, path: id }]
${entityTimezone}`;
    const withSource = (tz: string) =>
      minimal.replace('    idField: id\n', `    idField: id\n    timezone: ${tz}\n`);
    // Absent on the entity: the source's (explicit or its default, UTC).
    expect(parseConfig(withSource('Europe/Paris') + lake('')).lake.entities[0]!.timezone).toBe(
      'Europe/Paris',
    );
    expect(parseConfig(minimal + lake('')).lake.entities[0]!.timezone).toBe('UTC');
    // The same value on both is fine.
    const same = withSource('Asia/Tokyo') + lake('      timezone: Asia/Tokyo');
    expect(parseConfig(same).lake.entities[0]!.timezone).toBe('Asia/Tokyo');
    // An entity whose source is not in this file keeps its own (none: the job reads UTC).
    const other =
      minimal + lake('      timezone: Asia/Tokyo').replace('source: shop.products', 'source: elsewhere');
    expect(parseConfig(other).lake.entities[0]!.timezone).toBe('Asia/Tokyo');
    expect(
      parseConfig(`${minimal}${lake('')}`.replace('source: shop.products', 'source: elsewhere')).lake
        .entities[0]!.timezone,
    ).toBeUndefined();

    // Both set and different: one error naming both values and both paths.
    expect(() => parseConfig(withSource('Europe/Paris') + lake('      timezone: America/New_York'))).toThrow(
      'lake.entities[0].timezone: "America/New_York" disagrees with "Europe/Paris", the timezone of source shop.products (sources[0].timezone)',
    );
    // The source's default counts: an entity zone on a UTC source disagrees too.
    expect(() => parseConfig(minimal + lake('      timezone: Europe/Paris'))).toThrow(
      /lake\.entities\[0\]\.timezone: "Europe\/Paris" disagrees with "UTC", the timezone of source shop\.products \(sources\[0\]\.timezone\)/,
    );
  });

  it('reports invalid YAML as a ConfigError', () => {
    expect(() => parseConfig('sources: [\n')).toThrow(ConfigError);
  });

  it('interpolates ${VAR} and ${VAR:-default}, and names unset variables', () => {
    expect(interpolateEnv('a=${A} b=${B:-dflt} c=$${C}', { A: '1' })).toBe('a=1 b=dflt c=${C}');
    expect(() => interpolateEnv('${NOPE_1} ${NOPE_2}', {})).toThrow(/NOPE_1, NOPE_2/);
  });

  it('the shipped local config is valid and polls every fixture API', () => {
    const cfg = parseConfig(readFileSync('config/local.yaml', 'utf8'), 'config/local.yaml', {
      FIXTURE_ORIGIN: 'http://127.0.0.1:9',
    });
    expect(cfg.sources.map((s) => s.name).sort()).toEqual([
      'fakestore.carts',
      'fakestore.products',
      'fakestore.users',
      'github.issues',
      'usgs.earthquakes',
    ]);
  });

  it('the committed config reference is the one generated from the schemas', () => {
    expect(readFileSync('docs/config-reference.md', 'utf8')).toBe(configReference());
  });
});
