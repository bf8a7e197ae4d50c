/**
 * A real single-node Apache Kafka 3.9 broker in KRaft mode (broker and controller in one JVM), from
 * the Maven Central jars `make kafka` copies into `.tools/kafka/libs` (tools/kafka/pom.xml): no
 * tarball, no Docker. Used by the Kafka tests and by `ingest local` with a Kafka sink.
 *
 * The JVM dies with this process, even on SIGKILL: it is started through `setpriv --pdeathsig KILL`
 * (util-linux), so the kernel kills it when its parent goes. Its pid and port are kept in
 * `<dataDir>.pid`; a start that finds an earlier broker still alive there refuses to share its data.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { removePidFile, staleProcess, writePidFile } from '../runtime/children.js';
import { ListenError } from '../telemetry/listen.js';
import { freePort } from './kinesis-local.js';

/** Where `make kafka` puts the broker's jars: `<project>/.tools/kafka/libs`. */
export const KAFKA_LIBS_DIR = resolve(fileURLToPath(new URL('../../', import.meta.url)), '.tools/kafka/libs');

/** The JVM's heap: small, the machines are shared. */
const JVM_OPTS = [
  '-Xms128m',
  '-Xmx512m',
  '-XX:+UseSerialGC',
  '-XX:TieredStopAtLevel=1',
  '-Djava.awt.headless=true',
];

/** How long a start waits for the broker to answer. */
const START_TIMEOUT_MS = 90_000;

export interface KafkaLocalOptions {
  /** Log directories, metadata and the broker's own log (`server.log`); reused by a restart. */
  dataDir: string;
  /** Client port. @default a free one */
  port?: number;
  /** Controller (KRaft quorum) port. @default a free one */
  controllerPort?: number;
  /** Partitions of topics created without a count. @default 4 */
  defaultPartitions?: number;
  /** The broker's jars. @default env `KAFKA_LIBS_DIR`, else {@link KAFKA_LIBS_DIR} */
  libsDir?: string;
}

export interface KafkaLocal {
  /** `127.0.0.1:PORT`, for `brokers`. */
  bootstrap: string;
  port: number;
  controllerPort: number;
  dataDir: string;
  process: ChildProcess;
  /** SIGKILLs the JVM (no clean shutdown: an outage) and waits for it to exit. */
  kill(): Promise<void>;
  /** Starts the broker again on the same ports and data (after {@link kill} or {@link stop}). */
  restart(): Promise<KafkaLocal>;
  /** Stops the broker (SIGTERM: a clean shutdown, SIGKILL after 15 s) and removes the pid file. */
  stop(): Promise<void>;
}

function serverProperties(
  o: Required<Pick<KafkaLocalOptions, 'dataDir' | 'defaultPartitions'>> & {
    port: number;
    controllerPort: number;
  },
): string {
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${o.controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${o.port},CONTROLLER://127.0.0.1:${o.controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${o.port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    `log.dirs=${join(o.dataDir, 'logs')}`,
    `num.partitions=${o.defaultPartitions}`,
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=4',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    // Topics are created by bootstrap / ingest local (ensureTopics), never by a typo in a name.
    'auto.create.topics.enable=false',
    'log.flush.interval.messages=1',
    '',
  ].join('\n');
}

const LOG4J = [
  'log4j.rootLogger=INFO, file',
  'log4j.appender.file=org.apache.log4j.RollingFileAppender',
  'log4j.appender.file.File=${kafka.logs.dir}/server.log',
  'log4j.appender.file.MaxFileSize=10MB',
  'log4j.appender.file.MaxBackupIndex=1',
  'log4j.appender.file.layout=org.apache.log4j.PatternLayout',
  'log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n',
  '',
].join('\n');

/**
 * Kafka's cluster id format: 16 random bytes, base64url without padding. One that starts with `-`
 * is drawn again, as Kafka's own `Uuid.randomUuid()` does: `kafka-storage format -t -abc…` reads it
 * as an option and fails ("expected one argument"), once in 32 runs.
 */
export function clusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

function java(libsDir: string, dataDir: string, args: string[]): string[] {
  return [
    '--pdeathsig',
    'KILL',
    '--',
    'java',
    ...JVM_OPTS,
    `-Dkafka.logs.dir=${dataDir}`,
    `-Dlog4j.configuration=file:${join(dataDir, 'log4j.properties')}`,
    '-cp',
    `${libsDir}/*`,
    ...args,
  ];
}

async function run(cmd: string, args: string[]): Promise<string> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  if (code !== 0)
    throw new Error(`${args.slice(args.indexOf('-cp') + 2).join(' ')} exited ${code}: ${out.trim()}`);
  return out;
}

/** Waits until the broker answers a metadata request (kafkajs admin). */
async function waitUntilUp(bootstrap: string, child: ChildProcess, output: () => string): Promise<void> {
  const kafka = new Kafka({
    clientId: 'kafka-local-probe',
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
    connectionTimeout: 1_000,
  });
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`kafka broker exited (${child.exitCode ?? child.signalCode}): ${output()}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(
        `kafka broker did not answer on ${bootstrap} within ${START_TIMEOUT_MS / 1000} s: ${output()}`,
      );
    }
    const admin = kafka.admin();
    try {
      await admin.connect();
      await admin.describeCluster();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }
}

/**
 * Starts the broker (formatting `dataDir` on first use) and waits until it answers.
 * @throws Error naming `make kafka` when the jars are missing; ListenError when a broker of an
 *   earlier run still holds `dataDir`; Error with the broker's output when it exits or does not
 *   answer within 90 s.
 * @example
 * const kafka = await startKafkaLocal({ dataDir: './data/kafka' });
 * // brokers: [kafka.bootstrap]
 * await kafka.stop();
 */
export async function startKafkaLocal(options: KafkaLocalOptions): Promise<KafkaLocal> {
  const libsDir = options.libsDir ?? process.env.KAFKA_LIBS_DIR ?? KAFKA_LIBS_DIR;
  if (!existsSync(libsDir) || !readdirSync(libsDir).some((f) => f.startsWith('kafka_2.13-'))) {
    throw new Error(`kafka broker jars not found in ${libsDir}: run \`make kafka\` (or make install)`);
  }
  const dataDir = resolve(options.dataDir);
  const pidPath = `${dataDir.replace(/\/+$/, '')}.pid`;
  const stale = staleProcess(pidPath);
  if (stale) {
    throw new ListenError(
      `kafka-local: a broker of an earlier run (pid ${stale.pid}, started ${stale.startedAt}) still holds port ${stale.port} and ${dataDir} (stop it: kill ${stale.pid})`,
    );
  }
  mkdirSync(dataDir, { recursive: true });
  const port = options.port ?? (await freePort());
  const controllerPort = options.controllerPort ?? (await freePort());
  const props = join(dataDir, 'server.properties');
  writeFileSync(
    props,
    serverProperties({ dataDir, port, controllerPort, defaultPartitions: options.defaultPartitions ?? 4 }),
  );
  writeFileSync(join(dataDir, 'log4j.properties'), LOG4J);
  if (!existsSync(join(dataDir, 'logs', 'meta.properties'))) {
    await run(
      'setpriv',
      java(libsDir, dataDir, [
        'kafka.tools.StorageTool',
        'format',
        '-t',
        clusterId(),
        '-c',
        props,
        '--ignore-formatted',
      ]),
    );
  }
  const child = spawn('setpriv', java(libsDir, dataDir, ['kafka.Kafka', props]), {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const collect = (b: Buffer) => {
    lines.push(b.toString());
    if (lines.length > 50) lines.shift();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  if (child.pid !== undefined) {
    writePidFile(pidPath, { pid: child.pid, port, what: 'kafka-local' });
    child.once('exit', () => removePidFile(pidPath));
  }
  const bootstrap = `127.0.0.1:${port}`;
  await waitUntilUp(bootstrap, child, () => `${lines.join('')} (see ${join(dataDir, 'server.log')})`);
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  return {
    bootstrap,
    port,
    controllerPort,
    dataDir,
    process: child,
    kill: async () => {
      if (gone()) return;
      child.kill('SIGKILL');
      await exited;
    },
    restart: () => startKafkaLocal({ ...options, dataDir, port, controllerPort }),
    stop: async () => {
      if (gone()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
