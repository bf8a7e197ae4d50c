import { z } from 'zod';

/**
 * How bronze envelopes of one source become a typed silver table. Passed to the `bronze_to_silver`
 * job as JSON (`--entity_json`), so the job and the config share one definition.
 */
export const ColumnSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z_][a-z0-9_]*$/)
      .describe('Silver column name (snake_case).'),
    path: z.string().describe('Dot path in the envelope `payload`, e.g. `rating.rate`.'),
    type: z
      .string()
      .default('string')
      .describe(
        'Spark SQL type, e.g. `bigint`, `double`, `string`, `timestamp`, `array<struct<productId:bigint,quantity:bigint>>`.',
      ),
    pii: z
      .boolean()
      .default(false)
      .describe(
        'Hash this column with keyed SHA-256 (HMAC) in silver; the clear value never reaches silver.',
      ),
  })
  .describe('One typed silver column.');

export const EntitySchema = z
  .strictObject({
    source: z.string().describe('Source name (the bronze `source=` partition).'),
    entity: z
      .string()
      .regex(/^[a-z_][a-z0-9_]*$/)
      .describe('Silver table name, e.g. `carts`.'),
    columns: z.array(ColumnSchema).min(1).describe('Columns flattened from the payload.'),
    key: z
      .array(z.string().regex(/^[a-z_][a-z0-9_]*$/))
      .min(1)
      .default(['id'])
      .describe(
        'Silver columns identifying one upstream entity: `bronze_to_silver` `MERGE INTO`s the Iceberg table on them, so silver holds one current row per key (ADR 0016). Default `[id]`, the envelope id: one row per record version.',
      ),
    versionColumn: z
      .string()
      .regex(/^[a-z_][a-z0-9_]*$/)
      .optional()
      .describe(
        'Silver column ordering the versions of one key (e.g. `updated_at`): the greatest wins, then the latest `ingested_at`; a late older version never overwrites a newer one. Absent: the latest `ingested_at` wins.',
      ),
    timezone: z
      .string()
      .optional()
      .describe(
        "IANA time zone of zoneless timestamp texts in `timestamp` columns (no `Z`, no offset). One source's zoneless times are read in one zone, in the envelope's `event_time` and in Spark alike (issue 11): absent, the entity takes its source's `timezone` (UTC when the source is not in this file); a value that disagrees with the source's fails config loading. @default the source's `timezone`",
      ),
    history: z
      .boolean()
      .default(false)
      .describe(
        'Also keep every version in the Iceberg table `silver_<entity>_history` (one row per envelope `id`).',
      ),
  })
  .superRefine((e, ctx) => {
    const names = new Set(['id', 'source', 'ingested_at', 'event_time', ...e.columns.map((c) => c.name)]);
    for (const [i, k] of e.key.entries()) {
      if (!names.has(k))
        ctx.addIssue({ code: 'custom', path: ['key', i], message: `unknown silver column ${k}` });
      if (e.columns.some((c) => c.name === k && c.pii))
        ctx.addIssue({ code: 'custom', path: ['key', i], message: `key column ${k} is PII (hashed)` });
    }
    if (e.versionColumn !== undefined && !names.has(e.versionColumn)) {
      ctx.addIssue({
        code: 'custom',
        path: ['versionColumn'],
        message: `unknown silver column ${e.versionColumn}`,
      });
    }
  })
  .describe(
    'Mapping of one source to one silver Iceberg table (current state, one row per `key`). Every silver table also has `id`, `source`, `ingested_at`, `event_time`, `dt`, `hour` (the bronze hour of the current version).',
  );

export const LakeSchema = z
  .strictObject({
    uri: z
      .string()
      .default('file://./data/lake')
      .describe('Lake root holding `bronze/` and `iceberg/` (the silver and gold Iceberg tables, locally).'),
    database: z
      .string()
      .default('lake')
      .describe('Glue Data Catalog database of the silver and gold tables.'),
    piiKeyEnv: z
      .string()
      .default('INGEST_PII_KEY')
      .describe('Environment variable holding the key of the keyed SHA-256 used for PII columns.'),
    entities: z.array(EntitySchema).default([]).describe('Silver tables, one per source.'),
  })
  .describe('The lake: where the zones live and how bronze becomes silver.');

export type ColumnConfig = z.infer<typeof ColumnSchema>;
export type EntityConfig = z.infer<typeof EntitySchema>;
export type LakeConfig = z.infer<typeof LakeSchema>;
