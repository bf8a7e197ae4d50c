/**
 * `ingest bootstrap` through the built CLI (`make build` first; `make test` does): the refusal (exit
 * 2, nothing called), one line per resource against the Docker-free emulators (created, then
 * exists), and `skipped` for services the endpoint does not provide, answered here the way
 * LocalStack answers an API outside its license (HTTP 501 `InternalFailure`).
 */

import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBuiltCli, spawnCli, tempDir } from '../support/cli.js';
import { emulators, type StartedBackend } from './backends.js';

const CONFIG = `
sinks:
  - type: kinesis
    streamName: cli-stream
consumers:
  - type: bronze
    streamName: cli-stream
    lakeUri: s3://cli-lake
  - type: hourly
    lakeUri: s3://cli-lake
    crawlerName: cli-crawler
    executor: { type: aws }
    queryEngine: { type: athena, workgroup: cli-wg }
state: { type: dynamodb, tableName: cli-state }
deadLetter: { uri: s3://cli-lake }
lake: { uri: s3://cli-lake, database: cli_lake }
`;

/** The lines of a successful first run, in order: `[status, kind, name]`. */
const RESOURCES: [string, string][] = [
  ['kinesis stream', 'cli-stream'],
  ['s3 bucket', 'cli-lake'],
  ['dynamodb table', 'cli-state'],
  ['glue database', 'cli_lake'],
  ['glue script', 's3://cli-lake/glue-scripts/bronze_to_silver.py'],
  ['glue script', 's3://cli-lake/glue-scripts/silver_to_gold.py'],
  ['glue script', 's3://cli-lake/glue-scripts/lakelib.py'],
  ['glue job', 'bronze_to_silver'],
  ['glue job', 'silver_to_gold'],
  ['glue crawler', 'cli-crawler'],
  ['athena workgroup', 'cli-wg'],
];

const LINE =
  /^(created|exists|updated|skipped) +((?:kinesis|s3|dynamodb|glue|athena) [a-z]+) +(\S+)(?: \((.*)\))?$/;

function parseLines(stdout: string): { status: string; kind: string; name: string; detail?: string }[] {
  return stdout
    .trim()
    .split('\n')
    .map((line) => {
      const m = LINE.exec(line);
      if (!m) throw new Error(`not a resource line: ${JSON.stringify(line)}`);
      return { status: m[1]!, kind: m[2]!, name: m[3]!, ...(m[4] ? { detail: m[4] } : {}) };
    });
}

let backend: StartedBackend;
let configFile: string;
let unsupported: Server;
let unsupportedUrl: string;
const unsupportedCalls: string[] = [];
/** Clears every endpoint variable the developer's shell may have set. */
const NO_ENDPOINTS = Object.fromEntries(
  ['', '_KINESIS', '_S3', '_DYNAMODB', '_GLUE', '_ATHENA'].map((s) => [`AWS_ENDPOINT_URL${s}`, '']),
);

beforeAll(async () => {
  requireBuiltCli();
  backend = await emulators.start();
  configFile = join(tempDir('bootstrap-cli'), 'config.yaml');
  writeFileSync(configFile, CONFIG);
  // An endpoint that provides no Glue and no Athena, in LocalStack's words.
  unsupported = createServer((req, res) => {
    unsupportedCalls.push(String(req.headers['x-amz-target']));
    req.resume();
    req.on('end', () => {
      res.writeHead(501, {
        'content-type': 'application/x-amz-json-1.1',
        'x-amzn-errortype': 'InternalFailure',
      });
      res.end(
        JSON.stringify({
          __type: 'InternalFailure',
          message:
            "The API for service 'glue' is either not included in your current license plan or has not yet been emulated by LocalStack.",
        }),
      );
    });
  });
  await new Promise<void>((r) => unsupported.listen(0, '127.0.0.1', () => r()));
  const addr = unsupported.address();
  unsupportedUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
});

afterAll(async () => {
  await backend?.stop();
  await new Promise<void>((r) => (unsupported ? unsupported.close(() => r()) : r()));
});

describe('ingest bootstrap (CLI)', () => {
  it('refuses to run without an endpoint, exits 2 and names every service', async () => {
    const { exited, stdout, stderr } = spawnCli(['bootstrap', '--config', configFile], NO_ENDPOINTS);
    expect((await exited).code).toBe(2);
    expect(stdout()).toBe('');
    expect(stderr()).toMatch(
      /^ingest: bootstrap refuses to run: it only creates resources in local emulators/,
    );
    for (const s of ['kinesis', 's3', 'dynamodb', 'glue', 'athena']) {
      expect(stderr()).toContain(`  ${s}: no endpoint. Set --endpoint, AWS_ENDPOINT_URL_${s.toUpperCase()}`);
    }
  });

  it('refuses an AWS endpoint given with --endpoint, even when the environment names local ones', async () => {
    const { exited, stdout, stderr } = spawnCli(
      ['bootstrap', '--config', configFile, '--endpoint', 'https://kinesis.us-east-1.amazonaws.com'],
      backend.env,
    );
    expect((await exited).code).toBe(2);
    expect(stdout()).toBe('');
    expect(stderr()).toMatch(
      /kinesis: --endpoint is https:\/\/kinesis\.us-east-1\.amazonaws\.com, a real AWS endpoint/,
    );
  });

  it('prints one created line per resource, then exists on a second run', async () => {
    const first = spawnCli(['bootstrap', '--config', configFile], { ...NO_ENDPOINTS, ...backend.env });
    const code = (await first.exited).code;
    expect(code, first.stderr()).toBe(0);
    expect(parseLines(first.stdout()).map((l) => [l.status, l.kind, l.name])).toEqual(
      RESOURCES.map(([kind, name]) => ['created', kind, name]),
    );
    expect(parseLines(first.stdout())[0]?.detail).toBe('2 shards, ACTIVE');
    expect(first.stderr()).toContain(
      `ingest bootstrap: kinesis at ${backend.env.AWS_ENDPOINT_URL_KINESIS} (loopback, from AWS_ENDPOINT_URL_KINESIS)`,
    );
    expect(first.stderr()).toContain(
      `ingest bootstrap: glue at ${backend.env.AWS_ENDPOINT_URL} (loopback, from AWS_ENDPOINT_URL)`,
    );

    const second = spawnCli(['bootstrap', '--config', configFile], { ...NO_ENDPOINTS, ...backend.env });
    expect((await second.exited).code, second.stderr()).toBe(0);
    expect(parseLines(second.stdout()).map((l) => [l.status, l.kind, l.name])).toEqual(
      RESOURCES.map(([kind, name]) => ['exists', kind, name]),
    );
  });

  it('reports Glue and Athena as skipped where the endpoint does not provide them', async () => {
    const { exited, stdout, stderr } = spawnCli(['bootstrap', '--config', configFile], {
      ...NO_ENDPOINTS,
      ...backend.env,
      AWS_ENDPOINT_URL_GLUE: unsupportedUrl,
      AWS_ENDPOINT_URL_ATHENA: unsupportedUrl,
    });
    expect((await exited).code, stderr()).toBe(0);
    const lines = parseLines(stdout());
    expect(lines.map((l) => [l.status, l.kind, l.name])).toEqual(
      RESOURCES.map(([kind, name]) => [
        kind.startsWith('glue') || kind.startsWith('athena') ? 'skipped' : 'exists',
        kind,
        name,
      ]),
    );
    expect(lines.find((l) => l.kind === 'glue database')?.detail).toMatch(
      /^unsupported by endpoint: InternalFailure: The API for service 'glue' is either not included/,
    );
    expect(lines.find((l) => l.kind === 'glue job')?.detail).toBe(
      'skipped: Glue is unsupported by the endpoint',
    );
    // Glue was asked once (the database); the jobs and crawler were not tried; Athena was asked.
    expect(unsupportedCalls).toEqual(['AWSGlue.GetDatabase', 'AmazonAthena.GetWorkGroup']);
  });
});
