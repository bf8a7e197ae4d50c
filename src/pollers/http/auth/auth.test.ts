/**
 * Each auth kind against a local HTTP server over real sockets, including an OAuth2 token that
 * expires, a token the API revokes (401, then one refresh and retry), and masking of every secret.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mask } from '../../../secrets/index.js';
import { createSecretResolver } from '../../../secrets/resolve.js';
import { HttpStatusError } from '../errors.js';
import { fetchJson, sharedAgent } from '../fetch.js';
import { AuthSchema, createAuth, sendWithAuth } from './index.js';

interface Seen {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

let server: Server;
let origin: string;
let seen: Seen[];
/** Access tokens the API accepts; the token endpoint adds one per grant. */
let valid: Set<string>;
let grants: number;
let expiresIn: number;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      seen.push({ path: req.url ?? '', headers: req.headers, body });
      res.setHeader('content-type', 'application/json');
      if (req.url === '/token') {
        // RFC 6749 §2.3.1: id and secret are form-encoded, then joined by `:` and base64-encoded.
        const basic = Buffer.from(
          (req.headers.authorization ?? '').replace(/^Basic /, ''),
          'base64',
        ).toString();
        const [id, secret] = basic.split(':').map((p) => decodeURIComponent(p.replace(/\+/g, ' ')));
        const ok = id === 'client-1' && secret === 'cl!ent s3cret';
        if (!ok || !body.includes('grant_type=client_credentials')) {
          res.statusCode = 401;
          res.end(JSON.stringify({ error: 'invalid_client', echo: req.headers.authorization }));
          return;
        }
        const token = `at-${++grants}-xyz`;
        valid.add(token);
        res.end(JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: expiresIn }));
        return;
      }
      const auth = req.headers.authorization ?? '';
      if (req.url?.startsWith('/oauth') && !valid.has(auth.replace(/^Bearer /, ''))) {
        res.statusCode = 401;
        res.end('{"error":"invalid_token"}');
        return;
      }
      res.end('[]');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});
beforeEach(() => {
  seen = [];
  valid = new Set();
  grants = 0;
  expiresIn = 3600;
});

const env = {
  API_KEY: 'key-abc123',
  BASIC_PW: 'pa ss:wörd',
  BEARER: 'bearer-tok-42',
  CLIENT_ID: 'client-1',
  CLIENT_SECRET: 'cl!ent s3cret',
};

const get = (url: string, headers: Record<string, string> = {}) =>
  fetchJson(
    { url, method: 'GET', headers },
    {
      dispatcher: sharedAgent(5_000),
      headersTimeoutMs: 5_000,
      bodyTimeoutMs: 5_000,
      requestTimeoutMs: 5_000,
      maxResponseBytes: 1_000_000,
    },
  );

function authOf(config: unknown, now?: () => number) {
  const parsed = AuthSchema.parse(config)!;
  return createAuth(parsed, {
    secrets: createSecretResolver({ env }),
    dispatcher: sharedAgent(5_000),
    ...(now ? { now } : {}),
  });
}

const call = (auth: ReturnType<typeof authOf>, path: string) =>
  sendWithAuth(auth, { url: `${origin}${path}`, headers: {} }, (r) => get(r.url, r.headers));

describe('auth kinds against a local server', () => {
  it('API key in a header and in the query; the query key is masked wherever the URL is quoted', async () => {
    await call(authOf({ type: 'apiKey', in: 'header', name: 'X-Api-Key', value: { env: 'API_KEY' } }), '/a');
    expect(seen[0]!.headers['x-api-key']).toBe('key-abc123');
    await call(authOf({ type: 'apiKey', in: 'query', name: 'api_key', value: { env: 'API_KEY' } }), '/b?x=1');
    expect(seen[1]!.path).toBe('/b?x=1&api_key=key-abc123');
    expect(mask(`GET ${origin}/b?x=1&api_key=key-abc123`)).not.toContain('key-abc123');
  });

  it('HTTP basic and bearer', async () => {
    await call(authOf({ type: 'basic', username: 'svc', password: { env: 'BASIC_PW' } }), '/c');
    expect(seen[0]!.headers.authorization).toBe(`Basic ${Buffer.from('svc:pa ss:wörd').toString('base64')}`);
    await call(authOf({ type: 'bearer', token: { env: 'BEARER' } }), '/d');
    await call(authOf({ type: 'bearer', tokenEnv: 'BEARER' }), '/d');
    expect(seen.slice(1).map((s) => s.headers.authorization)).toEqual([
      'Bearer bearer-tok-42',
      'Bearer bearer-tok-42',
    ]);
    expect(mask(JSON.stringify(seen.map((s) => s.headers.authorization)))).not.toMatch(/bearer-tok-42|pa ss/);
  });

  it('a missing environment variable fails at once, naming the variable and no value', () => {
    expect(() => authOf({ type: 'apiKey', name: 'k', value: { env: 'NOPE_KEY' } })).toThrow(
      /environment variable NOPE_KEY is not set/,
    );
  });

  it('OAuth2 client credentials: token cached, fetched again before expiry', async () => {
    let clock = 1_000_000;
    const auth = authOf(
      {
        type: 'oauth2ClientCredentials',
        tokenUrl: `${origin}/token`,
        clientId: { env: 'CLIENT_ID' },
        clientSecret: { env: 'CLIENT_SECRET' },
        scope: 'read write',
        refreshBeforeExpirySecs: 60,
      },
      () => clock,
    );
    expiresIn = 120;
    await Promise.all([call(auth, '/oauth/1'), call(auth, '/oauth/2')]);
    expect(grants).toBe(1); // concurrent requests share one token request
    expect(seen.find((s) => s.path === '/token')!.body).toBe(
      'grant_type=client_credentials&scope=read+write',
    );
    clock += 59_000; // 59 s into a 120 s token with a 60 s margin: still cached
    await call(auth, '/oauth/3');
    expect(grants).toBe(1);
    clock += 2_000; // 61 s: within the margin, a new token is fetched before the old one expires
    await call(auth, '/oauth/4');
    expect(grants).toBe(2);
    expect(seen.filter((s) => s.path === '/oauth/4')[0]!.headers.authorization).toBe('Bearer at-2-xyz');
  });

  it('OAuth2: a 401 (token revoked) refreshes the token and retries once; a second 401 is thrown', async () => {
    const auth = authOf({
      type: 'oauth2ClientCredentials',
      tokenUrl: `${origin}/token`,
      clientId: { env: 'CLIENT_ID' },
      clientSecret: { env: 'CLIENT_SECRET' },
    });
    await call(auth, '/oauth/a');
    valid.clear(); // the API revokes every token
    await call(auth, '/oauth/b');
    expect(grants).toBe(2);
    expect(seen.filter((s) => s.path === '/oauth/b').map((s) => s.headers.authorization)).toEqual([
      'Bearer at-1-xyz',
      'Bearer at-2-xyz',
    ]);
    // The API rejects every token now: one refresh, one retry, then the 401 stands.
    const reject = sendWithAuth(auth, { url: `${origin}/oauth/c`, headers: {} }, async (r) => {
      valid.clear();
      return get(r.url, r.headers);
    });
    await expect(reject).rejects.toMatchObject({ status: 401 });
    expect(seen.filter((s) => s.path === '/oauth/c')).toHaveLength(2);
  });

  it('OAuth2: bad client credentials are an HTTP 401 naming the error code, never the secret', async () => {
    const auth = createAuth(
      AuthSchema.parse({
        type: 'oauth2ClientCredentials',
        tokenUrl: `${origin}/token`,
        clientId: { env: 'CLIENT_ID' },
        clientSecret: { env: 'CLIENT_SECRET' },
      })!,
      { secrets: createSecretResolver({ env: { ...env, CLIENT_SECRET: 'wrong-secret-1' } }) },
    );
    const err = await call(auth, '/oauth/x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpStatusError);
    expect((err as Error).message).toContain('invalid_client');
    expect((err as Error).message).not.toContain('wrong-secret-1');
    expect(mask(Buffer.from('client-1:wrong-secret-1').toString('base64'))).toBe('***');
  });
});
