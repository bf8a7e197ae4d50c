/**
 * Builds a kafkajs client from the shared connection config: TLS (optionally a private CA),
 * SASL/SCRAM-SHA-512 with its password read from the environment (registered as a secret, so the
 * logger masks it), or Amazon MSK IAM through SASL/OAUTHBEARER with tokens from
 * `aws-msk-iam-sasl-signer-js` (the default AWS credential chain; a token lasts 15 minutes and
 * kafkajs asks for a new one on each re-authentication). kafkajs logs go to the service's pino
 * logger (warn and error only: its info lines are per connection).
 */
import { readFileSync } from 'node:fs';
import { Kafka, type KafkaConfig, type LogEntry, logLevel, type SASLOptions } from 'kafkajs';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import { registerSecret } from '../secrets/index.js';
import type { KafkaConnection } from './config.js';

/** The SASL options of a connection, reading secrets from `env`. @throws ConfigError when a password variable is unset. */
export function saslOptions(
  conn: KafkaConnection,
  env: NodeJS.ProcessEnv = process.env,
): SASLOptions | undefined {
  const sasl = conn.sasl;
  if (sasl === undefined) return undefined;
  if (sasl.mechanism === 'scram-sha-512') {
    const password = env[sasl.passwordEnv];
    if (!password)
      throw new ConfigError(`kafka sasl: environment variable ${sasl.passwordEnv} (passwordEnv) is not set`);
    registerSecret(password);
    return { mechanism: 'scram-sha-512', username: sasl.username, password };
  }
  const region = sasl.region;
  return {
    mechanism: 'oauthbearer',
    oauthBearerProvider: async () => {
      // Loaded on demand: only MSK IAM users pay for the signer and its AWS SDK credential chain.
      const { generateAuthToken } = await import('aws-msk-iam-sasl-signer-js');
      const { token } = await generateAuthToken({ region });
      registerSecret(token);
      return { value: token };
    },
  };
}

/** The kafkajs config of a connection (no calls). @throws ConfigError for a missing password or CA file. */
export function kafkaConfig(
  conn: KafkaConnection,
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
): KafkaConfig {
  let ssl: KafkaConfig['ssl'] = false;
  if (conn.tls.enabled) {
    let ca: string | undefined;
    if (conn.tls.caFile !== undefined) {
      try {
        ca = readFileSync(conn.tls.caFile, 'utf8');
      } catch (err) {
        throw new ConfigError(`kafka tls.caFile ${conn.tls.caFile} cannot be read`, { cause: err });
      }
    }
    ssl = { rejectUnauthorized: conn.tls.rejectUnauthorized, ...(ca === undefined ? {} : { ca: [ca] }) };
  }
  const sasl = saslOptions(conn, env);
  return {
    clientId: conn.clientId,
    brokers: conn.brokers,
    ssl,
    ...(sasl ? { sasl } : {}),
    connectionTimeout: conn.connectionTimeoutMs,
    requestTimeout: conn.requestTimeoutMs,
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ namespace, level, log }: LogEntry) => {
        const { message, timestamp: _t, logger: _l, ...fields } = log;
        // The sink bounds kafkajs's retries on purpose and starts a new producer session after a
        // failed call (docs/adr/0009-kafka-sink.md): this warning would repeat on every session.
        if (message.startsWith('Limiting retries for the idempotent producer')) return;
        const line = { event: 'kafkajs', namespace, ...fields };
        // Connection lines repeat every protocol error of a request kafkajs retries itself (a
        // coordinator loading, a leader moving): debug. What fails for good reaches the caller as
        // an error and is logged there once; kafkajs's own lines are warnings at most.
        if (namespace === 'Connection') logger.debug(line, `kafkajs: ${message}`);
        else if (level <= logLevel.WARN) logger.warn(line, `kafkajs: ${message}`);
      },
  };
}

/** A kafkajs client for a connection. @throws ConfigError (see {@link kafkaConfig}). */
export function createKafkaClient(conn: KafkaConnection, logger: Logger): Kafka {
  return new Kafka(kafkaConfig(conn, logger));
}
