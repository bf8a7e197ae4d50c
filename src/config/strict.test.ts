import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { loadConfig, parseConfig } from './load.js';
import { editDistance, nearest } from './suggest.js';

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
  - type: hourly
state:
  type: file
`;

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

/** Inserts `line` (indented as given) after the first line that contains `after`. */
const withLine = (after: string, line: string) =>
  minimal.replace(new RegExp(`(${after}.*\\n)`), `$1${line}\n`);

describe('unknown config keys', () => {
  it('edit distance and nearest key', () => {
    expect(editDistance('intervalSec', 'intervalSecs')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(nearest('intervalSec', ['intervalSecs', 'jitterSecs', 'idField'])).toBe('intervalSecs');
    expect(nearest('IDFIELD', ['intervalSecs', 'idField'])).toBe('idField');
    expect(nearest('banana', ['intervalSecs', 'idField'])).toBeUndefined();
  });

  it.each([
    [
      'a source field',
      withLine('idField: id', '    intervalSec: 30'),
      'sources[0].intervalSec',
      'intervalSecs',
    ],
    ['a top-level key', `${minimal}sourcez: []\n`, 'sourcez', 'sources'],
    [
      'a pagination variant field',
      withLine('idField: id', '    pagination: { type: linkHeader, maxPage: 3 }'),
      'sources[0].pagination.maxPage',
      'maxPages',
    ],
    [
      'a sink field',
      withLine('streamName: s', '    maxBatchRecord: 10'),
      'sinks[0].maxBatchRecord',
      'maxBatchRecords',
    ],
    [
      'a bronze writer field',
      minimal.replace(
        'type: bronze\n    streamName: s',
        'type: bronze\n    streamName: s\n    bufferIntervalSec: 1',
      ),
      'consumers[0].bufferIntervalSec',
      'bufferIntervalSecs',
    ],
    [
      'an hourly scheduler field',
      withLine('type: hourly', '    executor: { type: local, maxConcurrentRun: 1 }'),
      'consumers[1].executor.maxConcurrentRun',
      'maxConcurrentRuns',
    ],
    ['a state field', withLine('type: file', '  paht: ./state'), 'state.paht', 'path'],
    ['a telemetry field', `${minimal}telemetry: { runport: 1 }\n`, 'telemetry.runport', 'runPort'],
    ['a lake field', `${minimal}lake: { databse: x }\n`, 'lake.databse', 'database'],
  ])('%s is an error naming its path and the nearest key', (_what, text, path, suggestion) => {
    expect(message(() => parseConfig(text, 'c.yaml'))).toContain(
      `${path}: unknown key; did you mean \`${suggestion}\`?`,
    );
  });

  it('lists the known keys when none is close, and reports each unknown key on its own line', () => {
    const msg = message(() => parseConfig(`${minimal}deadLetter: { bucket: x, uriz: y }\n`, 'c.yaml'));
    expect(msg.split('\n').slice(1)).toEqual([
      '  deadLetter.bucket: unknown key (known keys: uri)',
      '  deadLetter.uriz: unknown key; did you mean `uri`?',
    ]);
  });

  it('the misspelled key is not silently dropped while valid siblings parse', () => {
    expect(
      parseConfig(withLine('idField: id', '    intervalSecs: 30'), 'c.yaml').sources[0]!.intervalSecs,
    ).toBe(30);
  });
});

describe('config files that cannot be read or expanded', () => {
  const dir = mkdtempSync(join(tmpdir(), 'config-load-'));

  it('a missing file, or a directory, is one line naming the file', async () => {
    await expect(loadConfig(join(dir, 'nope.yaml'))).rejects.toThrow(
      new ConfigError(`${join(dir, 'nope.yaml')}: cannot read config file: no such file`),
    );
    await expect(loadConfig(dir)).rejects.toThrow(`${dir}: cannot read config file: it is a directory`);
  });

  it('invalid YAML is one line per error, with line and column', () => {
    expect(message(() => parseConfig('a: 1\na: 2\n', 'dup.yaml'))).toBe(
      'dup.yaml: invalid YAML: Map keys must be unique at line 2, column 1',
    );
  });

  it('a YAML alias bomb is refused in one line before it expands', async () => {
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      const cur = String.fromCharCode(97 + i);
      levels.push(`${cur}: &${cur} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    const file = join(dir, 'bomb.yaml');
    writeFileSync(file, `${levels.join('\n')}\n`);
    const err = await loadConfig(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toBe(
      `${file}: invalid YAML: Excessive alias count indicates a resource exhaustion attack (aliases may expand to at most 100 nodes)`,
    );
  });

  it('a few aliases, as a real config uses them, are fine', () => {
    const text = `${minimal}deadLetter: { uri: &lake file://./x }\nlake: { uri: *lake }\n`;
    const cfg = parseConfig(text, 'c.yaml');
    expect([cfg.deadLetter.uri, cfg.lake.uri]).toEqual(['file://./x', 'file://./x']);
  });
});
