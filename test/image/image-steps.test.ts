import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBuiltCli } from '../support/cli.js';
import { type Copy, dockerignore, durationMs, parseDockerfile, type Stage } from './dockerfile.js';

/**
 * The image's runtime steps, reproduced without Docker (no engine on this machine): the Dockerfile is
 * read, not trusted. Its runtime stage's COPY sources must exist and survive .dockerignore; its
 * `npm ci --omit=dev` is run in a clean folder from package.json + package-lock.json alone; the
 * COPY lines are replayed into that folder (dist/ stands in for the build stage's output); then the
 * ENTRYPOINT's `node dist/cli.js` starts both roles as an unprivileged user (`nobody` when the test
 * runs as root, as the image runs as `node`) with the image's ENV only, the HEALTHCHECK command line
 * from the Dockerfile must report healthy, and SIGTERM must end each role with exit code 0.
 *
 * What it catches: a runtime import of a devDependency (or of anything not in `dependencies`), a file
 * read at run time that the image does not ship (config, fixtures, Glue jobs and queries), a write
 * outside the image's writable `/app/data`, a broken healthcheck, a role that does not stop on SIGTERM.
 *
 * The configs need nothing external: role `run` with no sources and no sinks (a Kinesis sink checks
 * its stream at start, which would need an emulator), role `consume` with the hourly scheduler only
 * (local executor, file lake under data/: an empty lake has no hour to run, but the scheduler, the
 * Glue-jobs lookup, the lake and DuckDB for the quality query are all built and started). The Glue,
 * Athena and DuckDB modules load on demand; the ones a role uses load here.
 */

const ROOT = resolve('.');
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const stages = parseDockerfile(dockerfile);
const runtime = stages.at(-1)!;
const ignored = dockerignore(existsSync('.dockerignore') ? readFileSync('.dockerignore', 'utf8') : '');
const isRoot = process.getuid?.() === 0;
const STOP_TIMEOUT_MS = 20_000;

function nobody(): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', 'nobody']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'nobody']).toString().trim());
  return { uid, gid };
}

/** The build stage's WORKDIR path of a `COPY --from=<stage>` source, mapped to this checkout. */
function fromStagePath(copy: Copy, source: string): string {
  const stage = stages.find((s) => s.name === copy.from);
  if (!stage) throw new Error(`COPY --from=${copy.from} (line ${copy.line}): no such stage`);
  const rel = relative(stage.workdir, source);
  if (rel.startsWith('..')) throw new Error(`COPY --from=${copy.from} ${source}: outside ${stage.workdir}`);
  return rel;
}

/** Every file or folder a COPY of `stage` reads from the build context. */
function contextSources(stage: Stage): { copy: Copy; source: string }[] {
  return stage.copies
    .filter((c) => !c.from)
    .flatMap((copy) => copy.sources.map((source) => ({ copy, source })));
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

interface Proc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * The image's `node`: a copy of this Node 22 under the image tree's `/usr/local/bin`, as in the
 * official image. The project's own copy may sit under a folder the image user cannot enter (a
 * clone in a `mktemp -d` folder is 0700).
 */
let imageNode = process.execPath;

/** Runs a command line from the Dockerfile, `node` being the image's Node 22. */
function run(argv: string[], opts: { cwd: string; env: Record<string, string> }): Proc {
  const [cmd, ...args] = argv;
  const exe = cmd === 'node' ? imageNode : cmd!;
  const child = spawn(exe, args, {
    cwd: opts.cwd,
    env: opts.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(isRoot ? nobody() : {}),
  });
  let out = '';
  child.stdout?.on('data', (b: Buffer) => {
    out += b.toString();
  });
  child.stderr?.on('data', (b: Buffer) => {
    out += b.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => r({ code, signal })),
  );
  return { child, output: () => out, exited };
}

describe('the Dockerfile', () => {
  it('has a build stage and a runtime stage on the same official Node 22 image', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const s of stages) expect(s.image).toMatch(/^node:22\.\d+-bookworm-slim(@sha256:[0-9a-f]{64})?$/);
  });

  it('runs as a non-root user, PID 1 forwarding signals, with a healthcheck, both ports and production env', () => {
    expect(runtime.user, 'USER in the runtime stage').toBeDefined();
    expect(['root', '0']).not.toContain(runtime.user!.split(':')[0]);
    expect(runtime.entrypoint?.slice(0, 2)).toEqual(['/usr/bin/tini', '--']);
    expect(
      runtime.instructions.some((i) => i.keyword === 'RUN' && /apt-get install.*\btini\b/.test(i.args)),
    ).toBe(true);
    expect(runtime.healthcheck?.cmd[0]).toBe('node');
    expect(runtime.healthcheck?.cmd.join(' ')).toContain('/healthz');
    expect(runtime.healthcheck?.cmd.join(' ')).toContain('INGEST_HEALTH_PORT');
    expect(runtime.expose).toEqual(expect.arrayContaining(['9464', '9465']));
    expect(runtime.env.NODE_ENV).toBe('production');
    expect(runtime.labels['org.opencontainers.image.title']).toBeTruthy();
    const install = runtime.instructions.filter(
      (i) => i.keyword === 'RUN' && /\bnpm (ci|install)\b/.test(i.args),
    );
    expect(install.map((i) => i.args).join('\n')).toMatch(/npm ci --omit=dev/);
  });

  it('copies only sources that exist and that .dockerignore keeps in the build context', () => {
    const problems: string[] = [];
    for (const stage of stages) {
      for (const { copy, source } of contextSources(stage)) {
        if (!existsSync(join(ROOT, source))) problems.push(`line ${copy.line}: ${source} does not exist`);
        else if (ignored(source)) problems.push(`line ${copy.line}: ${source} is excluded by .dockerignore`);
      }
    }
    // fixturesDir() finds the fixtures by their README.md.
    if (ignored('fixtures/README.md')) problems.push('fixtures/README.md is excluded by .dockerignore');
    expect(problems).toEqual([]);
  });

  it('keeps bulky and secret paths out of the build context', () => {
    for (const p of [
      'node_modules',
      'dist',
      '.tools',
      '.venv',
      'data',
      '.git',
      '.tmp',
      'x.log',
      'coverage',
      '.env',
    ])
      expect(ignored(p), p).toBe(true);
  });

  it('needs no install script of a production dependency (the test installs with --ignore-scripts)', () => {
    // A production dependency's install script may exist only when package.json's `allowScripts`
    // denies it (reviewed: `npm ci` in the image then skips it too, exactly like --ignore-scripts).
    const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as {
      packages: Record<string, { dev?: boolean; hasInstallScript?: boolean }>;
    };
    const { allowScripts = {} } = JSON.parse(readFileSync('package.json', 'utf8')) as {
      allowScripts?: Record<string, boolean>;
    };
    const withScripts = Object.entries(lock.packages)
      .filter(([name, p]) => name !== '' && p.hasInstallScript && !p.dev)
      .map(([name]) => name.replace(/^.*node_modules\//, ''))
      .filter((name) => allowScripts[name] !== false);
    expect(withScripts).toEqual([]);
  });
});

describe('the image runtime steps, outside Docker', () => {
  let base: string;
  let app: string;
  let env: Record<string, string>;
  const procs: Proc[] = [];
  const writable: string[] = [];

  beforeAll(() => {
    requireBuiltCli();
    base = mkdtempSync(join(tmpdir(), 'image-steps-'));
    chmodSync(base, 0o755);
    app = join(base, runtime.workdir.replace(/^\//, ''));
    mkdirSync(app, { recursive: true, mode: 0o755 });
    for (let d = app; d !== base; d = dirname(d)) chmodSync(d, 0o755);

    // COPY package.json package-lock.json ./ ; RUN npm ci --omit=dev
    for (const f of ['package.json', 'package-lock.json']) cpSync(join(ROOT, f), join(app, f));
    const started = Date.now();
    execFileSync(
      'npm',
      [
        'ci',
        '--omit=dev',
        '--ignore-scripts',
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
        '--loglevel=error',
      ],
      {
        cwd: app,
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 90_000,
        env: { ...process.env, NODE_ENV: 'production', npm_config_update_notifier: 'false' },
      },
    );
    console.log(`npm ci --omit=dev: ${((Date.now() - started) / 1000).toFixed(1)} s`);

    // The remaining COPY lines of the runtime stage, context sources filtered by .dockerignore.
    for (const copy of runtime.copies) {
      if (copy.sources.some((s) => s.startsWith('package'))) continue;
      for (const source of copy.sources) {
        const from = copy.from ? fromStagePath(copy, source) : source;
        const dest = copy.dest.startsWith('/')
          ? join(base, copy.dest)
          : join(app, copy.dest, copy.sources.length > 1 || copy.dest.endsWith('/') ? source : '');
        cpSync(join(ROOT, from), dest, {
          recursive: true,
          filter: (p) => copy.from !== undefined || !ignored(relative(ROOT, p) || '.'),
        });
      }
    }

    // The folders the Dockerfile creates and hands to its USER (`RUN mkdir -p /app/data && chown
    // node:node /app/data`): the only writable places. Any other folder stays root's, so a role that
    // writes elsewhere fails here as it would in the image.
    const user = runtime.user?.split(':')[0];
    for (const ins of runtime.instructions.filter((i) => i.keyword === 'RUN')) {
      for (const m of ins.args.matchAll(/mkdir\s+(?:-p\s+)?(\S+)/g))
        mkdirSync(join(base, m[1]!), { recursive: true });
      for (const m of ins.args.matchAll(/chown\s+(?:-R\s+)?(\S+)\s+(\S+)/g)) {
        if (m[1]!.split(':')[0] !== user) continue;
        if (isRoot) {
          const { uid, gid } = nobody();
          chownSync(join(base, m[2]!), uid, gid);
        }
        writable.push(m[2]!);
      }
    }
    const data = join(app, 'data');
    mkdirSync(data, { recursive: true });

    const nodeDir = join(base, 'usr', 'local', 'bin');
    mkdirSync(nodeDir, { recursive: true, mode: 0o755 });
    for (let d = nodeDir; d !== base; d = dirname(d)) chmodSync(d, 0o755);
    imageNode = join(nodeDir, 'node');
    copyFileSync(process.execPath, imageNode);
    chmodSync(imageNode, 0o755);
    env = { ...runtime.env, PATH: `${nodeDir}:/usr/local/bin:/usr/bin:/bin`, HOME: data };
  }, 150_000);

  afterAll(async () => {
    for (const p of procs)
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    if (base) rmSync(base, { recursive: true, force: true });
  });

  /** The ENTRYPOINT after tini: `node dist/cli.js`. */
  function entrypoint(): string[] {
    const ep = runtime.entrypoint!;
    const afterTini = ep[0]?.endsWith('tini') ? ep.slice(ep.indexOf('--') + 1) : ep;
    expect(afterTini.slice(0, 2)).toEqual(['node', 'dist/cli.js']);
    return afterTini;
  }

  /** Runs the Dockerfile's HEALTHCHECK command line; resolves its exit code. */
  async function healthcheck(port: number): Promise<number | null> {
    const hc = runtime.healthcheck!;
    const p = run(hc.cmd, { cwd: app, env: { ...env, INGEST_HEALTH_PORT: String(port) } });
    const timeout = durationMs(hc.options.timeout ?? '30s');
    const timer = setTimeout(() => p.child.kill('SIGKILL'), timeout);
    const { code } = await p.exited;
    clearTimeout(timer);
    return code;
  }

  async function waitHealthy(port: number, role: Proc): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (role.child.exitCode !== null)
        throw new Error(`role exited with ${role.child.exitCode}:\n${role.output()}`);
      if ((await healthcheck(port)) === 0) return;
      if (Date.now() > deadline) throw new Error(`healthcheck never passed on ${port}:\n${role.output()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  async function sigterm(role: Proc): Promise<{ code: number | null; ms: number }> {
    const started = Date.now();
    role.child.kill('SIGTERM');
    const timer = setTimeout(() => role.child.kill('SIGKILL'), STOP_TIMEOUT_MS + 5_000);
    const { code } = await role.exited;
    clearTimeout(timer);
    return { code, ms: Date.now() - started };
  }

  it('gives the image user a writable data folder', () => {
    expect(writable).toContain(`${runtime.workdir.replace(/\/$/, '')}/data`);
  });

  it('installs only production dependencies (nothing the lockfile marks dev-only in node_modules)', () => {
    // The lockfile marks `dev: true` what only devDependencies need; a devDependency that a
    // production dependency also needs (e.g. @types/node, a dependency of protobufjs) is not dev-only.
    const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as {
      packages: Record<string, { dev?: boolean }>;
    };
    const devOnly = Object.entries(lock.packages)
      .filter(([path, p]) => p.dev && /^node_modules\/(@[^/]+\/)?[^/]+$/.test(path))
      .map(([path]) => path);
    expect(devOnly.length).toBeGreaterThan(0);
    for (const path of devOnly) expect(existsSync(join(app, path)), `${path} installed`).toBe(false);
    for (const f of [
      'dist/cli.js',
      'config/local.yaml',
      'fixtures/README.md',
      'src/glue/jobs',
      'src/glue/local/job_server.py',
      'src/glue/queries',
    ])
      expect(existsSync(join(app, f)), f).toBe(true);
    expect(statSync(join(app, 'src/glue/queries')).isDirectory()).toBe(true);
  });

  it('the default command (--help) and validate-config of the shipped config work as the image user', async () => {
    const help = run([...entrypoint(), ...(runtime.cmd ?? [])], { cwd: app, env });
    expect((await help.exited).code, help.output()).toBe(0);
    const validate = run([...entrypoint(), 'validate-config', 'config/local.yaml'], { cwd: app, env });
    expect((await validate.exited).code, validate.output()).toBe(0);
  });

  it('the healthcheck fails when nothing listens', async () => {
    expect(await healthcheck(await freePort())).not.toBe(0);
  });

  it('role run starts healthy as an unprivileged user and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const config = join(app, 'data', 'run.yaml');
    writeFileSync(
      config,
      [
        '# role run with nothing external: no sources, no sinks',
        'sources: []',
        'sinks: []',
        'state: { type: file, path: ./data/state }',
        'deadLetter: { uri: file://./data/lake }',
        `telemetry: { runPort: ${port} }`,
        'logging: { level: info }',
        '',
      ].join('\n'),
    );
    chmodSync(config, 0o644);
    const role = run([...entrypoint(), 'run', '--config', config], { cwd: app, env });
    procs.push(role);
    const t0 = Date.now();
    await waitHealthy(port, role);
    console.log(`run: healthy after ${Date.now() - t0} ms`);
    if (isRoot) expect(role.child.pid).toBeDefined();
    const { code, ms } = await sigterm(role);
    console.log(`run: exit ${code} ${ms} ms after SIGTERM`);
    expect(code, role.output()).toBe(0);
    expect(ms).toBeLessThan(STOP_TIMEOUT_MS);
  }, 60_000);

  it('role consume (hourly scheduler, local executor, file lake) starts healthy and ready, exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const config = join(app, 'data', 'consume.yaml');
    writeFileSync(
      config,
      [
        '# role consume with nothing external: the hourly scheduler on an empty file lake',
        'consumers:',
        '  - name: hourly',
        '    type: hourly',
        '    lakeUri: file://./data/lake',
        '    checkIntervalSecs: 1',
        '    executor: { type: local }',
        // A quality query makes the role open DuckDB (a native binding, loaded on demand), so a
        // DuckDB missing from the production install fails here.
        '    qualityQuery: SELECT 1 AS value',
        'state: { type: file, path: ./data/state }',
        'deadLetter: { uri: file://./data/lake }',
        'lake: { uri: file://./data/lake }',
        `telemetry: { consumePort: ${port} }`,
        '',
      ].join('\n'),
    );
    chmodSync(config, 0o644);
    const role = run([...entrypoint(), 'consume', '--config', config], { cwd: app, env });
    procs.push(role);
    const t0 = Date.now();
    await waitHealthy(port, role);
    console.log(`consume: healthy after ${Date.now() - t0} ms`);
    // Ready means the lake under the image's writable data/ answers.
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status, role.output()).toBe(200);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toContain('ingest_scheduler_backlog_partitions');
    // Let a scheduler cycle run on the empty lake before stopping.
    await new Promise((r) => setTimeout(r, 1500));
    const { code, ms } = await sigterm(role);
    console.log(`consume: exit ${code} ${ms} ms after SIGTERM`);
    expect(code, role.output()).toBe(0);
    expect(ms).toBeLessThan(STOP_TIMEOUT_MS);
    expect(role.output()).not.toMatch(/EACCES|EROFS/);
  }, 60_000);
});
