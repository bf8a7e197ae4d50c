/**
 * Secrets from the environment and from AWS Secrets Manager (moto's server, test/support/moto.ts):
 * a JSON key, the TTL cache, a rotated secret read again after the TTL or an invalidate(), and
 * errors that name the reference, never the value.
 */
import {
  CreateSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Moto, startMoto } from '../../test/support/moto.js';
import { ConfigError } from '../errors.js';
import { mask } from './index.js';
import { createSecretResolver } from './resolve.js';

let moto: Moto;
let client: SecretsManagerClient;
/** GetSecretValue calls that reached moto. */
let calls = 0;

beforeAll(async () => {
  moto = await startMoto();
  client = new SecretsManagerClient({
    endpoint: moto.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  client.middlewareStack.add(
    (next, ctx) => (args) => {
      if (ctx.commandName === 'GetSecretValueCommand') calls++;
      return next(args);
    },
    { step: 'initialize' },
  );
  await client.send(new CreateSecretCommand({ Name: 'api/token', SecretString: 'sm-token-v1' }));
  await client.send(
    new CreateSecretCommand({
      Name: 'api/oauth',
      SecretString: JSON.stringify({ clientSecret: 'sm-client-s3' }),
    }),
  );
}, 60_000);
afterAll(async () => {
  client?.destroy();
  await moto?.stop();
});

describe('createSecretResolver', () => {
  it('reads env variables, and refuses an unset one naming only the variable', async () => {
    const r = createSecretResolver({ env: { TOKEN_X: 'env-value-1' } });
    expect(await r.resolve({ env: 'TOKEN_X' })).toBe('env-value-1');
    expect(mask('x env-value-1 y')).toBe('x *** y');
    await expect(r.resolve({ env: 'MISSING_X' })).rejects.toThrow(/MISSING_X is not set/);
  });

  it('reads Secrets Manager, a JSON key, caches for the TTL, and reads a rotated value after it', async () => {
    let clock = 0;
    const r = createSecretResolver({ client, ttlMs: 60_000, now: () => clock });
    const before = calls;
    expect(
      await Promise.all([r.resolve({ secretId: 'api/token' }), r.resolve({ secretId: 'api/token' })]),
    ).toEqual(['sm-token-v1', 'sm-token-v1']);
    expect(calls - before).toBe(1);
    expect(await r.resolve({ secretId: 'api/oauth', jsonKey: 'clientSecret' })).toBe('sm-client-s3');
    expect(mask('sm-token-v1 sm-client-s3')).toBe('*** ***');

    await client.send(new PutSecretValueCommand({ SecretId: 'api/token', SecretString: 'sm-token-v2' }));
    clock += 59_000;
    expect(await r.resolve({ secretId: 'api/token' })).toBe('sm-token-v1');
    clock += 2_000;
    expect(await r.resolve({ secretId: 'api/token' })).toBe('sm-token-v2');
    await client.send(new PutSecretValueCommand({ SecretId: 'api/token', SecretString: 'sm-token-v3' }));
    r.invalidate();
    expect(await r.resolve({ secretId: 'api/token' })).toBe('sm-token-v3');
  });

  it('a missing secret or key is a ConfigError naming the reference only', async () => {
    const r = createSecretResolver({ client });
    const missing = await r.resolve({ secretId: 'nope/none' }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ConfigError);
    expect((missing as Error).message).toMatch(/nope\/none does not exist/);
    const noKey = await r.resolve({ secretId: 'api/oauth', jsonKey: 'other' }).catch((e: unknown) => e);
    expect(noKey).toBeInstanceOf(ConfigError);
    expect((noKey as Error).message).not.toContain('sm-client-s3');
  });
});
