import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IngestError } from '../errors.js';
import { startFixtureServer } from '../local/fixture-server.js';
import { ListenError, startTelemetryServer } from './index.js';

/** A port held by another server for the whole file. */
let holder: Server;
let taken: number;

beforeAll(async () => {
  holder = createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
  taken = (holder.address() as { port: number }).port;
});
afterAll(() => new Promise<void>((r) => holder.close(() => r())));

async function rejection(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ListenError);
  return err as Error;
}

describe('a port already in use', () => {
  it('the telemetry server fails with one config-class line naming the address and what to change', async () => {
    const err = await rejection(
      startTelemetryServer({ port: taken, host: '127.0.0.1', ready: async () => true }),
    );
    expect(err.message).toBe(
      `telemetry server: cannot listen on 127.0.0.1:${taken}: the port is already in use (choose another port: telemetry.runPort / telemetry.consumePort, or --port)`,
    );
    expect((err as IngestError).failureClass).toBe('config');
    expect((err.cause as NodeJS.ErrnoException).code).toBe('EADDRINUSE');
  });

  it('the fixture server fails with one line pointing at --fixture-port 0', async () => {
    const err = await rejection(startFixtureServer({ port: taken }));
    expect(err.message).toBe(
      `fixture server: cannot listen on 127.0.0.1:${taken}: the port is already in use (pass --fixture-port 0 for any free port)`,
    );
  });

  it('an address the host does not have is named too', async () => {
    const err = await rejection(
      startTelemetryServer({ port: 0, host: '192.0.2.1', ready: async () => true }),
    );
    expect(err.message).toMatch(
      /^telemetry server: cannot listen on 192\.0\.2\.1:0: the address is not available/,
    );
  });

  it('a free port still binds, and port 0 reports the port picked', async () => {
    const srv = await startTelemetryServer({ port: 0, host: '127.0.0.1', ready: async () => true });
    expect(srv.port).toBeGreaterThan(0);
    expect((await fetch(`http://127.0.0.1:${srv.port}/healthz`)).status).toBe(200);
    await srv.close();
  });
});
