/**
 * OAuth2 client credentials grant (RFC 6749 §4.4): one cached access token per source, fetched
 * again `refreshBeforeExpirySecs` before its `expires_in` runs out; concurrent requests share one
 * token request.
 *
 * @module
 */
import { type Dispatcher, request } from 'undici';
import { registerSecret } from '../../../secrets/index.js';
import type { SecretResolver } from '../../../secrets/resolve.js';
import { HttpStatusError, MalformedResponseError } from '../errors.js';
import type { AuthConfig } from './config.js';

type OAuth2Config = Extract<AuthConfig, { type: 'oauth2ClientCredentials' }>;

/** A cached OAuth2 access token. */
export interface OAuth2Token {
  /** The current token, fetched when there is none or it is about to expire. */
  get(): Promise<string>;
  /** Forgets the token (after a 401). */
  invalidate(): void;
}

/** Used when the token response has no `expires_in` (RFC 6749 §5.1 makes it optional), in seconds. */
const DEFAULT_EXPIRES_IN_SECS = 3600;

/** `application/x-www-form-urlencoded` of RFC 6749 Appendix B (spaces as `+`). */
const formEncode = (v: string): string => new URLSearchParams({ v }).toString().slice(2);

export function createOAuth2Token(
  config: OAuth2Config,
  deps: { secrets: SecretResolver; dispatcher?: Dispatcher; now?: () => number; timeoutMs?: number },
): OAuth2Token {
  const now = deps.now ?? Date.now;
  let cached: { token: string; refreshAtMs: number } | undefined;
  let inFlight: Promise<string> | undefined;

  const fetchToken = async (): Promise<string> => {
    const [clientId, clientSecret] = await Promise.all([
      deps.secrets.resolve(config.clientId),
      deps.secrets.resolve(config.clientSecret),
    ]);
    const form: [string, string][] = [['grant_type', 'client_credentials']];
    if (config.scope !== undefined) form.push(['scope', config.scope]);
    if (config.audience !== undefined) form.push(['audience', config.audience]);
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    };
    if (config.clientAuth === 'basic') {
      const basic = Buffer.from(`${formEncode(clientId)}:${formEncode(clientSecret)}`).toString('base64');
      registerSecret(basic);
      headers.authorization = `Basic ${basic}`;
    } else {
      form.push(['client_id', clientId], ['client_secret', clientSecret]);
    }
    const requestedAt = now();
    const res = await request(config.tokenUrl, {
      method: 'POST',
      headers,
      body: form.map(([k, v]) => `${k}=${formEncode(v)}`).join('&'),
      ...(deps.dispatcher === undefined ? {} : { dispatcher: deps.dispatcher }),
      headersTimeout: deps.timeoutMs ?? 10_000,
      bodyTimeout: deps.timeoutMs ?? 10_000,
    });
    const text = await res.body.text();
    let body: { access_token?: unknown; expires_in?: unknown; error?: unknown } = {};
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      body = {};
    }
    if (res.statusCode < 200 || res.statusCode > 299) {
      // Only the RFC 6749 §5.2 error code is quoted: a body could echo the credentials.
      const code = typeof body.error === 'string' ? ` (${body.error.slice(0, 64)})` : '';
      throw new HttpStatusError(
        res.statusCode,
        `OAuth2 token endpoint ${config.tokenUrl} answered HTTP ${res.statusCode}${code}`,
        {
          url: config.tokenUrl,
        },
      );
    }
    if (typeof body.access_token !== 'string' || body.access_token === '') {
      throw new MalformedResponseError(`OAuth2 token endpoint ${config.tokenUrl} returned no access_token`, {
        url: config.tokenUrl,
      });
    }
    registerSecret(body.access_token);
    const expiresIn =
      typeof body.expires_in === 'number' ? body.expires_in : Number(body.expires_in ?? Number.NaN);
    const lifetimeSecs = Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : DEFAULT_EXPIRES_IN_SECS;
    // A token shorter-lived than the margin is used once, then fetched again.
    cached = {
      token: body.access_token,
      refreshAtMs: requestedAt + Math.max(0, lifetimeSecs - config.refreshBeforeExpirySecs) * 1000,
    };
    return body.access_token;
  };

  return {
    get(): Promise<string> {
      if (cached !== undefined && now() < cached.refreshAtMs) return Promise.resolve(cached.token);
      inFlight ??= fetchToken().finally(() => {
        inFlight = undefined;
      });
      return inFlight;
    },
    invalidate(): void {
      cached = undefined;
    },
  };
}
