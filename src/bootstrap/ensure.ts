/**
 * Create-unless-it-exists, then wait until ACTIVE: the one way `ingest bootstrap` makes a Kinesis
 * stream and a Firehose delivery stream (both are CREATING for a while after the create call).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BootstrapError, errorNameOf, isUnsupported } from './errors.js';

/** How often the state is described while waiting, ms. */
const POLL_MS = 200;

/** A resource to create and wait for; see {@link ensureActive}. */
export interface ActiveResource<D> {
  /** The resource in messages, e.g. `kinesis stream ingest`. */
  what: string;
  /** The endpoint called, for messages. */
  url: string;
  /** The describe call; throws `ResourceNotFoundException` while the resource does not exist. */
  describe: () => Promise<D | undefined>;
  /** The create call; a `ResourceInUseException` (created meanwhile) counts as existing. */
  create: () => Promise<unknown>;
  /** The state in a description, e.g. `StreamStatus`. */
  stateOf: (description: D | undefined) => string | undefined;
  /** The states that end the wait. @default ['ACTIVE'] */
  readyStates?: readonly string[];
  /** How long to wait for a ready state, ms. */
  waitMs: number;
}

/** What {@link ensureActive} did: the last description and its state, or `skipped` with the endpoint's words. */
export type Ensured<D> =
  | { status: 'created' | 'exists'; description: D | undefined; state: string }
  | { status: 'skipped'; detail: string };

/** `unsupported by endpoint: <name>: <first line of the message>`, for a `skipped` report line. */
export function unsupportedDetail(err: unknown): string {
  const message = (err as { message?: string } | null)?.message ?? String(err);
  return `unsupported by endpoint: ${errorNameOf(err)}: ${message.split('\n')[0]}`;
}

/**
 * Creates the resource unless it exists, then describes it every 200 ms until its state is ready.
 * @returns `created` or `exists` with the ready description; `skipped` when the endpoint does not
 *   provide the API (see `isUnsupported`).
 * @throws BootstrapError (`timeout`, retriable) when it is not ready within `waitMs`, or
 *   `BootstrapError.from` any other failure of a call.
 */
export async function ensureActive<D>(r: ActiveResource<D>): Promise<Ensured<D>> {
  const readyStates = r.readyStates ?? ['ACTIVE'];
  let status: 'created' | 'exists' = 'exists';
  try {
    try {
      await r.describe();
    } catch (err) {
      if (errorNameOf(err) !== 'ResourceNotFoundException') throw err;
      try {
        await r.create();
        status = 'created';
      } catch (createErr) {
        if (errorNameOf(createErr) !== 'ResourceInUseException') throw createErr;
      }
    }
    const deadline = Date.now() + r.waitMs;
    for (;;) {
      const description = await r.describe();
      const state = r.stateOf(description) ?? 'UNKNOWN';
      if (readyStates.includes(state)) return { status, description, state };
      if (Date.now() > deadline) {
        throw new BootstrapError(
          `${r.what} at ${r.url} is still ${state} after ${r.waitMs / 1000} s`,
          'timeout',
          { retriable: true },
        );
      }
      await sleep(POLL_MS);
    }
  } catch (err) {
    if (err instanceof BootstrapError) throw err;
    if (isUnsupported(err)) return { status: 'skipped', detail: unsupportedDetail(err) };
    throw BootstrapError.from(err, r.what, r.url);
  }
}
