"""Shared plumbing of the lake's Glue job scripts (``bronze_to_silver.py``, ``silver_to_gold.py``).

Glue ships this module next to the job scripts with ``--extra-py-files s3://.../lakelib.py``; locally it
sits in the same folder as the scripts, which Python puts first on ``sys.path`` when it runs a script.
Nothing here imports ``awsglue`` at module level, so the module (and the jobs' transformations) also
import on a laptop with nothing but PySpark installed.

What lives here:

- argument parsing: :func:`parse_job_args` uses ``awsglue.utils.getResolvedOptions`` in Glue and an
  equivalent ``--name value`` parser otherwise (same names, same result);
- the job lifecycle: :func:`start_job` gives a :class:`JobContext` (``GlueContext`` + ``Job`` with
  ``job.init(JOB_NAME, args)`` in Glue; a local ``SparkSession`` otherwise), :meth:`JobContext.commit`
  calls ``job.commit()``;
- lake paths: :func:`normalize_lake_uri`, :func:`lake_path` and Hadoop-FileSystem helpers that work on
  ``file://`` and ``s3://`` alike (:func:`path_exists`);
- the lake's Iceberg tables (ADR 0015): :func:`use_iceberg`, :func:`ensure_table`, :func:`read_table`,
  and :func:`replace_partitions` (one atomic commit replacing the affected partitions);
- the rules shared by both jobs: :func:`latest_per_key` (latest ``ingested_at`` wins).
"""

from __future__ import annotations

import json
import time
import os
import re
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping, Sequence

#: Session settings both jobs rely on, applied in Glue and locally (all are runtime SQL confs).
#:
#: - ``spark.sql.session.timeZone=UTC``: bronze ``dt``/``hour`` and gold ``order_date`` are UTC;
#: - ``spark.sql.sources.partitionOverwriteMode=dynamic``: an overwrite replaces only the partitions
#:   present in the written DataFrame (Spark SQL docs, "Dynamic partition overwrite");
#: - ``spark.sql.sources.partitionColumnTypeInference.enabled=false``: ``hour=06`` stays the string
#:   ``"06"`` (and ``dt`` a string) when silver is read back, instead of becoming ``6``/a date;
#: - ``spark.sql.parquet.outputTimestampType=TIMESTAMP_MICROS``: standard Parquet timestamps that
#:   Athena and DuckDB read, instead of Spark's legacy INT96.
SESSION_CONF: Mapping[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}

#: Spark catalog name of the lake's Iceberg tables (ADR 0015): ``iceberg.<database>.<table>``.
ICEBERG_CATALOG = "iceberg"
#: Iceberg's SQL extensions (``MERGE INTO``, ``ALTER TABLE ... WRITE ORDERED BY``); a static conf, set
#: when the session is built (locally below; in Glue by the job's ``--conf`` argument, see the CDK app).
ICEBERG_EXTENSIONS = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"

_HOUR_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2})$")


class JobArgumentError(ValueError):
    """A job argument is missing or malformed. The message names the argument."""


# ---------------------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------------------


def _parse_plain_args(argv: Sequence[str]) -> dict[str, str]:
    """Parses ``--name value`` and ``--name=value`` pairs (what Glue passes) into a dict.

    A ``--name`` followed by another ``--flag`` or by nothing gets ``""``. Anything that is not a
    ``--name`` (for example the script path) is ignored, like Glue's parser ignores unknown tokens.
    """
    out: dict[str, str] = {}
    i = 0
    while i < len(argv):
        tok = argv[i]
        if tok.startswith("--") and len(tok) > 2:
            name = tok[2:]
            if "=" in name:
                name, value = name.split("=", 1)
                out[name] = value
            elif i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                out[name] = argv[i + 1]
                i += 1
            else:
                out[name] = ""
        i += 1
    return out


def parse_job_args(
    argv: Sequence[str],
    required: Sequence[str],
    optional: Mapping[str, str | None] | None = None,
) -> dict[str, str | None]:
    """Resolves job arguments the way Glue does, with or without ``awsglue``.

    Glue passes job parameters as ``--name value`` pairs in ``sys.argv`` (plus its own, such as
    ``--JOB_NAME``, ``--TempDir``, ``--job-bookmark-option``). ``getResolvedOptions(argv, names)``
    (Glue docs, "Accessing parameters using getResolvedOptions") returns the named ones and fails when
    one is missing; it has no notion of optional parameters, so, as the Glue docs suggest, optional
    names are only passed to it when ``--name`` is present in ``argv``.

    Args:
        argv: the full argument vector, usually ``sys.argv``.
        required: names (without ``--``) that must be present. ``JOB_NAME`` is added when absent
            outside Glue (it defaults to the script's name) since Glue always passes it.
        optional: name → default for arguments that may be absent.

    Returns:
        name → value for every required and optional name (``None`` for an absent optional without
        default).

    Raises:
        JobArgumentError: a required argument is missing (outside Glue; in Glue, getResolvedOptions
            raises its own error).
    """
    optional = dict(optional or {})
    present = {a[2:].split("=", 1)[0] for a in argv if a.startswith("--")}
    wanted = list(required) + [n for n in optional if n in present]
    try:
        from awsglue.utils import getResolvedOptions  # type: ignore[import-not-found]
    except ImportError:
        getResolvedOptions = None  # noqa: N806 - mirrors the Glue name

    if getResolvedOptions is not None:
        resolved: dict[str, Any] = dict(getResolvedOptions(list(argv), wanted))
    else:
        plain = _parse_plain_args(argv[1:] if argv and not argv[0].startswith("--") else argv)
        if "JOB_NAME" not in plain:
            plain["JOB_NAME"] = os.path.splitext(os.path.basename(argv[0] if argv else "job"))[0]
        missing = [n for n in required if n not in plain]
        if missing:
            raise JobArgumentError(
                "missing job argument(s): " + ", ".join("--" + n for n in missing)
            )
        resolved = {n: plain[n] for n in wanted}
    out: dict[str, str | None] = {n: resolved[n] for n in required}
    for name, default in optional.items():
        value = resolved.get(name)
        out[name] = value if value not in (None, "") else default
    return out


def parse_hours(value: str | None) -> list[tuple[str, str]]:
    """Parses ``--hours`` (``2026-11-25T06,2026-11-25T07``) into sorted, distinct ``(dt, hour)`` pairs.

    Each item is a UTC date and hour as in the bronze/silver partitions ``dt=YYYY-MM-DD/hour=HH``.
    Blank items are ignored; ``None`` or ``""`` gives ``[]``.

    Raises:
        JobArgumentError: an item is not ``YYYY-MM-DDTHH`` with hour 00-23.
    """
    out: set[tuple[str, str]] = set()
    for item in (value or "").split(","):
        item = item.strip()
        if not item:
            continue
        m = _HOUR_RE.match(item)
        if not m or int(m.group(2)) > 23:
            raise JobArgumentError(f"--hours: {item!r} is not YYYY-MM-DDTHH (UTC, hour 00-23)")
        out.add((m.group(1), m.group(2)))
    return sorted(out)


# ---------------------------------------------------------------------------------------------------
# Lake paths
# ---------------------------------------------------------------------------------------------------


def normalize_lake_uri(uri: str) -> str:
    """Returns the lake root as a path Spark reads and writes, without a trailing ``/``.

    - ``s3://bucket/prefix`` stays as is (Glue's EMRFS serves ``s3://``);
    - ``file:///abs/path`` stays as is;
    - ``file://./rel`` or ``file://rel`` (the service's default ``file://./data/lake``) becomes
      ``file:///<cwd>/rel``;
    - a plain path (``/abs`` or ``rel``) becomes ``file:///abs``.

    Raises:
        JobArgumentError: empty, or a scheme other than ``file`` and ``s3``.
    """
    uri = (uri or "").strip()
    if not uri:
        raise JobArgumentError("--lake_uri is empty")
    if uri.startswith("s3://"):
        return uri.rstrip("/")
    if uri.startswith("file://"):
        rest = uri[len("file://") :]
        path = rest if rest.startswith("/") else os.path.abspath(rest)
        return "file://" + path.rstrip("/") if path != "/" else "file:///"
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", uri):
        raise JobArgumentError(f"--lake_uri: unsupported scheme in {uri!r} (use file:// or s3://)")
    return "file://" + os.path.abspath(uri).rstrip("/")


def lake_path(lake_uri: str, *parts: str) -> str:
    """Joins path segments under a lake root with ``/``: ``lake_path(root, "silver", "carts")``."""
    return "/".join([lake_uri.rstrip("/"), *(p.strip("/") for p in parts if p)])


def _hadoop_fs(spark: Any, path: str) -> tuple[Any, Any]:
    jvm = spark.sparkContext._jvm
    p = jvm.org.apache.hadoop.fs.Path(path)
    return p.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), p


def path_exists(spark: Any, path: str) -> bool:
    """Whether a file or folder exists, through the Hadoop FileSystem of the path's scheme (so the same
    call works for ``file://`` locally and ``s3://`` in Glue)."""
    fs, p = _hadoop_fs(spark, path)
    return bool(fs.exists(p))


# ---------------------------------------------------------------------------------------------------
# Session and job lifecycle
# ---------------------------------------------------------------------------------------------------


def configure_session(spark: Any) -> Any:
    """Applies :data:`SESSION_CONF` to a session (idempotent) and returns it."""
    for k, v in SESSION_CONF.items():
        spark.conf.set(k, v)
    return spark


@contextmanager
def session_conf(spark: Any, conf: Mapping[str, str]) -> Iterator[Any]:
    """Sets runtime SQL ``conf`` on ``spark`` for the ``with`` block, then restores the previous values
    (unsetting those that had none)."""
    previous = {k: spark.conf.get(k, None) for k in conf}
    for k, v in conf.items():
        spark.conf.set(k, v)
    try:
        yield spark
    finally:
        for k, v in previous.items():
            if v is None:
                spark.conf.unset(k)
            else:
                spark.conf.set(k, v)


def iceberg_catalog_conf(lake_uri: str, glue: bool) -> dict[str, str]:
    """Settings of the Spark catalog :data:`ICEBERG_CATALOG` (ADR 0015).

    - locally (``file://``): an Iceberg Hadoop catalog whose warehouse is ``<lake>/iceberg``, so a
      table lives in ``<lake>/iceberg/<database>/<table>/{data,metadata}`` and ``ingest query``
      (pyiceberg) reads it from its ``metadata/v<N>.metadata.json``;
    - in Glue (or any ``s3://`` lake): the Glue Data Catalog (``GlueCatalog``, ``S3FileIO``), warehouse
      ``<lake>/iceberg``, so Athena sees the same tables.
    """
    prefix = f"spark.sql.catalog.{ICEBERG_CATALOG}"
    conf = {prefix: "org.apache.iceberg.spark.SparkCatalog", f"{prefix}.warehouse": lake_path(lake_uri, "iceberg")}
    if glue or lake_uri.startswith("s3://"):
        conf[f"{prefix}.catalog-impl"] = "org.apache.iceberg.aws.glue.GlueCatalog"
        conf[f"{prefix}.io-impl"] = "org.apache.iceberg.aws.s3.S3FileIO"
    else:
        conf[f"{prefix}.type"] = "hadoop"
    return conf


_CATALOGS: dict[str, str] = {}


def use_iceberg(spark: Any, lake_uri: str) -> str:
    """Registers a Spark catalog for the lake's Iceberg warehouse and returns its name:
    :data:`ICEBERG_CATALOG` for the first lake of the session, ``iceberg_<n>`` for further lakes (a
    catalog's warehouse is fixed once it is loaded; tests and a shared session use several lakes).
    A catalog already configured on the session (Glue ``--conf``) is kept as it is."""
    warehouse = lake_path(lake_uri, "iceberg")
    name = _CATALOGS.get(warehouse)
    if name is None:
        name = ICEBERG_CATALOG if not _CATALOGS else f"{ICEBERG_CATALOG}_{len(_CATALOGS)}"
        _CATALOGS[warehouse] = name
    prefix = f"spark.sql.catalog.{name}"
    if name == ICEBERG_CATALOG and spark.conf.get(f"{prefix}.catalog-impl", None):
        return name
    # Every session needs the settings (the local job server gives each run a new session, whose
    # catalogs load on first use); setting them again on a session that has them changes nothing.
    for k, v in iceberg_catalog_conf(lake_uri, glue=False).items():
        key = prefix + k[len(f"spark.sql.catalog.{ICEBERG_CATALOG}") :]
        if spark.conf.get(key, None) != v:
            spark.conf.set(key, v)
    return name


def silver_table(entity: str) -> str:
    """The catalog name of an entity's current silver table, ``silver_<entity>``: the name the named
    queries use on Athena (Glue Data Catalog) and on the local DuckDB engine alike. Its history table
    is ``silver_<entity>_history``."""
    return f"silver_{entity}"


def iceberg_table(catalog: str, database: str, table: str) -> str:
    """``<catalog>.<database>.<table>``, the identifier the jobs read and write."""
    return f"{catalog}.{database}.{table}"


def table_exists(spark: Any, ident: str) -> bool:
    """Whether the Iceberg table ``<catalog>.<database>.<table>`` exists."""
    catalog, database, table = ident.split(".")
    if not spark.sql(f"SHOW NAMESPACES IN {catalog}").filter(f"namespace = '{database}'").count():
        return False
    return bool(spark.sql(f"SHOW TABLES IN {catalog}.{database}").filter(f"tableName = '{table}'").count())


def ensure_table(
    spark: Any, ident: str, schema_df: Any, partition_sql: str, properties: Mapping[str, str]
) -> bool:
    """Creates the Iceberg table ``ident`` with ``schema_df``'s columns, ``PARTITIONED BY
    (partition_sql)`` and the table ``properties``, when absent; returns whether it was created.
    Existing tables keep their schema (new columns are not added here)."""
    catalog, database, _ = ident.split(".")
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {catalog}.{database}")
    if table_exists(spark, ident):
        return False
    cols = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in schema_df.schema.fields)
    props = ", ".join(f"'{k}'='{v}'" for k, v in properties.items())
    spark.sql(
        f"CREATE TABLE IF NOT EXISTS {ident} ({cols}) USING iceberg "
        f"PARTITIONED BY ({partition_sql}) TBLPROPERTIES ({props})"
    )
    return True


def read_table(spark: Any, lake_uri: str, database: str, table: str, ddl: str) -> Any:
    """Reads the current snapshot of an Iceberg table of the lake with the columns of ``ddl`` (cast to
    its types; columns the table lacks are null); an empty DataFrame when the table does not exist."""
    from pyspark.sql import functions as F

    schema = spark.createDataFrame([], ddl).schema
    ident = iceberg_table(use_iceberg(spark, lake_uri), database, table)
    if not table_exists(spark, ident):
        return spark.createDataFrame([], schema)
    df = spark.table(ident)
    have = set(df.columns)
    return df.select(
        *(
            (F.col(f.name) if f.name in have else F.lit(None)).cast(f.dataType).alias(f.name)
            for f in schema.fields
        )
    )


def iceberg_jars() -> list[str]:
    """The Iceberg Spark runtime jar(s) of a local session: ``LAKE_ICEBERG_JARS`` (comma list) or
    ``<project>/.tools/jars/iceberg-spark-runtime-3.5_2.12-*.jar`` (``make jars``).

    Raises:
        FileNotFoundError: none found (run ``make jars``).
    """
    import glob

    env = os.environ.get("LAKE_ICEBERG_JARS")
    if env:
        return [j for j in env.split(",") if j]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    found = sorted(glob.glob(os.path.join(root, ".tools", "jars", "iceberg-spark-runtime-3.5_2.12-*.jar")))
    if not found:
        raise FileNotFoundError(
            f"no Iceberg Spark runtime jar in {root}/.tools/jars: run make jars (or set LAKE_ICEBERG_JARS)"
        )
    return found[-1:]


PR_SET_PDEATHSIG = 1


def die_with_parent() -> bool:
    """Makes this process die (SIGKILL) when the process that started it dies, even by SIGKILL.

    Only when ``LAKE_PARENT_PID`` names the parent (the local Glue executor sets it) and on Linux
    (``prctl(PR_SET_PDEATHSIG)`` through ctypes). When the parent is already gone, exits at once.
    Spark's JVM dies with this process: PySpark starts it with a stdin pipe, and the JVM exits when
    that pipe closes. Returns whether the parent-death signal was set.
    """
    parent = os.environ.get("LAKE_PARENT_PID")
    if not parent or not sys.platform.startswith("linux"):
        return False
    import ctypes
    import signal

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return False
    if os.getppid() != int(parent):
        # The parent died before prctl: nobody is waiting for this run.
        os._exit(137)
    return True


def local_spark_session(app_name: str) -> Any:
    """Builds the local ``SparkSession`` used when ``awsglue`` is absent.

    Environment (all optional):

    - ``LAKE_SPARK_MASTER`` (default ``local[2]``);
    - ``LAKE_SPARK_SHUFFLE_PARTITIONS`` (default ``2``: small local data; Spark's 200 would mean 200
      tiny tasks and files per shuffle);
    - ``LAKE_SPARK_LOG_LEVEL`` (default ``WARN``).

    The Spark UI and console progress bars are off; the driver binds to 127.0.0.1.
    """
    die_with_parent()
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(os.environ.get("LAKE_SPARK_MASTER", "local[2]"))
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config(
            "spark.sql.shuffle.partitions", os.environ.get("LAKE_SPARK_SHUFFLE_PARTITIONS", "2")
        )
        .config("spark.jars", ",".join(iceberg_jars()))
        .config("spark.sql.extensions", ICEBERG_EXTENSIONS)
    )
    for k, v in SESSION_CONF.items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(os.environ.get("LAKE_SPARK_LOG_LEVEL", "WARN"))
    return spark


@dataclass
class JobContext:
    """A running job: the Spark session and, in Glue, the ``GlueContext`` and ``Job``.

    Attributes:
        spark: the ``SparkSession`` (``glue_context.spark_session`` in Glue).
        args: the resolved job arguments (see :func:`parse_job_args`).
        glue_context: ``awsglue.context.GlueContext`` in Glue, else ``None``.
        job: ``awsglue.job.Job`` in Glue (already ``init``-ed), else ``None``.
    """

    spark: Any
    args: dict[str, str | None]
    glue_context: Any = None
    job: Any = None
    _owns_session: bool = field(default=False, repr=False)

    @property
    def is_glue(self) -> bool:
        """Whether the job runs inside AWS Glue (``awsglue`` imported)."""
        return self.job is not None

    def commit(self) -> None:
        """Ends the run successfully: ``job.commit()`` in Glue (it records job-bookmark state, which
        these jobs do not rely on: they are driven by explicit ``--hours`` and are idempotent), and
        stops the local session outside Glue."""
        if self.job is not None:
            self.job.commit()
        if self._owns_session:
            self.spark.stop()

    def abort(self) -> None:
        """Stops a local session after a failure (Glue tears its own down)."""
        if self._owns_session:
            try:
                self.spark.stop()
            except Exception:  # noqa: BLE001 - best effort while already failing
                pass


def start_job(args: dict[str, str | None]) -> JobContext:
    """Starts the job: in Glue, ``GlueContext(SparkContext.getOrCreate())`` and
    ``Job(glue_context).init(args["JOB_NAME"], args)`` (Glue docs: always call ``job.init`` first and
    ``job.commit`` last); outside Glue, :func:`local_spark_session`. Both get :data:`SESSION_CONF`."""
    job_name = str(args.get("JOB_NAME") or "job")
    try:
        from awsglue.context import GlueContext  # type: ignore[import-not-found]
        from awsglue.job import Job  # type: ignore[import-not-found]
    except ImportError:
        return JobContext(spark=local_spark_session(job_name), args=args, _owns_session=True)
    from pyspark.context import SparkContext

    glue_context = GlueContext(SparkContext.getOrCreate())
    job = Job(glue_context)
    job.init(job_name, args)
    spark = configure_session(glue_context.spark_session)
    return JobContext(spark=spark, args=args, glue_context=glue_context, job=job)


def emit_summary(summary: Mapping[str, Any]) -> None:
    """Prints the run summary as one JSON line on stdout (the local executor reads the last line
    starting with ``{``; in Glue it lands in the job's output log)."""
    sys.stdout.write(json.dumps(summary, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------------------------------------
# Shared transformation rules
# ---------------------------------------------------------------------------------------------------


def latest_per_key(df: Any, keys: Sequence[str], order: Sequence[Any]) -> Any:
    """Keeps one row per ``keys``: the first by ``order`` (columns or expressions, e.g.
    ``F.col("ingested_at").desc()``). Ties beyond ``order`` are broken arbitrarily, so callers add
    enough tie-breakers to make the choice deterministic."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    w = Window.partitionBy(*keys).orderBy(*order)
    return df.withColumn("__rn", F.row_number().over(w)).filter("__rn = 1").drop("__rn")


def table_partitions(spark: Any, ident: str, partition_cols: Sequence[str]) -> list[tuple[str, ...]]:
    """The identity-partition values of the Iceberg table ``ident``'s current snapshot that hold
    rows, as text, sorted (from its ``partitions`` metadata table: no data file is read)."""
    cols = ", ".join(f"partition.`{c}` AS `{c}`" for c in partition_cols)
    rows = spark.sql(f"SELECT {cols} FROM {ident}.partitions WHERE record_count > 0").collect()
    return sorted({tuple(str(r[c]) for c in partition_cols) for r in rows})


def replace_partitions(
    spark: Any,
    df: Any,
    ident: str,
    partition_cols: Sequence[str],
    affected: Iterable[tuple[Any, ...]],
) -> dict[str, Any]:
    """Replaces exactly the ``affected`` identity partitions of the Iceberg table ``ident`` with the
    rows of ``df``, in **one atomic commit** (ADR 0015).

    ``df`` must hold the complete new content of every affected partition (and rows of no other
    partition). The write is an Iceberg overwrite by filter (``DataFrameWriterV2.overwrite``) whose
    filter is "one of the affected partitions": the commit deletes the affected partitions' files and
    adds ``df``'s, so a partition left without rows disappears in the same commit, readers see the
    old or the new table and never a mix, and other partitions are untouched. (A dynamic
    ``overwritePartitions()`` would keep a partition absent from ``df``, needing a second commit.)

    The content is persisted and counted before the write, so ``df`` may read the very table it
    replaces (the overwrite reads the snapshot current when the write started).

    Returns:
        ``{"rows_written": int, "partitions_written": [[v1, v2], ...], "partitions_deleted": [...],
        "snapshot_id": int | None}``, partitions as text, sorted.
    """
    from functools import reduce

    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    affected_list = sorted({tuple(a) for a in affected})
    affected_set = {tuple(str(v) for v in a) for a in affected_list}
    owned = not df.is_cached
    if owned:
        df = df.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        counts = {
            tuple(str(r[c]) for c in partition_cols): int(r["count"])
            for r in df.groupBy(*partition_cols).count().collect()
        }
        stray = set(counts) - affected_set
        if stray:
            raise ValueError(f"rows outside the affected partitions: {sorted(stray)[:5]}")
        before = set(table_partitions(spark, ident, partition_cols)) & affected_set
        if affected_list:
            cond = reduce(
                lambda a, b: a | b,
                [
                    reduce(lambda x, y: x & y, [F.col(c) == F.lit(v) for c, v in zip(partition_cols, part)])
                    for part in affected_list
                ],
            )
            # One shuffle by partition: one file per partition instead of one per task.
            df.repartition(*partition_cols).writeTo(ident).overwrite(cond)
        return {
            "rows_written": sum(counts.values()),
            "partitions_written": [list(p) for p in sorted(counts)],
            "partitions_deleted": [list(p) for p in sorted(before - set(counts))],
            "snapshot_id": current_snapshot_id(spark, ident),
        }
    finally:
        if owned:
            df.unpersist()


def current_snapshot_id(spark: Any, ident: str) -> int | None:
    """The id of the Iceberg table ``ident``'s latest snapshot; ``None`` before its first commit."""
    rows = spark.sql(f"SELECT snapshot_id FROM {ident}.snapshots ORDER BY committed_at DESC LIMIT 1").collect()
    return int(rows[0]["snapshot_id"]) if rows else None


def run_job(args, started, body, spark=None):
    """Runs ``body(spark) -> summary dict`` as one job run and returns the summary.

    The run starts through :func:`start_job` (a Glue job with ``job.init`` where ``awsglue`` is
    present, else a local SparkSession), or on ``spark`` when given: a session the caller owns (the
    local job server's, ``src/glue/local/job_server.py``), which is configured with
    :data:`SESSION_CONF` and never stopped here. On success it adds ``duration_secs`` (seconds since
    ``started``, a ``time.monotonic()`` value), prints the one-line JSON summary and commits the job
    (``job.commit()``); on any failure it aborts the run and re-raises.
    """
    ctx = start_job(args) if spark is None else JobContext(spark=configure_session(spark), args=args)
    try:
        summary = body(ctx.spark)
    except BaseException:
        ctx.abort()
        raise
    summary["duration_secs"] = round(time.monotonic() - started, 3)
    emit_summary(summary)
    ctx.commit()
    return summary

