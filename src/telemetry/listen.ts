import type { Server } from 'node:net';
import { IngestError } from '../errors.js';

/**
 * A server could not bind its address (port in use, no permission, unknown host). A configuration
 * problem of the host: the CLI exits 2 with the one-line message.
 */
export class ListenError extends IngestError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, 'config', { ...options, retriable: false });
  }
}

const REASONS: Record<string, string> = {
  EADDRINUSE: 'the port is already in use',
  EACCES: 'permission denied',
  EADDRNOTAVAIL: 'the address is not available on this host',
  ENOTFOUND: 'unknown host',
  EAI_AGAIN: 'unknown host',
};

/**
 * Binds `server` to `host:port`.
 * @param what - the server's name for the message, e.g. `telemetry server`.
 * @param hint - what to change, e.g. `set telemetry.runPort or --port`.
 * @returns the port bound (the one picked when `port` is 0).
 * @throws ListenError with one line naming the server, the address and the reason.
 */
export async function listen(
  server: Server,
  options: { port: number; host: string; what: string; hint?: string },
): Promise<number> {
  const { port, host, what, hint } = options;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const reason = REASONS[err.code ?? ''] ?? err.message;
      reject(
        new ListenError(`${what}: cannot listen on ${host}:${port}: ${reason}${hint ? ` (${hint})` : ''}`, {
          cause: err,
        }),
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const addr = server.address();
  return typeof addr === 'object' && addr ? addr.port : port;
}
