/**
 * The connection fields every Kafka component shares (the sink and the bronze consumer): brokers,
 * TLS, and SASL (SCRAM-SHA-512 with a password from the environment, or Amazon MSK IAM). Secrets
 * are never in config: only the name of the environment variable that holds them.
 */
import { z } from 'zod';

/** `host:port`. */
const BROKER = /^[^\s:/]+:\d{1,5}$/;

export const KafkaTlsSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(false)
      .describe('Connect with TLS (MSK: port 9094 TLS, 9096 SCRAM, 9098 IAM).'),
    caFile: z
      .string()
      .optional()
      .describe('PEM file of the CA to trust instead of the system roots (a private CA).'),
    rejectUnauthorized: z
      .boolean()
      .default(true)
      .describe('Refuse a broker certificate that does not verify. Only turn off against a test broker.'),
  })
  .default({ enabled: false, rejectUnauthorized: true })
  .describe('TLS to the brokers.');

export const KafkaSaslSchema = z
  .discriminatedUnion('mechanism', [
    z.strictObject({
      mechanism: z.literal('scram-sha-512').describe('SASL/SCRAM-SHA-512 (MSK: port 9096).'),
      username: z.string().min(1).describe('SCRAM user name.'),
      passwordEnv: z
        .string()
        .min(1)
        .describe('Environment variable holding the SCRAM password (masked in every log line and error).'),
    }),
    z.strictObject({
      mechanism: z
        .literal('aws-msk-iam')
        .describe(
          'Amazon MSK IAM access control (port 9098), through SASL/OAUTHBEARER with a token signed by aws-msk-iam-sasl-signer-js from the default AWS credential chain (task role, env, profile). Needs tls.enabled.',
        ),
      region: z.string().min(1).describe('AWS region of the MSK cluster (signs the token).'),
    }),
  ])
  .optional()
  .describe('SASL authentication. @default none (PLAINTEXT or TLS only)');

/** The shared connection fields; components spread them into their own schema. */
export const kafkaConnectionFields = {
  brokers: z
    .array(z.string().regex(BROKER, 'expected host:port'))
    .min(1)
    .describe('Bootstrap brokers, `host:port` each (MSK: the bootstrap broker string, split on commas).'),
  clientId: z.string().min(1).default('ingest').describe('Kafka client id (broker logs, quotas).'),
  tls: KafkaTlsSchema,
  sasl: KafkaSaslSchema,
  connectionTimeoutMs: z
    .number()
    .int()
    .positive()
    .default(3_000)
    .describe('Time to establish a broker connection before it counts as failed (and is retried).'),
  requestTimeoutMs: z
    .number()
    .int()
    .positive()
    .default(30_000)
    .describe('Time one Kafka request may take before it is failed (and retried).'),
};

export const KafkaConnectionSchema = z.strictObject(kafkaConnectionFields);

/** The parsed connection fields. */
export type KafkaConnection = z.infer<typeof KafkaConnectionSchema>;

/** MSK IAM signs over TLS only: the check every schema that spreads the fields runs. */
export function checkKafkaConnection(cfg: KafkaConnection, ctx: z.RefinementCtx): void {
  if (cfg.sasl?.mechanism === 'aws-msk-iam' && !cfg.tls.enabled) {
    ctx.addIssue({
      code: 'custom',
      path: ['tls', 'enabled'],
      message: 'sasl.mechanism aws-msk-iam needs tls.enabled: true (MSK IAM listens on TLS only, port 9098)',
    });
  }
}
