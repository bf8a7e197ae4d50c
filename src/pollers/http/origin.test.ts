import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/load.js';
import { HttpSourceSchema } from './config.js';
import { originPolicy, withoutCredentials } from './origin.js';

const base = { name: 'o.test', type: 'http' } as const;
const issues = (over: Record<string, unknown>): string[] => {
  const r = HttpSourceSchema.safeParse({ ...base, url: 'https://api.example.com/items', ...over });
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('source url validation', () => {
  it('accepts http and https only', () => {
    expect(issues({})).toEqual([]);
    expect(issues({ url: 'http://127.0.0.1:8080/x' })).toEqual([]);
    for (const url of ['ftp://example.com/x', 'file:///etc/passwd', 'ws://example.com/x']) {
      expect(issues({ url }).join('\n')).toMatch(/url: .*only http and https/);
    }
  });

  it('rejects credentials in the URL, pointing to the auth options', () => {
    for (const url of ['https://user:pass@api.example.com/x', 'https://user@api.example.com/x']) {
      const msg = issues({ url }).join('\n');
      expect(msg).toMatch(/url: credentials in the URL are not accepted/);
      expect(msg).toContain('`auth`');
      expect(msg).toContain('tokenEnv');
    }
  });

  it('the config error for a URL with a password does not quote the password', () => {
    // JSON is YAML: the smallest whole config, with a password in the source URL.
    const yaml = JSON.stringify({
      sources: [{ name: 'shop.products', type: 'http', url: 'https://alice:hunter2-Pa55word@127.0.0.1:1/p' }],
      sinks: [{ type: 'kinesis', streamName: 's' }],
      consumers: [{ type: 'bronze', streamName: 's' }],
    });
    let msg = '';
    try {
      parseConfig(yaml);
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/sources\[0\]\.url: credentials in the URL are not accepted/);
    expect(msg).not.toContain('hunter2');
  });

  it('allowedOrigins takes bare origins; credentialOrigins must be among them', () => {
    expect(issues({ allowedOrigins: ['https://api2.example.com', 'http://127.0.0.1:9000'] })).toEqual([]);
    for (const o of [
      'https://api2.example.com/path',
      'ftp://x.example.com',
      'https://u:p@x.example.com',
      'nope',
    ]) {
      expect(issues({ allowedOrigins: [o] }).join('\n')).toMatch(/allowedOrigins\.0: expected an origin/);
    }
    expect(issues({ credentialOrigins: ['https://api2.example.com'] })).toEqual([
      'credentialOrigins.0: a credential origin must also be listed in `allowedOrigins`',
    ]);
    expect(
      issues({
        allowedOrigins: ['https://API2.example.com:443'],
        credentialOrigins: ['https://api2.example.com'],
      }),
    ).toEqual([]);
  });
});

describe('originPolicy', () => {
  const policy = originPolicy(
    HttpSourceSchema.parse({
      ...base,
      url: 'https://api.example.com/v1/items?x=1',
      allowedOrigins: ['https://cdn.example.com', 'https://api2.example.com'],
      credentialOrigins: ['https://api2.example.com'],
    }),
  );

  it('follows home and allowed origins only, by scheme, host and port', () => {
    expect(policy.home).toBe('https://api.example.com');
    expect(policy.mayFollow('https://api.example.com/v1/items?page=2')).toBe(true);
    expect(policy.mayFollow('https://api.example.com:443/x')).toBe(true);
    expect(policy.mayFollow('https://cdn.example.com/p2')).toBe(true);
    expect(policy.mayFollow('http://api.example.com/x')).toBe(false); // other scheme
    expect(policy.mayFollow('https://api.example.com:8443/x')).toBe(false); // other port
    expect(policy.mayFollow('https://api.example.com.evil.test/x')).toBe(false);
    expect(policy.mayFollow('https://evil.test/x')).toBe(false);
    expect(policy.mayFollow('javascript:alert(1)')).toBe(false);
    expect(policy.mayFollow('/relative/only')).toBe(false);
  });

  it('sends credentials home and to credentialOrigins only', () => {
    expect(policy.mayCarryCredentials('https://api.example.com/x')).toBe(true);
    expect(policy.mayCarryCredentials('https://api2.example.com/x')).toBe(true);
    expect(policy.mayCarryCredentials('https://cdn.example.com/x')).toBe(false);
    expect(policy.mayCarryCredentials('https://evil.test/x')).toBe(false);
  });

  it('withoutCredentials drops the auth header and credential-like headers, keeps the rest', () => {
    expect(
      withoutCredentials(
        { Authorization: 'Bearer t', 'X-Custom-Auth': 'v', Cookie: 'c', 'x-api-key': 'k', 'x-trace': 'keep' },
        ['x-custom-auth'],
      ),
    ).toEqual({ 'x-trace': 'keep' });
  });
});
