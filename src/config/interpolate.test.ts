import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { interpolateEnv } from './interpolate.js';
import { parseConfig } from './load.js';

const base = (extra = '') => `
sources:
  - name: shop.products
    type: http
    url: \${ORIGIN:-http://127.0.0.1:1}/products
    idField: id
sinks:
  - type: kinesis
    streamName: s
${extra}`;

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('${VAR} interpolation on parsed values', () => {
  it('substitutes ${VAR}, ${VAR:-default} (also for an empty variable) and keeps $${...} literal', () => {
    expect(interpolateEnv('a=${A} b=${B:-dflt} c=$${C} d=${D:-x}', { A: '1', D: '' })).toBe(
      'a=1 b=dflt c=${C} d=x',
    );
    const cfg = parseConfig(base('deadLetter:\n  uri: $${NOT_A_VAR}'), 'c.yaml', { ORIGIN: 'http://h:8' });
    expect(cfg.sources[0]!.url).toBe('http://h:8/products');
    expect(cfg.deadLetter.uri).toBe('${NOT_A_VAR}');
  });

  it('ignores references in comments', () => {
    const text = `# point \${SURELY_UNSET_VAR} somewhere\n${base('# telemetry: { runPort: ${ALSO_UNSET} }')}`;
    expect(parseConfig(text, 'c.yaml', {}).sources).toHaveLength(1);
  });

  it('a value with newlines stays one string: it cannot inject a source or a key', () => {
    const evil = 'file://./lake\nsources:\n  - name: evil\n    type: http\n    url: http://evil.example/x';
    const cfg = parseConfig(base('deadLetter:\n  uri: ${DL}'), 'c.yaml', { DL: evil });
    expect(cfg.sources.map((s) => s.name)).toEqual(['shop.products']);
    expect(cfg.deadLetter.uri).toBe(evil);
    const flow = parseConfig(base('deadLetter: { uri: "${DL}" }'), 'c.yaml', { DL: '", evil: "1' });
    expect(flow.deadLetter.uri).toBe('", evil: "1');
  });

  it('types a plain scalar after substitution like YAML does; a quoted one stays a string', () => {
    const plain = parseConfig(base('telemetry:\n  runPort: ${P:-9464}\n  consumePort: ${Q}'), 'c.yaml', {
      Q: '0',
    });
    expect(plain.telemetry.runPort).toBe(9464);
    expect(plain.telemetry.consumePort).toBe(0);
    const bool = parseConfig(base('coordination:\n  enabled: ${C:-false}'), 'c.yaml', { C: 'true' });
    expect(bool.coordination.enabled).toBe(true);
    expect(
      parseConfig(base('coordination:\n  enabled: ${C:-false}'), 'c.yaml', {}).coordination.enabled,
    ).toBe(false);
    const quoted = configError(() => parseConfig(base('telemetry:\n  runPort: "${P:-9464}"'), 'c.yaml', {}));
    expect(quoted.message).toMatch(/telemetry\.runPort: .*number.*\(found "9464"\)/);
    // An empty plain value is null, as it was when the text was substituted.
    const empty = configError(() => parseConfig(base('shutdownTimeoutSecs: ${T:-}'), 'c.yaml', {}));
    expect(empty.message).toMatch(/shutdownTimeoutSecs: .*\(found null\)/);
  });

  it('does not interpolate keys', () => {
    const err = configError(() => parseConfig(base('telemetry:\n  ${KEY}: 1'), 'c.yaml', { KEY: 'runPort' }));
    expect(err.message).toContain('telemetry.${KEY}: unknown key');
  });

  it('names each unset variable with the field path, once per reference, in one line', () => {
    const text = [
      'sources:',
      '  - { name: a, type: http, url: "${ORIGIN}/a" }',
      'sinks:',
      '  - type: kinesis',
      '    streamName: ${STREAM}',
    ].join('\n');
    const err = configError(() => parseConfig(text, 'c.yaml', {}));
    expect(err.message).toBe(
      'c.yaml: unset environment variable(s) without a default: ORIGIN (at sources[0].url), STREAM (at sinks[0].streamName); set them or write ${NAME:-default}',
    );
  });

  it('interpolates an anchored value once, and its aliases get the same value', () => {
    const text = `${base()}consumers:\n  - type: bronze\n    streamName: s\n    lakeUri: &lake \${LAKE}\ndeadLetter:\n  uri: *lake\n`;
    const cfg = parseConfig(text, 'c.yaml', { LAKE: 'file:///tmp/lake' });
    expect(cfg.consumers[0]!.lakeUri).toBe('file:///tmp/lake');
    expect(cfg.deadLetter.uri).toBe('file:///tmp/lake');
  });
});
