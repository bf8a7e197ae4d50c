import { afterEach, describe, expect, it } from 'vitest';
import {
  clearSecretsForTests,
  longestSecretLength,
  MASK,
  mask,
  maskedExcerpt,
  registerHeaderSecrets,
  registerSecret,
} from './index.js';

afterEach(() => clearSecretsForTests());

describe('mask', () => {
  it('replaces every occurrence of a registered secret, and nothing else', () => {
    registerSecret('s3cr3t-token');
    expect(mask('a s3cr3t-token b s3cr3t-token')).toBe(`a ${MASK} b ${MASK}`);
    expect(mask('s3cr3t-tok is not it')).toBe('s3cr3t-tok is not it');
  });

  it('masks the JSON-escaped and percent-encoded forms too', () => {
    registerSecret('p"a\\ss/wo rd');
    expect(mask(JSON.stringify({ echo: 'p"a\\ss/wo rd' }))).toBe(`{"echo":"${MASK}"}`);
    expect(mask(`https://h/x?k=${encodeURIComponent('p"a\\ss/wo rd')}`)).toBe(`https://h/x?k=${MASK}`);
  });

  it('masks a secret that contains another one whole', () => {
    registerSecret('abcd');
    registerSecret('xxabcdxx');
    expect(mask('[xxabcdxx] [abcd]')).toBe(`[${MASK}] [${MASK}]`);
  });

  it('ignores values too short to be secrets (they would mangle every line)', () => {
    expect(registerSecret('abc')).toBe(false);
    expect(registerSecret(undefined)).toBe(false);
    expect(mask('abc')).toBe('abc');
  });

  it('registers credential-like header values from config, and the token after a scheme', () => {
    const names = registerHeaderSecrets({
      Authorization: 'Bearer inline-token-1',
      'X-Api-Key': 'inline-key-22',
      Accept: 'application/json',
    });
    expect(names).toEqual(['Authorization', 'X-Api-Key']);
    expect(mask('inline-token-1 / inline-key-22 / application/json')).toBe(
      `${MASK} / ${MASK} / application/json`,
    );
  });
});

describe('maskedExcerpt', () => {
  it('never leaks the head of a secret cut by the excerpt boundary', () => {
    const secret = 'TOKEN-0123456789abcdef';
    registerSecret(secret);
    expect(longestSecretLength()).toBe(secret.length);
    for (let at = 0; at <= 30; at++) {
      const text = `${'x'.repeat(at)}${secret}${'y'.repeat(100)}`;
      const head = maskedExcerpt(text, 20);
      expect(head.length).toBeLessThanOrEqual(21);
      expect(head).not.toContain('TOKEN');
      const tail = maskedExcerpt(`${'y'.repeat(100)}${secret}${'x'.repeat(at)}`, 20, 'end');
      expect(tail).not.toContain('cdef');
    }
  });

  it('keeps a short text whole, and marks the cut side of a long one', () => {
    expect(maskedExcerpt('short', 200)).toBe('short');
    expect(maskedExcerpt('a'.repeat(300), 200)).toBe(`${'a'.repeat(200)}…`);
    expect(maskedExcerpt('a'.repeat(300), 200, 'end')).toBe(`…${'a'.repeat(200)}`);
  });
});
