/**
 * The lake's Iceberg tables, declared in the Glue Data Catalog (issue 11, ADR 0015): one
 * `AWS::Glue::Table` `silver_<entity>` per `lake.entities` entry of the deployed config
 * (`deploy/config/aws.yaml`), plus `silver_<entity>_history` when the entity keeps its versions, and
 * the gold `fact_order_lines`. Each silver table is created by CloudFormation with
 * `OpenTableFormatInput.IcebergInput` (`MetadataOperation: CREATE`, `Version: "2"`) and the
 * `IcebergTableInput` the `bronze_to_silver` job would otherwise create on its first run
 * (`ensure_table` in `src/glue/jobs/bronze_to_silver.py`):
 *
 * - columns, in order: `id string, source string, ingested_at timestamptz, event_time timestamptz`,
 *   the entity's columns (their Spark SQL type as the Iceberg type; PII columns `string`), then
 *   `dt string, hour string`; all optional (Spark's nullable columns);
 * - partition spec `bucket(16, <first key column>)` (`id` for the history table);
 * - properties `format-version=2`, merge-on-read for MERGE, UPDATE and DELETE;
 * - location `<lake>/iceberg/<database>.db/<table>`, where the Iceberg `GlueCatalog` of the jobs
 *   (warehouse `<lake>/iceberg`) would put it.
 *
 * The gold table is what `silver_to_gold` creates (`gold_table`): {@link GOLD_COLUMNS}, identity
 * partitions `year, month`, {@link GOLD_PROPERTIES}.
 *
 * The job finds the table (Iceberg's `GlueCatalog` lists tables whose `table_type` is `ICEBERG`),
 * skips its create and MERGEs into it. Only `IcebergTableInput` is given (no `TableInput` columns):
 * columns under `TableInput.StorageDescriptor` lose `table_type=ICEBERG` on the first stack update
 * (aws/aws-cdk#29660). CloudFormation creates the table once; later column changes in the config do
 * not alter an existing table (the job does not either: `ensure_table` keeps an existing schema).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as glue from 'aws-cdk-lib/aws-glue';
import { Construct } from 'constructs';
import { parse } from 'yaml';
import { z } from 'zod';
import { type EntityConfig, EntitySchema } from '../../src/glue/config.js';

/** The config file the ECS tasks run with whose `lake` the tables follow (the other deployed files share it). */
export const DEPLOYED_CONFIG = join('deploy', 'config', 'aws.yaml');

/** Buckets of the key partition, as `KEY_BUCKETS` in `bronze_to_silver.py`. */
export const KEY_BUCKETS = 16;

/** Iceberg table properties of silver, as `SILVER_PROPERTIES` in `bronze_to_silver.py`. */
export const SILVER_PROPERTIES: Readonly<Record<string, string>> = {
  'format-version': '2',
  'write.merge.mode': 'merge-on-read',
  'write.update.mode': 'merge-on-read',
  'write.delete.mode': 'merge-on-read',
};

/** Gold table of `silver_to_gold.py` (`GOLD_TABLE`, `GOLD_COLUMNS`, `PARTITION_COLUMNS`, `GOLD_PROPERTIES`). */
export const GOLD_TABLE = 'fact_order_lines';
export const GOLD_COLUMNS: [string, string][] = [
  ['cart_id', 'bigint'],
  ['user_id', 'bigint'],
  ['product_id', 'bigint'],
  ['quantity', 'bigint'],
  ['unit_price', 'double'],
  ['line_amount', 'double'],
  ['category', 'string'],
  ['product_title', 'string'],
  ['username', 'string'],
  ['order_date', 'date'],
  ['year', 'int'],
  ['month', 'int'],
];
export const GOLD_PROPERTIES: Readonly<Record<string, string>> = {
  'format-version': '2',
  'ingest.layer': 'gold',
};

/** Catalog name of an entity's current silver table (`lakelib.silver_table`). */
export function silverTable(entity: string): string {
  return `silver_${entity}`;
}

/** Envelope columns every silver table starts with, and the bronze-hour columns it ends with (Spark types). */
const META_COLUMNS: [string, string][] = [
  ['id', 'string'],
  ['source', 'string'],
  ['ingested_at', 'timestamp'],
  ['event_time', 'timestamp'],
];
const PARTITION_COLUMNS: [string, string][] = [
  ['dt', 'string'],
  ['hour', 'string'],
];

export class TableSchemaError extends Error {
  override readonly name = 'TableSchemaError';
}

/**
 * Reads `lake.entities` of a config file (YAML), validated with the config's own `EntitySchema`.
 * @throws TableSchemaError when the file has no `lake.entities` list or an entry is invalid.
 */
export function readLakeEntities(file: string): EntityConfig[] {
  const doc = parse(readFileSync(file, 'utf8')) as { lake?: { entities?: unknown } } | null;
  const parsed = z.array(EntitySchema).safeParse(doc?.lake?.entities ?? []);
  if (!parsed.success) {
    throw new TableSchemaError(`${file}: lake.entities: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

/** An Iceberg type: a primitive name or a nested type (JSON, as in Iceberg table metadata). */
export type IcebergType = string | Record<string, unknown>;

const PRIMITIVES: Record<string, string> = {
  string: 'string',
  varchar: 'string',
  char: 'string',
  bigint: 'long',
  long: 'long',
  int: 'int',
  integer: 'int',
  smallint: 'int',
  tinyint: 'int',
  double: 'double',
  float: 'float',
  real: 'float',
  boolean: 'boolean',
  date: 'date',
  binary: 'binary',
  // Spark's TimestampType (session-zone instant) is Iceberg's timestamptz.
  timestamp: 'timestamptz',
  timestamp_ntz: 'timestamp',
};

/** Splits `a:b, c:map<x,y>` on top-level commas. */
function splitTop(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '<' || c === '(') depth++;
    else if (c === '>' || c === ')') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(text.slice(start).trim());
  return parts;
}

/**
 * Converts a Spark SQL type (`bigint`, `decimal(10,2)`, `array<struct<productId:bigint>>`, ...) to an
 * Iceberg type, numbering nested fields with `nextId` (Iceberg ids are unique within a schema).
 * @throws TableSchemaError for a type Iceberg has no equivalent of.
 */
export function icebergType(sparkType: string, nextId: () => number): IcebergType {
  const t = sparkType.trim();
  const lower = t.toLowerCase();
  const inner = (prefix: string) => t.slice(prefix.length, -1);
  if (PRIMITIVES[lower]) return PRIMITIVES[lower];
  if (/^(varchar|char)\(\d+\)$/.test(lower)) return 'string';
  const dec = /^decimal\((\d+),\s*(\d+)\)$/.exec(lower);
  if (dec) return `decimal(${dec[1]}, ${dec[2]})`;
  if (lower.startsWith('array<') && lower.endsWith('>')) {
    const id = nextId();
    return {
      type: 'list',
      'element-id': id,
      element: icebergType(inner('array<'), nextId),
      'element-required': false,
    };
  }
  if (lower.startsWith('map<') && lower.endsWith('>')) {
    const [k, v] = splitTop(inner('map<'));
    if (!k || !v) throw new TableSchemaError(`unsupported Spark type ${sparkType}`);
    const keyId = nextId();
    const valueId = nextId();
    return {
      type: 'map',
      'key-id': keyId,
      key: icebergType(k, nextId),
      'value-id': valueId,
      value: icebergType(v, nextId),
      'value-required': false,
    };
  }
  if (lower.startsWith('struct<') && lower.endsWith('>')) {
    const members = splitTop(inner('struct<')).map((m) => {
      const colon = m.indexOf(':');
      if (colon < 1) throw new TableSchemaError(`unsupported Spark type ${sparkType}`);
      return [m.slice(0, colon).trim().replace(/^`|`$/g, ''), m.slice(colon + 1)] as const;
    });
    const ids = members.map(() => nextId());
    return {
      type: 'struct',
      fields: members.map(([name, type], i) => ({
        id: ids[i],
        name,
        required: false,
        type: icebergType(type, nextId),
      })),
    };
  }
  throw new TableSchemaError(`unsupported Spark type ${sparkType}`);
}

/** The Spark columns (name, type) of an entity's silver table, in the job's order. */
export function silverColumns(entity: EntityConfig): [string, string][] {
  return [
    ...META_COLUMNS,
    ...entity.columns.map((c): [string, string] => [c.name, c.pii ? 'string' : c.type]),
    ...PARTITION_COLUMNS,
  ];
}

/** One partition field: `bucket[N]` or `identity` of a column. */
export interface PartitionField {
  readonly column: string;
  readonly transform: string;
}

/** The silver partition spec: `bucket(16, column)`. */
export const bucketBy = (column: string): PartitionField[] => [
  { column, transform: `bucket[${KEY_BUCKETS}]` },
];

/**
 * The `IcebergTableInput` of a table: top-level fields numbered 1..N (as Spark's CREATE TABLE does),
 * nested fields after them; nested types as their Iceberg JSON text (the CloudFormation property is a
 * string). Partition fields are named as Spark names them (`<column>_bucket`, `<column>`).
 * @throws TableSchemaError when a partition column is not a column.
 */
export function icebergTableInput(
  location: string,
  columns: [string, string][],
  partitions: readonly PartitionField[],
  properties: Readonly<Record<string, string>> = SILVER_PROPERTIES,
): glue.CfnTable.IcebergTableInputProperty {
  let next = columns.length;
  const nextId = () => ++next;
  const fields = columns.map(([name, type], i) => {
    const t = icebergType(type, nextId);
    return { id: i + 1, name, required: false, type: typeof t === 'string' ? t : JSON.stringify(t) };
  });
  const specFields = partitions.map((p, i) => {
    const source = fields.find((f) => f.name === p.column);
    if (!source) throw new TableSchemaError(`partition column ${p.column} is not a column`);
    const name = p.transform === 'identity' ? p.column : `${p.column}_${p.transform.replace(/\[.*$/, '')}`;
    return { fieldId: 1000 + i, name, sourceId: source.id, transform: p.transform };
  });
  return {
    location,
    schema: { type: 'struct', schemaId: 0, fields },
    partitionSpec: { specId: 0, fields: specFields },
    properties: { ...properties },
  };
}

export interface LakeTablesProps {
  readonly databaseName: string;
  /** The database resource (the tables depend on it). */
  readonly database: glue.CfnDatabase;
  /** `s3://<lake>/iceberg`: the jobs' Iceberg warehouse (no trailing `/`). */
  readonly warehouse: string;
  readonly entities: readonly EntityConfig[];
}

/** One Iceberg table per entity (and per entity history), and the gold table; see the module comment. */
export class LakeTables extends Construct {
  /** Table name to its resource, in config order. */
  readonly tables = new Map<string, glue.CfnTable>();

  constructor(scope: Construct, id: string, props: LakeTablesProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const table = (
      name: string,
      columns: [string, string][],
      partitions: PartitionField[],
      properties?: Readonly<Record<string, string>>,
    ) => {
      const cfn = new glue.CfnTable(this, name, {
        catalogId: stack.account,
        databaseName: props.databaseName,
        name,
        openTableFormatInput: {
          icebergInput: {
            metadataOperation: 'CREATE',
            version: '2',
            icebergTableInput: icebergTableInput(
              `${props.warehouse}/${props.databaseName}.db/${name}`,
              columns,
              partitions,
              properties,
            ),
          },
        },
      });
      // The table points at the data of every merge so far: keep it when the stack goes.
      cfn.applyRemovalPolicy(RemovalPolicy.RETAIN);
      cfn.node.addDependency(props.database);
      this.tables.set(name, cfn);
    };
    for (const entity of props.entities) {
      const columns = silverColumns(entity);
      const name = silverTable(entity.entity);
      table(name, columns, bucketBy(entity.key[0] ?? 'id'));
      if (entity.history) table(`${name}_history`, columns, bucketBy('id'));
    }
    table(
      GOLD_TABLE,
      GOLD_COLUMNS,
      ['year', 'month'].map((column) => ({ column, transform: 'identity' })),
      GOLD_PROPERTIES,
    );
  }
}
