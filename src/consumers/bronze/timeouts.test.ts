/**
 * Call timeouts of the bronze writer through the real AWS SDK against an HTTP server that accepts
 * requests and never answers: without them a call would hang until the writer stops.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KinesisClient, ListShardsCommand } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DeadLetterQueue } from '../../deadletter/index.js';
import type { Lake } from '../../lake/index.js';
import { silentLogger } from '../../log.js';
import type { StateStore } from '../../state/index.js';
import { BronzeWriterSchema, createBronzeWriter, kinesisClientFromEnv, StreamReadError } from './index.js';

let server: Server;
let endpoint: string;

beforeAll(async () => {
  server = createServer((req) => {
    req.resume(); // read the request, never answer
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  vi.unstubAllEnvs();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

describe('bronze writer call timeouts (real SDK, silent server)', () => {
  it('aborts a Kinesis call after requestTimeoutMs with a retriable timeout error', async () => {
    // HTTP/1.1 (the Kinesis client defaults to HTTP/2), no request timeout of its own.
    const kinesis = new KinesisClient({
      region: 'us-east-1',
      endpoint,
      credentials,
      maxAttempts: 1,
      requestHandler: new NodeHttpHandler(),
    });
    const w = createBronzeWriter(
      BronzeWriterSchema.parse({ type: 'bronze', name: 'timeouts', streamName: 's', requestTimeoutMs: 200 }),
      {
        state: {} as StateStore,
        deadLetters: new DeadLetterQueue({} as Lake),
        logger: silentLogger,
        kinesis,
        lake: {} as Lake,
      },
    );
    const t0 = Date.now();
    // One listing, as discovery does (start() itself waits and retries a timed-out listing).
    const err = await w.listShards().catch((e: unknown) => e);
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(err).toBeInstanceOf(StreamReadError);
    expect(err).toMatchObject({
      failureClass: 'timeout',
      retriable: true,
      message: expect.stringMatching(/ListShards on stream s timed out after 200 ms/),
    });
    await w.stop();
    kinesis.destroy();
  });

  it('builds a client whose HTTP handler throws on its request timeout instead of only warning', async () => {
    vi.stubEnv('AWS_ENDPOINT_URL_KINESIS', endpoint);
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
    const kinesis = kinesisClientFromEnv('us-east-1', 200);
    try {
      const t0 = Date.now();
      // No abort signal: only the handler's requestTimeout can end this call (2 attempts).
      const err = await kinesis.send(new ListShardsCommand({ StreamName: 's' })).catch((e: unknown) => e);
      expect(Date.now() - t0).toBeLessThan(3_000);
      expect(err).toMatchObject({ name: 'TimeoutError' });
    } finally {
      kinesis.destroy();
    }
  });
});
