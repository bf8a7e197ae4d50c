import { z } from 'zod';
import { BronzeWriterSchema } from '../consumers/bronze/config.js';
import { KafkaBronzeWriterSchema } from '../consumers/bronze/kafka-config.js';
import { HourlySchedulerSchema } from '../consumers/hourly/config.js';
import { CoordinationSchema } from '../coordination/config.js';
import { LakeSchema } from '../glue/config.js';
import { HttpSourceSchema } from '../pollers/http/config.js';
import { SinkSchema } from '../producers/registry.js';

/**
 * The service's configuration file: one YAML document of sources, sinks and consumers. Each
 * component's own schema lives in its folder (`config.ts`); this file composes them. The README's
 * config reference is generated from these schemas (`npm run docs:config`).
 */
export const SourceSchema = z.discriminatedUnion('type', [HttpSourceSchema]);
export { SinkSchema };
export const ConsumerSchema = z.discriminatedUnion('type', [
  BronzeWriterSchema,
  KafkaBronzeWriterSchema,
  HourlySchedulerSchema,
]);

export const StateSchema = z
  .discriminatedUnion('type', [
    z
      .strictObject({
        type: z.literal('file'),
        path: z.string().default('./data/state').describe('Directory of the local state files.'),
      })
      .describe('One JSON file per key in a local directory.'),
    z
      .strictObject({
        type: z.literal('dynamodb'),
        tableName: z
          .string()
          .min(3)
          .max(255)
          .describe('DynamoDB table: partition key `pk` (S), TTL on `expiresAt`.'),
        region: z.string().optional().describe('AWS region. @default AWS_REGION'),
      })
      .describe(
        'DynamoDB with conditional writes (AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL for emulators).',
      ),
  ])
  .default({ type: 'file', path: './data/state' })
  .describe('Where cursors, change-detection state and checkpoints live.');

export const ConfigSchema = z
  .strictObject({
    sources: z.array(SourceSchema).default([]).describe('APIs to poll (role `run`).'),
    sinks: z.array(SinkSchema).default([]).describe('Where polled records go (role `run`).'),
    consumers: z.array(ConsumerSchema).default([]).describe('Stream consumers (role `consume`).'),
    state: StateSchema,
    coordination: CoordinationSchema.default({
      enabled: false,
      leaseSecs: 10,
      heartbeatIntervalSecs: 3,
      group: 'sources',
    }),
    lake: LakeSchema.default({
      uri: 'file://./data/lake',
      database: 'lake',
      piiKeyEnv: 'INGEST_PII_KEY',
      entities: [],
    }),
    deadLetter: z
      .strictObject({
        uri: z
          .string()
          .default('file://./data/lake')
          .describe('Lake URI whose `dead-letter/` prefix receives undeliverable records.'),
      })
      .default({ uri: 'file://./data/lake' }),
    telemetry: z
      .strictObject({
        host: z.string().default('0.0.0.0').describe('Address the telemetry server binds.'),
        runPort: z.number().int().min(0).max(65535).default(9464).describe('`/metrics` port of role `run`.'),
        consumePort: z
          .number()
          .int()
          .min(0)
          .max(65535)
          .default(9465)
          .describe('`/metrics` port of role `consume`.'),
      })
      .default({ host: '0.0.0.0', runPort: 9464, consumePort: 9465 }),
    logging: z
      .strictObject({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
        redactFields: z.array(z.string()).default([]).describe('Extra field names to redact from logs.'),
      })
      .default({ level: 'info', redactFields: [] }),
    shutdownTimeoutSecs: z
      .number()
      .positive()
      .default(20)
      .describe('Time allowed to flush and checkpoint on SIGTERM (ECS stopTimeout defaults to 30 s).'),
  })
  .superRefine((cfg, ctx) => {
    const seen = new Set<string>();
    cfg.sources.forEach((s, i) => {
      if (seen.has(s.name))
        ctx.addIssue({
          code: 'custom',
          path: ['sources', i, 'name'],
          message: `duplicate source name "${s.name}"`,
        });
      seen.add(s.name);
      const sinkNames = cfg.sinks.map((k) => k.name);
      if (s.sink !== undefined && !sinkNames.includes(s.sink)) {
        ctx.addIssue({
          code: 'custom',
          path: ['sources', i, 'sink'],
          message: `no sink named "${s.sink}" (have: ${sinkNames.join(', ') || 'none'})`,
        });
      }
      if (s.sink === undefined && cfg.sinks.length > 1) {
        ctx.addIssue({
          code: 'custom',
          path: ['sources', i, 'sink'],
          message: 'several sinks are configured: name one',
        });
      }
    });
    cfg.lake.entities.forEach((e, i) => {
      const j = cfg.sources.findIndex((s) => s.name === e.source);
      const source = cfg.sources[j];
      if (source === undefined || e.timezone === undefined || e.timezone === source.timezone) return;
      ctx.addIssue({
        code: 'custom',
        path: ['lake', 'entities', i, 'timezone'],
        message: `"${e.timezone}" disagrees with "${source.timezone}", the timezone of source ${source.name} (sources[${j}].timezone): one source's zoneless times are read in one zone, in the envelope and in Spark; set it on the source only (the entity takes it) or make both equal`,
      });
    });
  })
  // An entity without its own timezone takes its source's, so Spark reads its zoneless times as the
  // envelope did (issue 11); the job defaults a missing one to UTC.
  .overwrite((cfg) => {
    for (const e of cfg.lake.entities) {
      const timezone = e.timezone ?? cfg.sources.find((s) => s.name === e.source)?.timezone;
      if (timezone !== undefined) e.timezone = timezone;
    }
    return cfg;
  });

export type Config = z.infer<typeof ConfigSchema>;
export type SourceConfig = z.infer<typeof SourceSchema>;
export type { SinkConfig } from '../producers/registry.js';
export type ConsumerConfig = z.infer<typeof ConsumerSchema>;
