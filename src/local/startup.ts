/**
 * The start of `ingest local`: load the config, start the fixture server only when a source reads
 * from it (issue 7), and start both roles, stopping what started when one of them cannot.
 */
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { type ConsumeRole, type RunRole, startConsumeRole, startRunRole } from '../runtime/roles.js';
import { type FixtureServer, startFixtureServer } from './fixture-server.js';

/** Origin `${FIXTURE_ORIGIN}` takes while finding out which sources read from the fixture server. */
export const FIXTURE_PROBE_ORIGIN = 'http://fixture-server.invalid';
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * Whether a source reads from the fixture server: its URL comes from `${FIXTURE_ORIGIN}` (the config
 * having been loaded with {@link FIXTURE_PROBE_ORIGIN}), or names the fixture port on the loopback.
 */
export function usesFixtureServer(config: Config, fixturePort: number): boolean {
  return config.sources.some((s) => {
    const url = new URL(s.url);
    if (url.origin === FIXTURE_PROBE_ORIGIN) return true;
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    return fixturePort !== 0 && LOOPBACK.has(url.hostname) && port === fixturePort;
  });
}

/**
 * Loads the config, starting the fixture server first only when a source uses it (#7): the config's
 * `${FIXTURE_ORIGIN}` needs the server's origin, so it is loaded once with a placeholder origin to
 * decide, then again with the real one.
 * @throws ConfigError; ListenError when the fixture port is taken.
 */
export async function loadWithFixtures(
  configFile: string,
  fixturePort: number,
): Promise<{ config: Config; fixtures?: FixtureServer }> {
  const probe = await loadConfig(configFile, { ...process.env, FIXTURE_ORIGIN: FIXTURE_PROBE_ORIGIN });
  if (!usesFixtureServer(probe, fixturePort)) return { config: await loadConfig(configFile) };
  const fixtures = await startFixtureServer({ port: fixturePort });
  process.env.FIXTURE_ORIGIN = fixtures.origin;
  try {
    return { config: await loadConfig(configFile), fixtures };
  } catch (err) {
    await fixtures.close();
    throw err;
  }
}

/** Starts both roles; when one fails to start (a telemetry port taken), stops what started, then rethrows. */
export async function startRoles(
  config: Config,
  logger: Logger,
  cleanup: () => Promise<void>,
): Promise<{ consume: ConsumeRole; run: RunRole }> {
  let consume: ConsumeRole | undefined;
  try {
    consume = await startConsumeRole(config, logger);
    return { consume, run: await startRunRole(config, logger) };
  } catch (err) {
    await consume?.stop();
    await cleanup();
    throw err;
  }
}
