import { KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { silentLogger } from '../log.js';
import { mask } from '../secrets/index.js';
import {
  checkKafkaConnection,
  classifyKafkaError,
  kafkaConfig,
  kafkaConnectionFields,
  saslOptions,
} from './index.js';

const Schema = z.strictObject(kafkaConnectionFields).superRefine(checkKafkaConnection);

describe('kafka connection config', () => {
  it('defaults to PLAINTEXT without SASL', () => {
    const c = Schema.parse({ brokers: ['127.0.0.1:9092'] });
    expect(c).toMatchObject({ clientId: 'ingest', tls: { enabled: false }, connectionTimeoutMs: 3000 });
    expect(kafkaConfig(c, silentLogger)).toMatchObject({ ssl: false, brokers: ['127.0.0.1:9092'] });
  });

  it('rejects a broker without a port and MSK IAM without TLS', () => {
    expect(Schema.safeParse({ brokers: ['kafka'] }).success).toBe(false);
    const r = Schema.safeParse({
      brokers: ['b:9098'],
      sasl: { mechanism: 'aws-msk-iam', region: 'eu-west-1' },
    });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.message).toMatch(/tls.enabled/);
  });

  it('reads the SCRAM password from the environment only, and masks it from then on', () => {
    const c = Schema.parse({
      brokers: ['b:9096'],
      tls: { enabled: true },
      sasl: { mechanism: 'scram-sha-512', username: 'u', passwordEnv: 'KAFKA_TEST_PW' },
    });
    expect(() => saslOptions(c, {})).toThrow(ConfigError);
    expect(saslOptions(c, { KAFKA_TEST_PW: 's3cret-pw' })).toEqual({
      mechanism: 'scram-sha-512',
      username: 'u',
      password: 's3cret-pw',
    });
    expect(mask('auth failed for s3cret-pw')).toBe('auth failed for ***');
  });

  it('uses OAUTHBEARER for MSK IAM', () => {
    const c = Schema.parse({
      brokers: ['b:9098'],
      tls: { enabled: true },
      sasl: { mechanism: 'aws-msk-iam', region: 'eu-west-1' },
    });
    expect(saslOptions(c)).toMatchObject({ mechanism: 'oauthbearer' });
    expect(kafkaConfig(c, silentLogger).ssl).toEqual({ rejectUnauthorized: true });
  });
});

/** A protocol error entry (kafkajs's typings say Error; its constructor takes the table entry). */
const protocol = (e: { type: string; code: number; retriable: boolean; message: string }) =>
  e as unknown as Error;

describe('classifyKafkaError', () => {
  it('trusts the protocol table and unwraps retries', () => {
    const tooLarge = new KafkaJSProtocolError(
      protocol({
        type: 'MESSAGE_TOO_LARGE',
        code: 10,
        retriable: false,
        message: 'big',
      }),
    );
    expect(classifyKafkaError(tooLarge)).toMatchObject({
      retriable: false,
      failureClass: 'record_too_large',
    });
    const leader = new KafkaJSProtocolError(
      protocol({
        type: 'NOT_LEADER_FOR_PARTITION',
        code: 6,
        retriable: true,
        message: 'x',
      }),
    );
    expect(
      classifyKafkaError(new KafkaJSNumberOfRetriesExceeded(leader, { retryCount: 5, retryTime: 1 })),
    ).toMatchObject({
      retriable: true,
      code: 'NOT_LEADER_FOR_PARTITION',
    });
    const denied = new KafkaJSProtocolError(
      protocol({
        type: 'TOPIC_AUTHORIZATION_FAILED',
        code: 29,
        retriable: false,
        message: 'no',
      }),
    );
    expect(classifyKafkaError(denied)).toMatchObject({ retriable: true, failureClass: 'http_4xx' });
    expect(classifyKafkaError(new KafkaJSConnectionError('refused'))).toMatchObject({
      retriable: true,
      failureClass: 'network',
    });
    expect(classifyKafkaError(new TypeError('bug'))).toMatchObject({
      retriable: false,
      failureClass: 'internal',
    });
  });
});
