import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { checkEndpoint, classifyHost, resolveEndpoints } from './endpoints.js';

describe('classifyHost', () => {
  it.each([
    ['kinesis.us-east-1.amazonaws.com', 'aws'],
    ['s3.cn-north-1.amazonaws.com.cn', 'aws'],
    ['KINESIS.US-EAST-1.AMAZONAWS.COM.', 'aws'],
    ['vpce-0abc.kinesis.us-east-1.vpce.amazonaws.com', 'aws'],
    ['s3.dualstack.us-east-1.api.aws', 'aws'],
    ['amazonaws.com', 'aws'],
    ['localhost', 'loopback'],
    ['s3.localhost', 'loopback'],
    ['localhost.localstack.cloud', 'loopback'],
    ['bucket.s3.localhost.localstack.cloud', 'loopback'],
    ['127.0.0.1', 'loopback'],
    ['127.8.9.10', 'loopback'],
    ['[::1]', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.20', 'private'],
    ['[fd00::1]', 'private'],
    ['[::ffff:10.0.0.1]', 'private'],
    ['localstack', 'local-name'],
    ['moto', 'local-name'],
    ['emulator.local', 'local-name'],
    ['kinesis.svc.internal', 'local-name'],
    ['172.32.0.1', 'other'],
    ['8.8.8.8', 'other'],
    ['moto.example.com', 'other'],
    ['amazonaws.com.example.org', 'other'],
    ['notamazonaws.com', 'other'],
  ])('%s → %s', (host, kind) => {
    expect(classifyHost(host)).toBe(kind);
  });
});

describe('checkEndpoint', () => {
  it('accepts an emulator URL and says what kind of host it is', () => {
    expect(checkEndpoint('http://localstack:4566', 'AWS_ENDPOINT_URL')).toEqual({
      url: 'http://localstack:4566',
      kind: 'local-name',
      from: 'AWS_ENDPOINT_URL',
    });
  });

  it('refuses AWS, non-URLs and other schemes, naming the source of the value', () => {
    expect(checkEndpoint('https://glue.eu-west-1.amazonaws.com', '--endpoint')).toEqual({
      refused: expect.stringMatching(
        /^--endpoint is https:\/\/glue\.eu-west-1\.amazonaws\.com, a real AWS endpoint/,
      ),
    });
    expect(checkEndpoint('localhost:4566', 'AWS_ENDPOINT_URL')).toEqual({
      refused: expect.stringMatching(/AWS_ENDPOINT_URL must be an http: or https: URL/),
    });
    expect(checkEndpoint('not a url', 'X')).toEqual({ refused: 'X is not a URL: "not a url"' });
  });
});

describe('resolveEndpoints', () => {
  const services = ['kinesis', 's3', 'glue'] as const;

  it('uses --endpoint for every service, over the environment', () => {
    const out = resolveEndpoints({
      services,
      endpoint: 'http://127.0.0.1:4566',
      env: { AWS_ENDPOINT_URL_KINESIS: 'https://kinesis.us-east-1.amazonaws.com' },
    });
    expect([...out.values()].map((e) => [e.url, e.from])).toEqual([
      ['http://127.0.0.1:4566', '--endpoint'],
      ['http://127.0.0.1:4566', '--endpoint'],
      ['http://127.0.0.1:4566', '--endpoint'],
    ]);
  });

  it('prefers AWS_ENDPOINT_URL_<SERVICE> to AWS_ENDPOINT_URL', () => {
    const out = resolveEndpoints({
      services,
      env: { AWS_ENDPOINT_URL: 'http://moto:5000', AWS_ENDPOINT_URL_KINESIS: 'http://127.0.0.1:4567' },
    });
    expect(out.get('kinesis')).toEqual({
      url: 'http://127.0.0.1:4567',
      kind: 'loopback',
      from: 'AWS_ENDPOINT_URL_KINESIS',
    });
    expect(out.get('s3')).toEqual({ url: 'http://moto:5000', kind: 'local-name', from: 'AWS_ENDPOINT_URL' });
  });

  it('refuses to run without an endpoint, saying the SDK would go to AWS', () => {
    const err = (() => {
      try {
        resolveEndpoints({ services, env: {} });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as Error).message;
    expect(message).toMatch(/^bootstrap refuses to run: it only creates resources in local emulators/);
    for (const s of ['kinesis', 's3', 'glue']) {
      expect(message).toContain(
        `${s}: no endpoint. Set --endpoint, AWS_ENDPOINT_URL_${s.toUpperCase()} or AWS_ENDPOINT_URL`,
      );
    }
    expect(message).toMatch(/would use the real AWS regional endpoint/);
  });

  it('refuses when one service of several points at AWS, and lists only the bad ones', () => {
    expect(() =>
      resolveEndpoints({
        services,
        env: {
          AWS_ENDPOINT_URL: 'http://127.0.0.1:5000',
          AWS_ENDPOINT_URL_GLUE: 'https://glue.amazonaws.com',
        },
      }),
    ).toThrow(
      /\n {2}glue: AWS_ENDPOINT_URL_GLUE is https:\/\/glue\.amazonaws\.com, a real AWS endpoint[^\n]*$/,
    );
  });

  it('ignores the environment variables when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is true, as the SDK does', () => {
    expect(() =>
      resolveEndpoints({
        services: ['s3'],
        env: { AWS_ENDPOINT_URL: 'http://127.0.0.1:5000', AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' },
      }),
    ).toThrow(/s3: no endpoint.*unset AWS_IGNORE_CONFIGURED_ENDPOINT_URLS/);
    expect(
      resolveEndpoints({
        services: ['s3'],
        endpoint: 'http://127.0.0.1:5000',
        env: { AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' },
      }).get('s3')?.from,
    ).toBe('--endpoint');
  });
});
