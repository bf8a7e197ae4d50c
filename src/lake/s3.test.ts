/**
 * The S3 lake's call timeout through the real AWS SDK against an HTTP server that accepts requests
 * and never answers: a hung call fails with a retriable StorageError instead of hanging forever.
 * Then its error classification against a server answering S3 error responses.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRetriable, StorageError } from '../errors.js';
import { S3Lake } from './s3.js';

let server: Server;
let client: S3Client;

/** A real S3 client on a local endpoint, one attempt per call. */
function s3ClientFor(endpoint: string): S3Client {
  return new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
}

/** Listens on a free local port; resolves `http://127.0.0.1:PORT`. */
async function listen(s: Server): Promise<string> {
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

async function close(s: Server): Promise<void> {
  s.closeAllConnections();
  await new Promise((resolve) => s.close(resolve));
}

beforeAll(async () => {
  server = createServer((req) => {
    req.resume(); // read the request, never answer
  });
  client = s3ClientFor(await listen(server));
});

afterAll(async () => {
  client?.destroy();
  await close(server);
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

/**
 * The S3 lake's classification through the real AWS SDK parsing real S3 error responses (status and
 * XML body as S3 sends them), from an HTTP server that answers every request with the error given.
 */
describe('S3 lake error classification (real SDK, S3 error responses)', () => {
  let errServer: Server;
  let errClient: S3Client;
  let answer: { status: number; code: string; message: string } = { status: 500, code: '', message: '' };

  beforeAll(async () => {
    errServer = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(answer.status, { 'content-type': 'application/xml' });
        res.end(
          `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${answer.code}</Code><Message>${answer.message}</Message><RequestId>r1</RequestId></Error>`,
        );
      });
    });
    errClient = s3ClientFor(await listen(errServer));
  });

  afterAll(async () => {
    errClient?.destroy();
    await close(errServer);
  });

  it.each([
    [404, 'NoSuchBucket', 'The specified bucket does not exist', false, 'not_found'],
    [403, 'AccessDenied', 'Access Denied', false, 'access_denied'],
    [400, 'KMS.DisabledException', 'The key is disabled.', false, 'kms'],
    [400, 'KMS.KMSInvalidStateException', 'The key is pending deletion.', false, 'kms'],
    [403, 'AccessDenied', 'not authorized to perform: kms:GenerateDataKey', false, 'kms'],
    [503, 'SlowDown', 'Please reduce your request rate.', true, 'throttled'],
    [500, 'InternalError', 'We encountered an internal error.', true, 'http_5xx'],
    [503, 'ServiceUnavailable', 'Service is unable to handle request.', true, 'http_5xx'],
  ])('PutObject answered %s %s: retriable %s, class %s', async (status, code, message, retriable, cls) => {
    answer = { status, code, message };
    const lake = new S3Lake('s3://b/p', 'b', 'p', { client: errClient, requestTimeoutMs: 5_000 });
    const err = await lake.put('bronze/x.json.gz', new Uint8Array([1])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect(err).toMatchObject({ retriable, failureClass: cls });
    expect(isRetriable(err)).toBe(retriable);
    expect((err as Error).message).toContain(`PutObject bronze/x.json.gz failed: ${code}: ${message}`);
  });

  it('classifies GetObject and ListObjectsV2 failures the same way', async () => {
    answer = { status: 404, code: 'NoSuchBucket', message: 'The specified bucket does not exist' };
    const lake = new S3Lake('s3://b/p', 'b', 'p', { client: errClient, requestTimeoutMs: 5_000 });
    await expect(lake.get('k')).rejects.toMatchObject({ retriable: false, failureClass: 'not_found' });
    await expect(lake.list('bronze/')).rejects.toMatchObject({ retriable: false, failureClass: 'not_found' });
    answer = { status: 503, code: 'SlowDown', message: 'Please reduce your request rate.' };
    await expect(lake.list('bronze/')).rejects.toMatchObject({ retriable: true, failureClass: 'throttled' });
  });

  it('a refused connection is a retriable network failure', async () => {
    const closed = s3ClientFor('http://127.0.0.1:1');
    try {
      const lake = new S3Lake('s3://b/p', 'b', 'p', { client: closed, requestTimeoutMs: 5_000 });
      await expect(lake.put('k', new Uint8Array([1]))).rejects.toMatchObject({
        retriable: true,
        failureClass: 'network',
      });
    } finally {
      closed.destroy();
    }
  });
});
