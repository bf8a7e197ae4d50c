/**
 * The S3 lake's call timeout through the real AWS SDK against an HTTP server that accepts requests
 * and never answers: a hung call fails with a retriable StorageError instead of hanging forever.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRetriable, StorageError } from '../errors.js';
import { S3Lake } from './s3.js';

let server: Server;
let client: S3Client;

beforeAll(async () => {
  server = createServer((req) => {
    req.resume(); // read the request, never answer
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  client = new S3Client({
    region: 'us-east-1',
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
});

afterAll(async () => {
  client?.destroy();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('S3 lake timeouts (silent server)', () => {
  it('fails a hung PutObject after requestTimeoutMs with a retriable StorageError', async () => {
    const lake = new S3Lake('s3://b/p', 'b', 'p', { client, requestTimeoutMs: 200 });
    const t0 = Date.now();
    const err = await lake.put('bronze/x.json.gz', new Uint8Array([1, 2, 3])).catch((e: unknown) => e);
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(err).toBeInstanceOf(StorageError);
    expect(isRetriable(err)).toBe(true);
    expect((err as Error).message).toMatch(/PutObject bronze\/x\.json\.gz timed out after 200 ms/);
  });

  it('times out GetObject, ListObjectsV2 and HeadBucket too', async () => {
    const lake = new S3Lake('s3://b/p', 'b', 'p', { client, requestTimeoutMs: 200 });
    const t0 = Date.now();
    const [get, list, ping] = await Promise.all([
      lake.get('k').catch((e: unknown) => e),
      lake.list('bronze/').catch((e: unknown) => e),
      lake.ping(),
    ]);
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(get).toMatchObject({ retriable: true, message: expect.stringMatching(/GetObject k timed out/) });
    expect(list).toMatchObject({
      retriable: true,
      message: expect.stringMatching(/ListObjectsV2 bronze\/ timed out/),
    });
    expect(ping).toBe(false);
  });
});
