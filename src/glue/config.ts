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
  })
  .describe(
    'Mapping of one source to one silver table. Every silver table also has `id`, `source`, `ingested_at`, `event_time`, `dt`, `hour`.',
  );

export const LakeSchema = z
  .strictObject({
    uri: z
      .string()
      .default('file://./data/lake')
      .describe('Lake root holding `bronze/`, `silver/`, `gold/`.'),
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
