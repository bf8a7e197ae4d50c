import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { startRedis } from './redis.js';

describe('local redis-server', () => {
  it('starts on a free port, answers commands, and stops', async () => {
    const redis = await startRedis();
    const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await client.connect();
      await client.set('k', 'v');
      expect(await client.get('k')).toBe('v');
    } finally {
      client.disconnect();
      await redis.stop();
    }
    expect(redis.process.exitCode !== null || redis.process.signalCode !== null).toBe(true);
    await redis.stop(); // idempotent
  }, 30_000);

  it('names the missing binary and make tools', async () => {
    await expect(startRedis({ binary: 'redis-server-missing' })).rejects.toThrow(/make tools/);
  });
});
