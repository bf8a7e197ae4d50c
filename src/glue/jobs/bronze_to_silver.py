"""Glue job ``bronze_to_silver``: bronze gzip NDJSON envelopes of one source → typed, deduplicated,
PII-hashed current state in the entity's Iceberg table ``silver_<entity>`` (ADRs 15, 16, 18).

Arguments (Glue job parameters, ``--name value``)
-------------------------------------------------
``--JOB_NAME``            Passed by Glue; locally defaults to the script name.
``--source``              Source name, the bronze ``source=`` partition, e.g. ``fakestore.users``.
                          Must equal ``source`` in ``--entity_json``.
``--hours``               Comma list of UTC hours ``YYYY-MM-DDTHH`` (bronze ``dt``/``hour``
                          partitions), e.g. ``2026-11-25T06,2026-11-25T07``. Hours without bronze
                          objects are skipped (listed as ``hours_missing`` in the summary).
``--lake_uri``            Lake root: ``s3://bucket/prefix`` or ``file:///abs/path`` (see
                          :func:`lakelib.normalize_lake_uri`).
``--entity_json``         The ``EntitySchema`` of the source as JSON (``src/glue/config.ts``):
                          ``{"source", "entity", "columns": [{"name", "path", "type"?, "pii"?}],
                          "key"?, "versionColumn"?, "history"?, "timezone"?}``; ``type`` defaults
                          to ``string``, ``pii`` to ``false``, ``key`` to ``["id"]``, ``history``
                          to ``false``, ``timezone`` to ``UTC``.
``--pii_key_env``         Optional, default ``INGEST_PII_KEY``: name of the environment variable
                          holding the HMAC key (UTF-8 text).
``--pii_key_secret_id``   Optional: a Secrets Manager secret id/ARN whose ``SecretString`` is the key
                          (read with boto3; takes precedence over ``--pii_key_env``).

The key is only required when the entity has PII columns; it is then required: a missing or empty
key fails the run before Spark starts (:class:`PiiKeyError`).

Input
-----
``<lake>/bronze/source=<source>/dt=YYYY-MM-DD/hour=HH/*.json.gz``; one envelope per line:
``{source, id, ingested_at, event_time?, cursor?, payload}``. Only ``*.json.gz`` files are read (a
writer's in-flight ``.tmp`` file is ignored). A line that is not JSON, lacks ``id`` or a parseable
``ingested_at``, or names another source is counted as ``rows_invalid`` and skipped (the bronze writer
already dead-letters such records, so none are expected).

Output: silver
--------------
The Iceberg table ``silver_<entity>`` (database ``lake``; locally a Hadoop catalog at
``<lake>/iceberg/``, in AWS the Glue Data Catalog), format v2, merge-on-read, partitioned by
``bucket(16, <first key column>)``, with columns, in order:

- ``id string`` (envelope id), ``source string``,
- ``ingested_at timestamp``, ``event_time timestamp`` (null when the envelope has none),
- one column per mapping entry, of its Spark SQL ``type`` (PII columns: ``string``, 64 hex chars),
- ``dt string`` and ``hour string`` (two digits): the bronze hour the row was read from.

With ``history: true`` the table ``silver_<entity>_history`` (same columns, bucketed by ``id``) also
keeps every version, one row per envelope ``id``.

Typing: each column is read from the payload by its dot path (``rating.rate``; an all-digit segment
indexes an array) and cast to its type with ``try_cast`` (primitive types; an integer given for a
``timestamp`` is epoch milliseconds, as in the envelope) or ``from_json`` (``array<...>``,
``struct<...>``, ``map<...>``). A value that cannot be cast becomes null: a bad record never fails
the job.

PII: the column's raw JSON value as text (a string without quotes; a number as written; an object or
array as JSON) is replaced by ``hex(HMAC-SHA256(key, utf8(text)))``, computed in Spark SQL (no Python
UDF); null stays null. The clear value is never written.

Current state (one row per key, latest version wins)
----------------------------------------------------
A run:

1. reads the requested hours and keeps, per key, the newest copy (``versionColumn`` first, nulls
   last, then ``ingested_at``, then the later partition and object name), counting the rest as
   ``duplicates_in_input``;
2. stages those rows in a temporary Iceberg table bucketed like silver and ``MERGE INTO``s silver on
   the key as a storage-partitioned hash join (silver is not shuffled; ADR 18): an unknown key is
   inserted; a known key is replaced only when the new row is strictly newer
   (:func:`newer_condition`), so a late older version never overwrites a newer one;
3. commits atomically (one Iceberg snapshot) and drops the staging table.

So re-running an hour or replaying bronze changes nothing, overlapping hour sets converge, and the
result does not depend on the order hours are processed in. Silver must not be written by two runs
of one entity at once: Glue's ``MaxConcurrentRuns`` (default 1) guarantees it per job; Iceberg's
optimistic commit fails the second writer rather than losing a row.

Job bookmarks are not used: the scheduler names the hours, and bookmarks would make a re-run of an
hour skip its objects. They remain harmless if enabled, because the MERGE keeps silver's rows.

Summary: one JSON line on stdout, e.g.
``{"job": "bronze_to_silver", "rows_read": 37, "rows_invalid": 0, "duplicates_in_input": 0,
"rows_merged": 37, "rows_inserted": 37, "rows_updated": 0, "history_rows_inserted": 0, ...}``.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from dataclasses import dataclass
from typing import Any, Sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lakelib  # noqa: E402
from lakelib import JobArgumentError  # noqa: E402

#: Columns every silver table has besides the mapping's, in order (partition columns last).
META_COLUMNS = ("id", "source", "ingested_at", "event_time")
PARTITION_COLUMNS = ("dt", "hour")
RESERVED = set(META_COLUMNS) | set(PARTITION_COLUMNS)

_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
_COMPLEX_RE = re.compile(r"^\s*(array|struct|map)\s*<", re.IGNORECASE)


class PiiKeyError(RuntimeError):
    """The HMAC key of PII columns is missing or empty."""


@dataclass(frozen=True)
class Column:
    """One silver column of the mapping (``ColumnSchema`` in ``src/glue/config.ts``)."""

    name: str
    path: str
    type: str = "string"
    pii: bool = False


@dataclass(frozen=True)
class Entity:
    """A source's silver mapping (``EntitySchema`` in ``src/glue/config.ts``)."""

    source: str
    entity: str
    columns: tuple[Column, ...]
    #: Silver columns that identify one upstream entity (``id``, the envelope id, when not configured).
    key: tuple[str, ...] = ("id",)
    #: Silver column ordering versions of one key (greater wins; then ``ingested_at``); none: only
    #: ``ingested_at``.
    version_column: str | None = None
    #: Whether ``<entity>_history`` keeps every version (one row per envelope ``id``).
    history: bool = False
    #: IANA zone of zoneless timestamp texts (``2024-03-01T10:15:00``); the envelope's rule.
    timezone: str = "UTC"

    @property
    def pii_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.pii]


def parse_entity(entity_json: str) -> Entity:
    """Parses and checks ``--entity_json``.

    Raises:
        JobArgumentError: not JSON, or a field breaks the ``EntitySchema`` rules (entity and column
            names snake_case, at least one column, non-empty paths, unique names, none of the
            reserved names ``id, source, ingested_at, event_time, dt, hour``).
    """
    try:
        raw = json.loads(entity_json)
    except (TypeError, json.JSONDecodeError) as err:
        raise JobArgumentError(f"--entity_json is not JSON: {err}") from err
    if not isinstance(raw, dict):
        raise JobArgumentError("--entity_json must be an object")
    source, entity, columns = raw.get("source"), raw.get("entity"), raw.get("columns")
    if not isinstance(source, str) or not source:
        raise JobArgumentError("--entity_json: 'source' must be a non-empty string")
    if not isinstance(entity, str) or not _NAME_RE.match(entity):
        raise JobArgumentError(f"--entity_json: 'entity' must match {_NAME_RE.pattern}")
    if not isinstance(columns, list) or not columns:
        raise JobArgumentError("--entity_json: 'columns' must be a non-empty list")
    out: list[Column] = []
    for i, c in enumerate(columns):
        if not isinstance(c, dict):
            raise JobArgumentError(f"--entity_json: columns[{i}] must be an object")
        name, path = c.get("name"), c.get("path")
        ctype, pii = c.get("type", "string"), c.get("pii", False)
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise JobArgumentError(f"--entity_json: columns[{i}].name must match {_NAME_RE.pattern}")
        if name in RESERVED:
            raise JobArgumentError(f"--entity_json: column name {name!r} is reserved")
        if not isinstance(path, str) or not path or "'" in path:
            raise JobArgumentError(f"--entity_json: columns[{i}].path must be a non-empty dot path")
        if not isinstance(ctype, str) or not ctype.strip():
            raise JobArgumentError(f"--entity_json: columns[{i}].type must be a Spark SQL type")
        if not isinstance(pii, bool):
            raise JobArgumentError(f"--entity_json: columns[{i}].pii must be a boolean")
        out.append(Column(name=name, path=path, type=ctype.strip(), pii=pii))
    names = [c.name for c in out]
    if len(set(names)) != len(names):
        raise JobArgumentError("--entity_json: column names must be unique")
    key = raw.get("key") or ["id"]
    version = raw.get("versionColumn")
    known = set(names) | set(META_COLUMNS)
    if not isinstance(key, list) or not all(isinstance(k, str) and k in known for k in key):
        raise JobArgumentError(f"--entity_json: 'key' must list silver columns ({sorted(known)})")
    if version is not None and (not isinstance(version, str) or version not in known):
        raise JobArgumentError(f"--entity_json: 'versionColumn' must be a silver column, got {version!r}")
    pii_key = [k for k in key if k in {c.name for c in out if c.pii}]
    if pii_key:
        raise JobArgumentError(f"--entity_json: key column(s) {pii_key} are PII")
    return Entity(
        source=source,
        entity=entity,
        columns=tuple(out),
        key=tuple(key),
        version_column=version,
        history=bool(raw.get("history", False)),
        timezone=str(raw.get("timezone") or "UTC"),
    )


def resolve_pii_key(
    entity: Entity, key_env: str | None, secret_id: str | None = None, environ: Any = None
) -> bytes | None:
    """Returns the HMAC key as UTF-8 bytes, or ``None`` when the entity has no PII column.

    ``secret_id`` (Secrets Manager, ``SecretString``) takes precedence over the environment
    variable ``key_env``.

    Raises:
        PiiKeyError: the entity has PII columns and the key is missing or empty.
    """
    if not entity.pii_columns:
        return None
    environ = os.environ if environ is None else environ
    cols = ", ".join(entity.pii_columns)
    if secret_id:
        import boto3  # only needed in AWS

        value = boto3.client("secretsmanager").get_secret_value(SecretId=secret_id).get("SecretString")
        if not value:
            raise PiiKeyError(
                f"PII key missing: secret {secret_id} has no SecretString "
                f"(entity {entity.entity} hashes {cols})"
            )
        return value.encode("utf-8")
    name = key_env or "INGEST_PII_KEY"
    value = environ.get(name, "")
    if not value:
        raise PiiKeyError(
            f"PII key missing: environment variable {name} is not set or empty "
            f"(entity {entity.entity} hashes {cols}); set it or pass --pii_key_secret_id"
        )
    return value.encode("utf-8")


# ---------------------------------------------------------------------------------------------------
# Transformations
# ---------------------------------------------------------------------------------------------------


def json_path(dot_path: str) -> str:
    """Dot path → Spark JSONPath: ``rating.rate`` → ``$['rating']['rate']``, ``items.0.id`` →
    ``$['items'][0]['id']``."""
    parts = []
    for seg in dot_path.split("."):
        parts.append(f"[{seg}]" if seg.isdigit() else f"['{seg}']")
    return "$" + "".join(parts)


def hmac_sha256_hex(col: Any, key: bytes) -> Any:
    """Spark column of ``hex(HMAC-SHA256(key, utf8(col)))`` (RFC 2104), lower case; null → null.

    Built from ``sha2`` over binary concatenations, so it runs in the JVM without a Python UDF:
    ``H((K ^ opad) || H((K ^ ipad) || m))`` with ``K`` padded (or first hashed) to 64 bytes.
    """
    import hashlib

    from pyspark.sql import functions as F

    block = 64
    k = hashlib.sha256(key).digest() if len(key) > block else key
    k = k.ljust(block, b"\x00")
    ipad = bytearray(b ^ 0x36 for b in k)
    opad = bytearray(b ^ 0x5C for b in k)
    inner = F.unhex(F.sha2(F.concat(F.lit(ipad), F.encode(col, "UTF-8")), 256))
    return F.when(col.isNull(), F.lit(None).cast("string")).otherwise(
        F.sha2(F.concat(F.lit(opad), inner), 256)
    )


#: A zoneless ISO date or date-time (no ``Z``, no offset): read in the entity's ``timezone``.
ZONELESS_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,9})?)?)?$"


def typed_expr(raw_name: str, spark_type: str, timezone: str = "UTC") -> Any:
    """Casts the raw JSON text column ``raw_name`` (from ``get_json_object``) to a Spark SQL type.

    - ``string``: the text as is;
    - ``array<...>``, ``struct<...>``, ``map<...>``: ``from_json`` (malformed parts become null);
    - ``timestamp``: an integer is epoch milliseconds (as the envelope's ``toIsoTime``), anything else
      ``try_cast`` (ISO-8601 with ``Z`` or an offset; zoneless: UTC, or the entity's ``timezone``, like ``toIsoTime`` in ``src/envelope.ts``);
    - any other type: ``try_cast`` (Spark SQL since 3.2: null instead of an error, even with
      ``spark.sql.ansi.enabled=true``).
    """
    from pyspark.sql import functions as F

    t = spark_type.strip()
    ref = f"`{raw_name}`"
    if _COMPLEX_RE.match(t):
        return F.from_json(F.col(raw_name), t)
    if t.lower() == "string":
        return F.col(raw_name)
    if t.lower() == "timestamp":
        zoned = ""
        if timezone != "UTC":
            tz = timezone.replace("'", "")
            zoned = f"WHEN {ref} RLIKE '{ZONELESS_RE}' THEN to_utc_timestamp(try_cast({ref} AS TIMESTAMP), '{tz}') "
        return F.expr(
            f"CASE WHEN {ref} RLIKE '^-?[0-9]{{1,16}}$' THEN timestamp_millis(CAST({ref} AS BIGINT)) "
            f"{zoned}ELSE try_cast({ref} AS TIMESTAMP) END"
        )
    return F.expr(f"try_cast({ref} AS {t})")


#: Envelope fields as parsed from one bronze line; ``payload`` stays raw JSON text (Spark keeps a
#: nested object or array as its JSON text when the schema says ``string``).
ENVELOPE_DDL = (
    "source STRING, id STRING, ingested_at STRING, event_time STRING, cursor STRING, payload STRING"
)


def bronze_hour_paths(lake_uri: str, source: str, hours: Sequence[tuple[str, str]]) -> list[str]:
    """``<lake>/bronze/source=<source>/dt=<dt>/hour=<hour>`` for each ``(dt, hour)``."""
    return [
        lakelib.lake_path(lake_uri, "bronze", f"source={source}", f"dt={dt}", f"hour={hour}")
        for dt, hour in hours
    ]


def silver_root(lake_uri: str, entity: str) -> str:
    """``<lake>/silver/<entity>``."""
    return lakelib.lake_path(lake_uri, "silver", entity)


def read_bronze_lines(spark: Any, paths: Sequence[str]) -> Any:
    """Reads the ``*.json.gz`` objects under existing hour folders as text lines.

    Returns a DataFrame ``value string, dt string, hour string, object string`` where ``dt``/``hour``
    come from the object's bronze partition and ``object`` is its full path. Missing folders must be
    filtered out by the caller (Spark fails on a missing path).
    """
    from pyspark.sql import functions as F

    if not paths:
        return spark.createDataFrame([], "value string, dt string, hour string, object string")
    df = spark.read.option("pathGlobFilter", "*.json.gz").text(list(paths))
    obj = F.input_file_name()
    return df.select(
        "value",
        F.regexp_extract(obj, r"/dt=([^/]+)/", 1).alias("dt"),
        F.regexp_extract(obj, r"/hour=([^/]+)/", 1).alias("hour"),
        obj.alias("object"),
    )


def parse_envelopes(lines: Any, source: str) -> Any:
    """Parses bronze lines into envelope columns plus a validity flag.

    Returns ``source, id, ingested_at timestamp, event_time timestamp, payload string (raw JSON), dt,
    hour, object, valid boolean``. ``valid`` is false for a line that is not a JSON object, has no
    non-empty ``id``, no parseable ``ingested_at``, or a ``source`` other than ``source``.
    """
    from pyspark.sql import functions as F

    env = F.from_json(F.col("value"), ENVELOPE_DDL)
    df = lines.select(env.alias("e"), "dt", "hour", "object").select(
        F.col("e.source").alias("source"),
        F.col("e.id").alias("id"),
        F.expr("try_cast(e.ingested_at AS TIMESTAMP)").alias("ingested_at"),
        F.expr("try_cast(e.event_time AS TIMESTAMP)").alias("event_time"),
        F.col("e.payload").alias("payload"),
        "dt",
        "hour",
        "object",
    )
    valid = (
        F.col("id").isNotNull()
        & (F.length("id") > 0)
        & F.col("ingested_at").isNotNull()
        & (F.col("source") == F.lit(source))
    )
    return df.withColumn("valid", F.coalesce(valid, F.lit(False)))


def flatten(envelopes: Any, entity: Entity, pii_key: bytes | None) -> Any:
    """Envelopes → silver rows (``META_COLUMNS``, the mapping's columns, ``dt``, ``hour``) plus the
    tie-breaker column ``object``.

    Raises:
        PiiKeyError: the entity has PII columns and ``pii_key`` is ``None`` or empty.
    """
    from pyspark.sql import functions as F

    if entity.pii_columns and not pii_key:
        raise PiiKeyError(f"PII key missing for entity {entity.entity}")
    raw = envelopes.select(
        *META_COLUMNS,
        *PARTITION_COLUMNS,
        "object",
        *(
            F.get_json_object("payload", json_path(c.path)).alias(f"__raw_{i}")
            for i, c in enumerate(entity.columns)
        ),
    )
    cols = []
    for i, c in enumerate(entity.columns):
        rawname = f"__raw_{i}"
        if c.pii:
            assert pii_key is not None
            cols.append(hmac_sha256_hex(F.col(rawname), pii_key).alias(c.name))
        else:
            cols.append(typed_expr(rawname, c.type, entity.timezone).alias(c.name))
    return raw.select(*META_COLUMNS, *cols, *PARTITION_COLUMNS, "object")


def _version_order(entity: Entity) -> list[Any]:
    """Newest first: the version column (nulls last), then ``ingested_at``, then the bronze partition,
    object name and envelope id (so the choice among equal copies is deterministic)."""
    from pyspark.sql import functions as F

    order = [F.col(entity.version_column).desc_nulls_last()] if entity.version_column else []
    return order + [F.col(c).desc() for c in ("ingested_at", "dt", "hour", "object", "id")]


def dedup_input(rows: Any, entity: Entity | None = None, by: Sequence[str] | None = None) -> Any:
    """Keeps the latest copy per key (``by``, default the entity key) and drops ``object``."""
    from pyspark.sql import functions as F

    keys = list(by or (entity.key if entity else ("id",)))
    order = _version_order(entity) if entity else [F.col(c).desc() for c in ("ingested_at", "dt", "hour", "object")]
    return lakelib.latest_per_key(rows, keys, order).drop("object")


def newer_condition(entity: Entity, s: str = "s", t: str = "t") -> str:
    """SQL: the source row ``s`` is a later version than the target row ``t`` (ADR 0016).

    Greater version wins; a version beats no version; equal (or no) versions: later ``ingested_at``.
    Strict comparisons, so re-merging the same row changes nothing.
    """
    later = f"{s}.ingested_at > {t}.ingested_at"
    v = entity.version_column
    if not v:
        return later
    sv, tv = f"{s}.`{v}`", f"{t}.`{v}`"
    return (
        f"({sv} > {tv}) OR ({tv} IS NULL AND {sv} IS NOT NULL) "
        f"OR (({sv} <=> {tv}) AND {later})"
    )


#: Buckets of the silver key: a MERGE rewrites (or, merge-on-read, adds delete files to) only the
#: buckets of the keys it touches, and a key's lookup reads one bucket's files.
KEY_BUCKETS = 16

#: Iceberg table properties of silver (ADR 0015): format v2 with merge-on-read, so a MERGE writes the
#: new rows plus position deletes instead of rewriting every data file that holds a changed key.
SILVER_PROPERTIES = {
    "format-version": "2",
    "write.merge.mode": "merge-on-read",
    "write.update.mode": "merge-on-read",
    "write.delete.mode": "merge-on-read",
}


#: Session settings of a silver MERGE (ADR 0018), set around the statement on the job's own session, so
#: they hold in Glue and locally alike: a *storage-partitioned join*. The hour's rows are staged in an
#: Iceberg table bucketed like the target (:func:`merge_into`); with these settings both scans report
#: their ``bucket(KEY_BUCKETS, key)`` grouping (``preserve-data-grouping``) and Spark joins bucket with
#: bucket, without shuffling the target (before: every target row, with its ``_file`` path, went through
#: a shuffle; 10M rows cost minutes). ``pushPartValues`` lets a bucket present on one side only still
#: match; ``requireAllClusterKeysForCoPartition=false`` accepts the grouping by a transform of the join
#: key. ``preferSortMergeJoin=false`` lets Spark hash the (small) source bucket instead of sorting the
#: target bucket; it keeps the sort-merge join when the source is not small. Spark 3.5 SQL conf
#: ``spark.sql.sources.v2.bucketing.*``; Iceberg "Spark configuration",
#: ``spark.sql.iceberg.planning.preserve-data-grouping``.
MERGE_CONF: dict[str, str] = {
    "spark.sql.sources.v2.bucketing.enabled": "true",
    "spark.sql.sources.v2.bucketing.pushPartValues.enabled": "true",
    "spark.sql.requireAllClusterKeysForCoPartition": "false",
    "spark.sql.iceberg.planning.preserve-data-grouping": "true",
    "spark.sql.join.preferSortMergeJoin": "false",
}


def stage_table(ident: str) -> str:
    """The Iceberg table holding a MERGE's source rows while it runs: ``<ident>__merge_source``."""
    return f"{ident}__merge_source"


def stage_source(spark: Any, ident: str, new: Any, on: Sequence[str]) -> str:
    """Writes ``new`` to :func:`stage_table` of ``ident``, partitioned by ``bucket(KEY_BUCKETS, on[0])``
    like silver (:func:`lakelib.ensure_table`), and returns its identifier. A stage table left by a run
    that died mid-way is dropped first."""
    stage = stage_table(ident)
    spark.sql(f"DROP TABLE IF EXISTS {stage} PURGE")
    lakelib.ensure_table(spark, stage, new, f"bucket({KEY_BUCKETS}, `{on[0]}`)", SILVER_PROPERTIES)
    new.writeTo(stage).append()
    return stage


def merge_statement(ident: str, source: str, on: Sequence[str], when_matched: str | None) -> str:
    """The ``MERGE INTO ident t USING source s`` statement of :func:`merge_into`."""
    cond = " AND ".join(f"t.`{k}` = s.`{k}`" for k in on)
    matched = f"WHEN MATCHED AND ({when_matched}) THEN UPDATE SET * " if when_matched else ""
    return f"MERGE INTO {ident} t USING {source} s ON {cond} {matched}WHEN NOT MATCHED THEN INSERT *"


def merge_into(spark: Any, ident: str, new: Any, on: Sequence[str], when_matched: str | None) -> dict[str, int]:
    """``MERGE INTO ident t USING new s ON <key equal>``: insert unknown keys and, when
    ``when_matched`` (SQL over ``s``/``t``) holds, replace the row. One atomic Iceberg commit.

    ``new`` is first staged (:func:`stage_source`) bucketed like the target, and the MERGE runs under
    :data:`MERGE_CONF`, so the join is storage-partitioned (no shuffle of the target). The stage table
    is dropped (purged) afterwards. A target partitioned otherwise still merges correctly, with a
    shuffle.

    Returns the new snapshot's ``added-records`` and ``deleted-records`` / ``added-position-deletes``
    (zeros when nothing changed).
    """
    stage = stage_source(spark, ident, new, on)
    before = lakelib.current_snapshot_id(spark, ident)
    try:
        with lakelib.session_conf(spark, MERGE_CONF):
            spark.sql(merge_statement(ident, stage, on, when_matched))
    finally:
        spark.sql(f"DROP TABLE IF EXISTS {stage} PURGE")
    after = lakelib.current_snapshot_id(spark, ident)
    if after is None or after == before:
        return {"added": 0, "replaced": 0}
    summary = spark.sql(
        f"SELECT summary FROM {ident}.snapshots WHERE snapshot_id = {after}"
    ).collect()[0]["summary"]
    replaced = int(summary.get("added-position-deletes", 0)) + int(summary.get("deleted-records", 0))
    return {"added": int(summary.get("added-records", 0)), "replaced": replaced}


def run_bronze_to_silver(
    spark: Any,
    lake_uri: str,
    source: str,
    hours: Sequence[tuple[str, str]],
    entity: Entity,
    pii_key: bytes | None,
    database: str = "lake",
) -> dict[str, Any]:
    """Runs the whole job on a session and returns its summary (see the module docstring).

    Summary keys: ``job, source, entity, table, hours, hours_missing, rows_read, rows_invalid,
    duplicates_in_input, rows_merged, rows_inserted, rows_updated, history_rows_inserted``.

    Raises:
        JobArgumentError: ``hours`` empty or ``source`` differs from ``entity.source``.
        PiiKeyError: PII columns without a key.
    """
    from pyspark import StorageLevel

    lakelib.configure_session(spark)
    if not hours:
        raise JobArgumentError("--hours: at least one hour is needed")
    if source != entity.source:
        raise JobArgumentError(f"--source {source!r} differs from entity source {entity.source!r}")
    lake_uri = lakelib.normalize_lake_uri(lake_uri)
    catalog = lakelib.use_iceberg(spark, lake_uri)
    paths = bronze_hour_paths(lake_uri, source, hours)
    present = [p for p in paths if lakelib.path_exists(spark, p)]
    missing = [f"{dt}T{hr}" for (dt, hr), p in zip(hours, paths) if p not in present]
    ident = lakelib.iceberg_table(catalog, database, lakelib.silver_table(entity.entity))

    parsed = parse_envelopes(read_bronze_lines(spark, present), source)
    parsed = parsed.persist(StorageLevel.MEMORY_AND_DISK)
    history = {"added": 0, "replaced": 0}
    try:
        counts = parsed.groupBy("valid").count().collect()
        by_valid = {bool(r["valid"]): int(r["count"]) for r in counts}
        rows_read = sum(by_valid.values())
        rows_valid = by_valid.get(True, 0)

        flat = flatten(parsed.filter("valid"), entity, pii_key).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            new = dedup_input(flat, entity)
            unique_in = new.count()
            lakelib.ensure_table(spark, ident, new, f"bucket({KEY_BUCKETS}, `{entity.key[0]}`)", SILVER_PROPERTIES)
            merged = merge_into(spark, ident, new, entity.key, newer_condition(entity))
            if entity.history:
                hist = lakelib.iceberg_table(catalog, database, f"{lakelib.silver_table(entity.entity)}_history")
                versions = dedup_input(flat, entity, by=["id"])
                lakelib.ensure_table(spark, hist, versions, f"bucket({KEY_BUCKETS}, `id`)", SILVER_PROPERTIES)
                history = merge_into(spark, hist, versions, ["id"], None)
        finally:
            flat.unpersist()
    finally:
        parsed.unpersist()

    return {
        "job": "bronze_to_silver",
        "source": source,
        "entity": entity.entity,
        "table": ident,
        "hours": [f"{dt}T{hr}" for dt, hr in hours],
        "hours_missing": missing,
        "rows_read": rows_read,
        "rows_invalid": rows_read - rows_valid,
        "duplicates_in_input": rows_valid - unique_in,
        "rows_merged": unique_in,
        "rows_inserted": merged["added"] - merged["replaced"],
        "rows_updated": merged["replaced"],
        "history_rows_inserted": history["added"],
    }


# ---------------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------------

REQUIRED_ARGS = ("JOB_NAME", "source", "hours", "lake_uri", "entity_json")
OPTIONAL_ARGS = {"pii_key_env": "INGEST_PII_KEY", "pii_key_secret_id": None, "database": "lake"}


def main(argv: Sequence[str] | None = None, spark: Any = None) -> dict[str, Any]:
    """Glue entry point: resolves arguments, checks them and the PII key *before* starting Spark (a
    bad invocation fails in about a second), runs the job, prints the summary, commits. With
    ``spark``, runs on that session (the local job server's) instead of starting one.

    Exit status (when run as a script): 0 on success; 1 with the error on stderr otherwise.
    """
    started = time.monotonic()
    argv = list(sys.argv if argv is None else argv)
    args = lakelib.parse_job_args(argv, REQUIRED_ARGS, OPTIONAL_ARGS)
    entity = parse_entity(str(args["entity_json"]))
    hours = lakelib.parse_hours(args["hours"])
    if not hours:
        raise JobArgumentError("--hours: at least one hour is needed")
    lake_uri = lakelib.normalize_lake_uri(str(args["lake_uri"]))
    pii_key = resolve_pii_key(entity, args["pii_key_env"], args["pii_key_secret_id"])

    return lakelib.run_job(
        args, started, lambda spark: run_bronze_to_silver(
            spark, lake_uri, str(args["source"]), hours, entity, pii_key, str(args["database"])
        ),
        spark=spark,
    )


if __name__ == "__main__":
    try:
        main()
    except (JobArgumentError, PiiKeyError) as err:
        sys.stderr.write(f"bronze_to_silver: {type(err).__name__}: {err}\n")
        sys.exit(1)
