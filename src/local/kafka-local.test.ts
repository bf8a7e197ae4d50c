import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { pidAlive } from '../runtime/children.js';
import { clusterId, startKafkaLocal } from './kafka-local.js';

const root = mkdtempSync(join(tmpdir(), 'kafka-local-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

it('draws cluster ids kafka-storage accepts: 22 base64url characters, never a leading "-"', () => {
  // One id in 64 would start with "-" without the redraw; 5,000 draws all but surely include some.
  for (let i = 0; i < 5_000; i++) expect(clusterId()).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
});

describe('kafka-local (a real KRaft broker from the Maven jars)', () => {
  it('starts, keeps a pid file, keeps its data over a SIGKILL and restart, and stops', async () => {
    const dir = join(root, 'a');
    let broker = await startKafkaLocal({ dataDir: dir });
    const kafka = new Kafka({ clientId: 't', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
    try {
      expect(JSON.parse(readFileSync(`${dir}.pid`, 'utf8'))).toMatchObject({ pid: broker.process.pid });
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic: 'kept', numPartitions: 2 }], waitForLeaders: true });
      await admin.disconnect();
      const pid = broker.process.pid!;
      await broker.kill();
      expect(pidAlive(pid)).toBe(false);
      broker = await broker.restart();
      const again = kafka.admin();
      await again.connect();
      expect(await again.listTopics()).toContain('kept');
      await again.disconnect();
    } finally {
      await broker.stop();
    }
    expect(existsSync(`${dir}.pid`)).toBe(false);
  }, 240_000);

  it('names make kafka when the jars are missing', async () => {
    await expect(startKafkaLocal({ dataDir: join(root, 'b'), libsDir: join(root, 'none') })).rejects.toThrow(
      /make kafka/,
    );
  });
});
