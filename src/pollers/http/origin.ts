/**
 * Where a source's requests may go, and which of them may carry its credentials (issue 7,
 * "credentials stay home").
 *
 * - The origin of `url` (scheme, host, port; RFC 6454) is home: links there are followed, with
 *   credentials.
 * - `allowedOrigins` names further origins whose links are followed, without credentials.
 * - `credentialOrigins` (a subset of `allowedOrigins`) also receive credentials.
 * - Any other origin (and any scheme but http/https) is not followed at all.
 *
 * Redirects are never followed (see `fetch.ts`), so pagination links are the only way a request
 * leaves home.
 *
 * @module
 */
import { CREDENTIAL_HEADER } from '../../secrets/index.js';
import { type HttpSourceConfig, originOf } from './config.js';

/** The origin rules of one source. */
export interface OriginPolicy {
  /** The origin of the source's `url`. */
  readonly home: string;
  /** Whether a pagination link to `url` may be followed. */
  mayFollow(url: string): boolean;
  /** Whether a request to `url` may carry the source's credentials. */
  mayCarryCredentials(url: string): boolean;
}

/** Builds the {@link OriginPolicy} of a source config. */
export function originPolicy(
  config: Pick<HttpSourceConfig, 'url' | 'allowedOrigins' | 'credentialOrigins'>,
): OriginPolicy {
  const home = originOf(config.url);
  const follow = new Set([home, ...config.allowedOrigins.map(originOf)]);
  const credentials = new Set([home, ...config.credentialOrigins.map(originOf)]);
  const httpOrigin = (url: string): string | undefined => {
    const o = originOf(url);
    return /^https?:\/\//.test(o) ? o : undefined;
  };
  return {
    home,
    mayFollow: (url) => follow.has(httpOrigin(url) ?? ''),
    mayCarryCredentials: (url) => credentials.has(httpOrigin(url) ?? ''),
  };
}

/**
 * The headers without credentials: drops the auth headers (by name, case-insensitively) and every
 * credential-like header (`Authorization`, `Cookie`, `*token*`, `*api-key*`, ...).
 *
 * @param headers - the full request headers.
 * @param authNames - names of the headers `auth` added.
 */
export function withoutCredentials(
  headers: Record<string, string>,
  authNames: readonly string[],
): Record<string, string> {
  const drop = new Set(authNames.map((n) => n.toLowerCase()));
  return Object.fromEntries(
    Object.entries(headers).filter(([n]) => !drop.has(n.toLowerCase()) && !CREDENTIAL_HEADER.test(n)),
  );
}
