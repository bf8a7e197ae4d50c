/**
 * Where secret values come from: an environment variable, or AWS Secrets Manager (cached with a
 * TTL), never the config file. Every value resolved is registered with {@link registerSecret}, so
 * logs, metrics, errors and dead letters mask it; errors name the reference, never the value.
 *
 * @module
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import { classifyAwsError } from '../aws/errors.js';
import { ConfigError, type FailureClass, IngestError } from '../errors.js';
import { registerSecret } from './index.js';

/** A reference to a secret: `{ env: NAME }` or `{ secretId: ARN-or-name, jsonKey?: key }`. */
export const SecretRefSchema = z.union([
  z.strictObject({ env: z.string().min(1).describe('Environment variable holding the value.') }),
  z.strictObject({
    secretId: z
      .string()
      .min(1)
      .describe('AWS Secrets Manager secret name or ARN (GetSecretValue, AWSCURRENT).'),
    jsonKey: z
      .string()
      .min(1)
      .optional()
      .describe('When the secret string is a JSON object: the key whose value is the secret.'),
  }),
]);

export type SecretRef = z.infer<typeof SecretRefSchema>;

/** Describes a reference without its value, for errors: `env FOO` or `secret db/creds#password`. */
export const describeRef = (ref: SecretRef): string =>
  'env' in ref
    ? `environment variable ${ref.env}`
    : `secret ${ref.secretId}${ref.jsonKey ? `#${ref.jsonKey}` : ''}`;

/** A failure to read a secret from Secrets Manager that may pass (throttling, network). */
export class SecretUnavailableError extends IngestError {
  constructor(message: string, failureClass: FailureClass, retriable: boolean, cause: unknown) {
    super(message, failureClass, { retriable, cause });
  }
}

/** Resolves {@link SecretRef}s to values. */
export interface SecretResolver {
  /**
   * The value of `ref`, registered as a secret.
   * @throws ConfigError when the variable is unset or empty, the secret has no string, or `jsonKey`
   *   is missing from it; SecretUnavailableError (retriable when AWS says so) when the call failed.
   */
  resolve(ref: SecretRef): Promise<string>;
  /** The value of an `env` reference at once (config checks at start-up); `undefined` for others. */
  resolveEnvNow(ref: SecretRef): string | undefined;
  /** Forgets the cached Secrets Manager values (after a 401, a rotated secret is read again). */
  invalidate(): void;
}

/** Options of {@link createSecretResolver}. */
export interface SecretResolverOptions {
  /** @default process.env */
  env?: Record<string, string | undefined>;
  /** @default a SecretsManagerClient from the default chain (honours `AWS_ENDPOINT_URL_SECRETS_MANAGER`) */
  client?: Pick<SecretsManagerClient, 'send'>;
  /** How long a Secrets Manager value is used before it is read again, in ms. @default 300000 */
  ttlMs?: number;
  /** Clock, epoch ms. @default Date.now */
  now?: () => number;
}

/**
 * Builds a resolver. Concurrent reads of one secret share one GetSecretValue call.
 * @example
 * ```ts
 * const secrets = createSecretResolver();
 * const token = await secrets.resolve({ secretId: 'github/token' });
 * ```
 */
export function createSecretResolver(options: SecretResolverOptions = {}): SecretResolver {
  const env = options.env ?? process.env;
  const ttlMs = options.ttlMs ?? 300_000;
  const now = options.now ?? Date.now;
  let client = options.client;
  const cache = new Map<string, { at: number; value: Promise<string> }>();

  const fromEnv = (name: string): string => {
    const value = env[name];
    if (value === undefined || value === '') throw new ConfigError(`environment variable ${name} is not set`);
    registerSecret(value);
    return value;
  };

  const fetchSecret = async (secretId: string): Promise<string> => {
    // Loaded on the first Secrets Manager reference: a config without one never loads the SDK
    // client (start-up CPU, issue 8).
    const sm = await import('@aws-sdk/client-secrets-manager');
    client ??= new sm.SecretsManagerClient({});
    let out: { SecretString?: string | undefined };
    try {
      out = await client.send(new sm.GetSecretValueCommand({ SecretId: secretId }));
    } catch (err) {
      const c = classifyAwsError(err);
      const name = (err as { name?: string }).name ?? 'Error';
      if (name === 'ResourceNotFoundException') {
        throw new ConfigError(`secret ${secretId} does not exist in Secrets Manager`);
      }
      // The AWS message never holds the value; the cause is kept for its code, not logged raw.
      throw new SecretUnavailableError(
        `secret ${secretId}: GetSecretValue failed (${name})`,
        c.failureClass,
        c.retriable,
        err,
      );
    }
    if (out.SecretString === undefined) {
      throw new ConfigError(`secret ${secretId} has no SecretString (binary secrets are not supported)`);
    }
    registerSecret(out.SecretString);
    return out.SecretString;
  };

  const cached = (secretId: string): Promise<string> => {
    const hit = cache.get(secretId);
    if (hit !== undefined && now() - hit.at < ttlMs) return hit.value;
    const value = fetchSecret(secretId);
    cache.set(secretId, { at: now(), value });
    value.catch(() => cache.delete(secretId));
    return value;
  };

  return {
    async resolve(ref) {
      if ('env' in ref) return fromEnv(ref.env);
      const text = await cached(ref.secretId);
      if (ref.jsonKey === undefined) return text;
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new ConfigError(`${describeRef(ref)}: the secret is not a JSON object`);
      }
      const v = (parsed as Record<string, unknown> | null)?.[ref.jsonKey];
      if (typeof v !== 'string' || v === '') throw new ConfigError(`${describeRef(ref)}: no such string key`);
      registerSecret(v);
      return v;
    },
    resolveEnvNow: (ref) => ('env' in ref ? fromEnv(ref.env) : undefined),
    invalidate: () => cache.clear(),
  };
}
