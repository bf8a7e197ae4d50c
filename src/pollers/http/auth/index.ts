/**
 * Credentials of an HTTP source ({@link createAuth}): API key (header or query), HTTP basic, bearer,
 * and OAuth2 client credentials (token cached, fetched again before expiry, and once more after a
 * 401). Every secret is resolved through `src/secrets/resolve.ts` and registered for masking; no
 * error carries a secret value.
 *
 * @module
 */
import type { Dispatcher } from 'undici';
import { ConfigError } from '../../../errors.js';
import { registerSecret } from '../../../secrets/index.js';
import { createSecretResolver, type SecretRef, type SecretResolver } from '../../../secrets/resolve.js';
import { HttpStatusError } from '../errors.js';
import type { AuthConfig } from './config.js';
import { createOAuth2Token } from './oauth2.js';

export { type AuthConfig, AuthSchema } from './config.js';

/** A request's URL and headers, before or after credentials were added. */
export interface AuthedRequest {
  url: string;
  headers: Record<string, string>;
}

/** The credentials of one source. */
export interface Auth {
  /** Header names the credentials use (removed from requests to origins that may not get them). */
  readonly headerNames: string[];
  /** Adds the credentials to a request. @throws ConfigError / SecretUnavailableError */
  apply(request: AuthedRequest): Promise<AuthedRequest>;
  /**
   * After a 401: drops cached credentials (an OAuth2 token, Secrets Manager values) so the next
   * {@link apply} reads them again. @returns whether retrying may help.
   */
  refresh(): Promise<boolean>;
}

/** Dependencies of {@link createAuth}. */
export interface AuthDeps {
  /** Where secrets come from. @default a resolver on `env` and the default Secrets Manager client */
  secrets?: SecretResolver;
  /** @default process.env */
  env?: Record<string, string | undefined>;
  /** For the OAuth2 token endpoint. */
  dispatcher?: Dispatcher;
  /** Clock, epoch ms. @default Date.now */
  now?: () => number;
  /** Token request timeout, in ms. @default 10000 */
  timeoutMs?: number;
}

const NO_AUTH: Auth = {
  headerNames: [],
  apply: async (r) => r,
  refresh: async () => false,
};

/**
 * Builds the credentials of a source. Environment variables named by the config are checked at once,
 * so a missing one fails the start-up, not the first poll.
 * @throws ConfigError naming the unset environment variable.
 * @example
 * ```ts
 * const auth = createAuth({ type: 'apiKey', in: 'query', name: 'api_key', value: { env: 'KEY' } });
 * const { url, headers } = await auth.apply({ url: 'https://api.example/x', headers: {} });
 * ```
 */
export function createAuth(config: AuthConfig | undefined, deps: AuthDeps = {}): Auth {
  if (config === undefined) return NO_AUTH;
  const secrets = deps.secrets ?? createSecretResolver(deps.env === undefined ? {} : { env: deps.env });
  const refs = refsOf(config);
  for (const ref of refs) secrets.resolveEnvNow(ref);
  const refreshSecrets = async (): Promise<boolean> => {
    const fromSecretsManager = refs.some((r) => !('env' in r));
    secrets.invalidate();
    return fromSecretsManager;
  };
  const withHeader = (name: string, value: (r: AuthedRequest) => Promise<string>): Auth => ({
    headerNames: [name.toLowerCase()],
    apply: async (r) => ({ url: r.url, headers: { ...r.headers, [name]: await value(r) } }),
    refresh: refreshSecrets,
  });
  switch (config.type) {
    case 'bearer': {
      const ref: SecretRef = config.token ?? { env: config.tokenEnv! };
      return withHeader('authorization', async () => `Bearer ${await secrets.resolve(ref)}`);
    }
    case 'header':
      return withHeader(config.header, () => secrets.resolve({ env: config.valueEnv }));
    case 'apiKey':
      if (config.in === 'header') return withHeader(config.name, () => secrets.resolve(config.value));
      return {
        headerNames: [],
        apply: async (r) => {
          const u = new URL(r.url);
          u.searchParams.set(config.name, await secrets.resolve(config.value));
          return { url: u.toString(), headers: r.headers };
        },
        refresh: refreshSecrets,
      };
    case 'basic':
      return withHeader('authorization', async () => {
        const token = Buffer.from(`${config.username}:${await secrets.resolve(config.password)}`).toString(
          'base64',
        );
        registerSecret(token);
        return `Basic ${token}`;
      });
    case 'oauth2ClientCredentials': {
      const token = createOAuth2Token(config, { ...deps, secrets });
      return {
        headerNames: ['authorization'],
        apply: async (r) => ({
          url: r.url,
          headers: { ...r.headers, authorization: `Bearer ${await token.get()}` },
        }),
        refresh: async () => {
          secrets.invalidate();
          token.invalidate();
          return true;
        },
      };
    }
    default:
      throw new ConfigError(`unknown auth type ${(config as { type: string }).type}`);
  }
}

/** The secret references of an auth config. */
function refsOf(config: AuthConfig): SecretRef[] {
  switch (config.type) {
    case 'bearer':
      return [config.token ?? { env: config.tokenEnv! }];
    case 'header':
      return [{ env: config.valueEnv }];
    case 'apiKey':
      return [config.value];
    case 'basic':
      return [config.password];
    case 'oauth2ClientCredentials':
      return [config.clientId, config.clientSecret];
  }
}

/**
 * Sends a request with credentials; on a 401, refreshes them and sends it once more (RFC 6750 §3.1:
 * an expired or revoked token answers 401). A second 401 is thrown.
 */
export async function sendWithAuth<T>(
  auth: Auth | undefined,
  request: AuthedRequest,
  send: (r: AuthedRequest) => Promise<T>,
): Promise<T> {
  if (auth === undefined) return send(request);
  try {
    return await send(await auth.apply(request));
  } catch (err) {
    if (!(err instanceof HttpStatusError && err.status === 401) || !(await auth.refresh())) throw err;
    return send(await auth.apply(request));
  }
}
