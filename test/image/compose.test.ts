import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { sinkResources } from '../../src/producers/registry.js';
import { requireBuiltCli } from '../support/cli.js';

/**
 * deploy/docker-compose.yml cannot be started here (no Docker engine), so its wiring is checked
 * statically against the files it names and the service config it runs, and the one piece of it
 * that is code, the fixture service's `node -e` entrypoint, is run against dist/ like the image does.
 */

const DEPLOY = resolve('deploy');
const compose = parseYaml(readFileSync(join(DEPLOY, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<
    string,
    {
      image?: string;
      build?: { context: string; dockerfile: string };
      command?: string[];
      entrypoint?: string[];
      environment?: Record<string, string>;
      volumes?: string[];
      ports?: string[];
      depends_on?: Record<string, { condition: string }> | string[];
      healthcheck?: { test?: string[]; disable?: boolean };
    }
  >;
  volumes: Record<string, unknown>;
};
const services = compose.services;
const CONFIG_IN_CONTAINER = '/app/deploy/localstack/config.yaml';

/** The host path a container path is bind-mounted from (relative to deploy/). */
function hostPath(service: string, containerPath: string): string | undefined {
  for (const v of services[service]?.volumes ?? []) {
    const [src, dst] = v.split(':');
    if (!src!.startsWith('.')) continue;
    if (containerPath === dst || containerPath.startsWith(`${dst}/`))
      return join(DEPLOY, src!, containerPath.slice(dst!.length));
  }
  return undefined;
}

function serviceConfig(service: string) {
  const file = hostPath(service, CONFIG_IN_CONTAINER);
  expect(file, `${service} mounts ${CONFIG_IN_CONTAINER}`).toBeDefined();
  return parseConfig(readFileSync(file!, 'utf8'), file, { ...services[service]!.environment });
}

async function freePort(): Promise<number> {
  return new Promise((r, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, () => {
      const addr = srv.address();
      srv.close(() => r(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

describe('deploy/docker-compose.yml', () => {
  it('has LocalStack, bootstrap, fixtures, both roles, Prometheus and Grafana', () => {
    expect(Object.keys(services).sort()).toEqual(
      ['bootstrap', 'consume', 'fixtures', 'grafana', 'localstack', 'prometheus', 'run'].sort(),
    );
    const ls = services.localstack!;
    expect(ls.image).toMatch(/^localstack\/localstack/);
    expect(ls.environment?.LOCALSTACK_AUTH_TOKEN).toMatch(/^\$\{LOCALSTACK_AUTH_TOKEN[:?]/);
    expect(ls.environment?.SERVICES?.split(',').sort()).toEqual(
      ['athena', 'dynamodb', 'firehose', 'glue', 'iam', 'kinesis', 's3', 'secretsmanager', 'sts'].sort(),
    );
  });

  it('builds the ingest services from the repo Dockerfile and runs each role against LocalStack', () => {
    for (const name of ['bootstrap', 'fixtures', 'run', 'consume']) {
      const s = services[name]!;
      expect(s.build, name).toBeDefined();
      expect(existsSync(join(DEPLOY, s.build!.context, s.build!.dockerfile)), name).toBe(true);
    }
    expect(services.bootstrap!.command).toEqual(['bootstrap', '--config', CONFIG_IN_CONTAINER]);
    expect(services.run!.command).toEqual(['run', '--config', CONFIG_IN_CONTAINER]);
    expect(services.consume!.command).toEqual(['consume', '--config', CONFIG_IN_CONTAINER]);
    for (const name of ['bootstrap', 'run', 'consume']) {
      const env = services[name]!.environment!;
      expect(env.AWS_ENDPOINT_URL, name).toBe('http://localstack:4566');
      expect(env.AWS_ACCESS_KEY_ID, name).toBe('test');
    }
    const deps = services.run!.depends_on as Record<string, { condition: string }>;
    expect(deps.bootstrap?.condition).toBe('service_completed_successfully');
    expect(deps.fixtures?.condition).toBe('service_healthy');
  });

  it('runs a valid service config whose URLs, ports and names agree with the compose services', () => {
    const run = serviceConfig('run');
    const consume = serviceConfig('consume');
    const fixturesPort = services.fixtures!.environment!.FIXTURE_PORT;
    for (const s of run.sources)
      expect(s.url, s.name).toMatch(new RegExp(`^http://fixtures:${fixturesPort}/`));
    expect(services.fixtures!.environment!.FIXTURE_PUBLIC_ORIGIN).toBe(`http://fixtures:${fixturesPort}`);
    // The image healthcheck reads INGEST_HEALTH_PORT: it must be the role's telemetry port.
    expect(services.run!.environment!.INGEST_HEALTH_PORT).toBe(String(run.telemetry.runPort));
    expect(services.consume!.environment!.INGEST_HEALTH_PORT).toBe(String(consume.telemetry.consumePort));
    expect(run.telemetry.host).toBe('0.0.0.0');
    // One stream, one lake bucket.
    const stream = sinkResources(run.sinks[0]!)[0]!.name;
    const bronze = consume.consumers.find((c) => c.type === 'bronze')!;
    const hourly = consume.consumers.find((c) => c.type === 'hourly')!;
    expect(bronze.type === 'bronze' && bronze.streamName).toBe(stream);
    expect(bronze.lakeUri).toMatch(/^s3:\/\//);
    expect(hourly.lakeUri).toBe(bronze.lakeUri);
    expect(consume.lake.uri).toBe(bronze.lakeUri);
    expect(consume.deadLetter.uri).toBe(bronze.lakeUri);
    // State on the shared volume.
    expect(consume.state.type === 'file' && consume.state.path).toMatch(/^\/app\/data\//);
    expect(services.run!.volumes).toContain('ingest-data:/app/data');
    expect(services.consume!.volumes).toContain('ingest-data:/app/data');
  });

  it('has Prometheus scrape both roles on their telemetry ports, and Grafana provisioned', () => {
    const config = serviceConfig('run');
    const promFile = hostPath('prometheus', '/etc/prometheus/prometheus.yml')!;
    const prom = parseYaml(readFileSync(promFile, 'utf8')) as {
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    const targets = prom.scrape_configs.flatMap((j) => j.static_configs.flatMap((s) => s.targets));
    expect(targets).toContain(`run:${config.telemetry.runPort}`);
    expect(targets).toContain(`consume:${config.telemetry.consumePort}`);
    expect(existsSync(hostPath('grafana', '/etc/grafana/provisioning/datasources/prometheus.yml')!)).toBe(
      true,
    );
    expect(existsSync(hostPath('grafana', '/etc/grafana/provisioning/dashboards/ingest.yml')!)).toBe(true);
    expect(existsSync(hostPath('grafana', '/var/lib/grafana/dashboards/ingest.json')!)).toBe(true);
  });

  it('starts the fixture service entrypoint: all interfaces, Link headers on the public origin, healthy, stops on SIGTERM', async () => {
    requireBuiltCli();
    const fx = services.fixtures!;
    const [, dashdash, node, flag, script] = fx.entrypoint!;
    expect([dashdash, node, flag]).toEqual(['--', 'node', '-e']);
    const port = await freePort();
    const child = spawn(process.execPath, ['-e', script!.replaceAll('/app/dist/', `${resolve('dist')}/`)], {
      env: { ...process.env, ...fx.environment, FIXTURE_PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => {
      out += b.toString();
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const deadline = Date.now() + 15_000;
      while (!out.includes('fixture server on')) {
        if (child.exitCode !== null || Date.now() > deadline)
          throw new Error(`fixture service did not start:\n${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      expect((await fetch(`http://127.0.0.1:${port}/products`)).status).toBe(200);
      const issues = await fetch(
        `http://127.0.0.1:${port}/repos/octokit-fixture-org/tmp-scenario-paginate-issues-20220719043836917-izyoe/issues?per_page=3`,
      );
      expect(issues.status).toBe(200);
      expect(issues.headers.get('link')).toContain(fx.environment!.FIXTURE_PUBLIC_ORIGIN);
      // Reachable from other containers: bound beyond loopback.
      const external = Object.values(networkInterfaces())
        .flat()
        .find((a) => a && a.family === 'IPv4' && !a.internal);
      if (external) expect((await fetch(`http://${external.address}:${port}/users`)).status).toBe(200);
      // The compose healthcheck command, pointed at this port.
      const hc = fx.healthcheck!.test!;
      expect(hc[0]).toBe('CMD');
      const probe = spawn(
        process.execPath,
        hc.slice(2).map((a) => a.replace(':8787/', `:${port}/`)),
        {
          stdio: 'ignore',
        },
      );
      expect(await new Promise((r) => probe.once('exit', r))).toBe(0);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited, out).toBe(0);
  }, 30_000);
});
