/**
 * The silver Iceberg tables of the CDK app (deploy/cdk/tables.ts): one per `lake.entities` entry of
 * deploy/config/aws.yaml, with the schema, partition spec and properties `bronze_to_silver` uses.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as glue from 'aws-cdk-lib/aws-glue';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DEPLOYED_CONFIG,
  GOLD_COLUMNS,
  GOLD_PROPERTIES,
  icebergType,
  LakeTables,
  readLakeEntities,
  SILVER_PROPERTIES,
  TableSchemaError,
} from '../../deploy/cdk/tables.js';
import { EntitySchema } from '../../src/glue/config.js';
import { cleanupSynth, resourcesOfType, synth } from './synth.js';

afterAll(cleanupSynth);

const repoRoot = join(import.meta.dirname, '..', '..');
const entities = readLakeEntities(join(repoRoot, DEPLOYED_CONFIG));
const counter = (start = 0) => {
  let n = start;
  return () => ++n;
};

describe('silver Iceberg tables in the stack (default context)', () => {
  const s = synth();
  const tables = resourcesOfType(s, 'AWS::Glue::Table').map(([, r]) => r.Properties);
  const byName = new Map(tables.map((t) => [t.Name as string, t]));

  it('declares silver_<entity> per lake.entities entry of aws.yaml (and its history when kept), and gold', () => {
    expect(entities.length).toBeGreaterThan(0);
    const silver = entities.flatMap((e) =>
      e.history ? [`silver_${e.entity}`, `silver_${e.entity}_history`] : [`silver_${e.entity}`],
    );
    expect([...byName.keys()].sort()).toEqual([...silver, 'fact_order_lines'].sort());
  });

  it('declares gold fact_order_lines as silver_to_gold creates it: its columns, identity year/month', () => {
    const input = byName.get('fact_order_lines').OpenTableFormatInput.IcebergInput.IcebergTableInput;
    expect(input.Properties).toEqual(GOLD_PROPERTIES);
    expect(input.Schema.Fields.map((f: { Name: string }) => f.Name)).toEqual(GOLD_COLUMNS.map(([n]) => n));
    expect(input.Schema.Fields.at(-3).Type).toBe('date');
    expect(input.PartitionSpec).toEqual({
      SpecId: 0,
      Fields: [
        { FieldId: 1000, Name: 'year', SourceId: 11, Transform: 'identity' },
        { FieldId: 1001, Name: 'month', SourceId: 12, Transform: 'identity' },
      ],
    });
  });

  it('merges on the same key and version column, and keeps the same histories, in AWS as locally (config/local.yaml)', () => {
    const local = readLakeEntities(join(repoRoot, 'config', 'local.yaml'));
    const pick = (es: typeof entities) =>
      Object.fromEntries(
        es.map((e) => [e.entity, { key: e.key, versionColumn: e.versionColumn, history: e.history }]),
      );
    expect(pick(entities)).toEqual(pick(local));
    expect(entities.every((e) => e.key[0] !== 'id')).toBe(true);
  });

  it('creates each as Iceberg v2 in the lake database, under the jobs warehouse, retained on delete', () => {
    for (const [id, r] of resourcesOfType(s, 'AWS::Glue::Table')) {
      const p = r.Properties;
      expect(p.DatabaseName).toBe('lake');
      expect(p.OpenTableFormatInput.IcebergInput.IcebergTableInput.Properties['format-version']).toBe('2');
      expect(p.TableInput).toBeUndefined();
      expect(p.OpenTableFormatInput.IcebergInput).toMatchObject({
        MetadataOperation: 'CREATE',
        Version: '2',
      });
      const input = p.OpenTableFormatInput.IcebergInput.IcebergTableInput;
      if (p.Name !== 'fact_order_lines') expect(input.Properties).toEqual(SILVER_PROPERTIES);
      expect(input.Location['Fn::Join'][1].at(-1)).toBe(`/iceberg/lake.db/${p.Name}`);
      const json = s.json.Resources[id] as unknown as { DeletionPolicy: string; DependsOn: string[] };
      expect(json.DeletionPolicy).toBe('Retain');
      expect(json.DependsOn.some((d) => d.startsWith('CatalogDatabase'))).toBe(true);
    }
  });

  it('has the columns bronze_to_silver writes, in its order, and bucket(16, key) as partition spec', () => {
    for (const e of entities) {
      const input = byName.get(`silver_${e.entity}`).OpenTableFormatInput.IcebergInput.IcebergTableInput;
      const fields = input.Schema.Fields as { Id: number; Name: string; Type: string; Required: boolean }[];
      expect(fields.map((f) => f.Name)).toEqual([
        'id',
        'source',
        'ingested_at',
        'event_time',
        ...e.columns.map((c) => c.name),
        'dt',
        'hour',
      ]);
      expect(fields.map((f) => f.Id)).toEqual(fields.map((_, i) => i + 1));
      expect(fields.every((f) => f.Required === false)).toBe(true);
      expect(fields.slice(0, 4).map((f) => f.Type)).toEqual([
        'string',
        'string',
        'timestamptz',
        'timestamptz',
      ]);
      const key = fields.find((f) => f.Name === e.key[0]);
      expect(input.PartitionSpec).toEqual({
        SpecId: 0,
        Fields: [{ FieldId: 1000, Name: `${e.key[0]}_bucket`, SourceId: key?.Id, Transform: 'bucket[16]' }],
      });
    }
    const users =
      byName.get('silver_users').OpenTableFormatInput.IcebergInput.IcebergTableInput.Schema.Fields;
    expect(users.find((f: { Name: string }) => f.Name === 'email').Type).toBe('string');
    const products =
      byName.get('silver_products').OpenTableFormatInput.IcebergInput.IcebergTableInput.Schema.Fields;
    expect(products.find((f: { Name: string }) => f.Name === 'price').Type).toBe('double');
    expect(products.find((f: { Name: string }) => f.Name === 'product_id').Type).toBe('long');
  });
});

describe('LakeTables', () => {
  it('adds silver_<entity>_history bucketed on id, and partitions the entity on its first key column', () => {
    const stack = new Stack(new App(), 'T');
    const database = new glue.CfnDatabase(stack, 'Db', { catalogId: '1', databaseInput: { name: 'lake' } });
    const entity = EntitySchema.parse({
      source: 's',
      entity: 'things',
      columns: [
        { name: 'thing_id', path: 'id', type: 'bigint' },
        { name: 'updated_at', path: 'updated', type: 'timestamp' },
      ],
      key: ['thing_id'],
      versionColumn: 'updated_at',
      history: true,
    });
    new LakeTables(stack, 'T', {
      databaseName: 'lake',
      database,
      warehouse: 's3://b/iceberg',
      entities: [entity],
    });
    const t = Template.fromStack(stack);
    t.resourceCountIs('AWS::Glue::Table', 3);
    const spec = (name: string, column: string, sourceId: number) =>
      t.hasResourceProperties('AWS::Glue::Table', {
        Name: name,
        OpenTableFormatInput: {
          IcebergInput: {
            IcebergTableInput: {
              Location: `s3://b/iceberg/lake.db/${name}`,
              PartitionSpec: {
                Fields: [{ Name: `${column}_bucket`, SourceId: sourceId, Transform: 'bucket[16]' }],
              },
            },
          },
        },
      });
    spec('silver_things', 'thing_id', 5);
    spec('silver_things_history', 'id', 1);
  });
});

describe('readLakeEntities', () => {
  it('reads lake.entities with the config schema (defaults applied) and names the file of a bad entry', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ingest-tables-'));
    try {
      const good = join(dir, 'good.yaml');
      writeFileSync(
        good,
        'lake:\n  entities:\n    - { source: s, entity: e, columns: [{ name: c, path: c }] }\n',
      );
      expect(readLakeEntities(good)).toMatchObject([{ entity: 'e', key: ['id'], history: false }]);
      const none = join(dir, 'none.yaml');
      writeFileSync(none, 'state: { type: memory }\n');
      expect(readLakeEntities(none)).toEqual([]);
      const bad = join(dir, 'bad.yaml');
      writeFileSync(bad, 'lake:\n  entities:\n    - { source: s, entity: e, columns: [] }\n');
      expect(() => readLakeEntities(bad)).toThrow(TableSchemaError);
      expect(() => readLakeEntities(bad)).toThrow(/bad\.yaml: lake\.entities/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('icebergType (Spark SQL type -> Iceberg type)', () => {
  it('maps primitives as Spark does (timestamp is an instant: timestamptz)', () => {
    const next = counter();
    expect(
      ['bigint', 'int', 'double', 'string', 'boolean', 'date', 'timestamp', 'timestamp_ntz'].map((t) =>
        icebergType(t, next),
      ),
    ).toEqual(['long', 'int', 'double', 'string', 'boolean', 'date', 'timestamptz', 'timestamp']);
    expect(icebergType('decimal(10,2)', next)).toBe('decimal(10, 2)');
  });

  it('numbers nested fields as Iceberg assigns fresh ids (element, then its struct members)', () => {
    expect(icebergType('array<struct<productId:bigint,quantity:bigint>>', counter(10))).toEqual({
      type: 'list',
      'element-id': 11,
      element: {
        type: 'struct',
        fields: [
          { id: 12, name: 'productId', required: false, type: 'long' },
          { id: 13, name: 'quantity', required: false, type: 'long' },
        ],
      },
      'element-required': false,
    });
    expect(icebergType('map<string,array<double>>', counter())).toEqual({
      type: 'map',
      'key-id': 1,
      key: 'string',
      'value-id': 2,
      value: { type: 'list', 'element-id': 3, element: 'double', 'element-required': false },
      'value-required': false,
    });
  });

  it('rejects a type Iceberg has no equivalent of', () => {
    expect(() => icebergType('interval day', counter())).toThrow(TableSchemaError);
  });
});
