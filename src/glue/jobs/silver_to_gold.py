"""Glue job ``silver_to_gold``: FakeStore silver tables → gold ``fact_order_lines``.

Arguments (Glue job parameters, ``--name value``)
-------------------------------------------------
``--JOB_NAME``   Passed by Glue; locally defaults to the script name.
``--lake_uri``   Lake root: ``s3://bucket/prefix`` or ``file:///abs/path``.
``--hours``      Optional comma list of UTC hours ``YYYY-MM-DDTHH``: the silver ``carts`` partitions
                 just written. Absent or empty: rebuild every month.
``--database``   Catalog database of the silver and gold Iceberg tables. Default ``lake``.

Input: silver (written by ``bronze_to_silver``)
-----------------------------------------------
The current-state Iceberg tables (ADR 0015/0016) ``<database>.carts`` (``cart_id bigint, user_id
bigint, cart_date timestamp, products array<struct<productId:bigint,quantity:bigint>>``),
``<database>.products`` (``product_id, title, price, category``) and ``<database>.users``
(``user_id, username``), each with ``id, ingested_at, dt, hour``; ``--database`` defaults to
``lake``. ``products`` and ``users`` are optional (missing → null columns).

Output: gold
------------
The Iceberg table ``<database>.fact_order_lines`` in the same catalog as silver (ADR 0015: locally the
Hadoop catalog at ``<lake>/iceberg``, in AWS the Glue Data Catalog, so Athena reads it),
``PARTITIONED BY (year, month)`` (identity partitions, one per month), table property
``ingest.layer = gold`` (the local query engine names its view ``fact_order_lines``, not
``silver_…``). One row per product line of the latest version of each cart:

====================  ========  =====================================================================
column                type      from
====================  ========  =====================================================================
``cart_id``           bigint    cart
``user_id``           bigint    cart
``product_id``        bigint    cart line ``productId``
``quantity``          bigint    cart line ``quantity``
``unit_price``        double    latest product ``price`` (null when the product is unknown)
``line_amount``       double    ``round(quantity * unit_price, 2)`` (HALF_UP)
``category``          string    latest product
``product_title``     string    latest product ``title``
``username``          string    latest user (never a PII column)
``order_date``        date      UTC date of the cart's ``cart_date``
``year``, ``month``   int       partition columns, from ``order_date`` (``month`` 1-12)
====================  ========  =====================================================================

"Latest" means the row with the greatest ``ingested_at`` per key (``cart_id``, ``product_id``,
``user_id``; ties broken by ``dt``, ``hour``, ``id`` descending). Joins are left joins: a line is
never dropped because its product or user is unknown. Lines of a cart without a date cannot be placed
in a month and are only counted (``lines_without_date``).

Which months are recomputed
---------------------------
With ``--hours``: the carts present in those silver partitions are the changed carts; the affected
months are the carts' current months in silver plus the months gold held for them (so a cart whose
date moved leaves its old month too). Each affected month is recomputed completely from all of silver
and the affected months are replaced in **one atomic Iceberg commit** (an overwrite by filter: an
affected month left without lines disappears in that same commit); other months are not touched.
Without ``--hours``: every month is recomputed and gold months no longer produced are deleted, again
in one commit. Either way a re-run with the same silver gives the same gold (idempotent).

Summary: one JSON line on stdout (``table``, ``rows_written``, ``months``, ``partitions_written``,
``partitions_deleted``, ``snapshot_id``, ``lines_without_date``, ``duration_secs``).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lakelib  # noqa: E402

GOLD_TABLE = "fact_order_lines"
PARTITION_COLUMNS = ("year", "month")

#: Properties of the gold Iceberg table. ``ingest.layer`` tells the local query engine (and readers
#: of the catalog) that the table is gold: its view is named after the table, without ``silver_``.
GOLD_PROPERTIES = {"format-version": "2", "ingest.layer": "gold"}

#: Gold column order and types (the contract above).
GOLD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("cart_id", "bigint"),
    ("user_id", "bigint"),
    ("product_id", "bigint"),
    ("quantity", "bigint"),
    ("unit_price", "double"),
    ("line_amount", "double"),
    ("category", "string"),
    ("product_title", "string"),
    ("username", "string"),
    ("order_date", "date"),
    ("year", "int"),
    ("month", "int"),
)

#: Silver columns each input needs (beyond ``id, ingested_at, dt, hour``).
CARTS_DDL = (
    "id string, ingested_at timestamp, cart_id bigint, user_id bigint, cart_date timestamp, "
    "products array<struct<productId:bigint,quantity:bigint>>, dt string, hour string"
)
PRODUCTS_DDL = (
    "id string, ingested_at timestamp, product_id bigint, title string, price double, "
    "category string, dt string, hour string"
)
USERS_DDL = "id string, ingested_at timestamp, user_id bigint, username string, dt string, hour string"


def gold_table(spark: Any, lake_uri: str, database: str = "lake") -> str:
    """The gold table's identifier ``<catalog>.<database>.fact_order_lines``, creating the table
    (empty, partitioned by ``year, month``) when absent."""
    ident = lakelib.iceberg_table(lakelib.use_iceberg(spark, lake_uri), database, GOLD_TABLE)
    ddl = ", ".join(f"{n} {t}" for n, t in GOLD_COLUMNS)
    lakelib.ensure_table(
        spark, ident, spark.createDataFrame([], ddl), ", ".join(PARTITION_COLUMNS), GOLD_PROPERTIES
    )
    return ident


def read_silver(spark: Any, lake_uri: str, entity: str, ddl: str, database: str = "lake") -> Any:
    """Reads the current silver Iceberg table ``<database>.silver_<entity>`` with the given columns
    (an empty DataFrame when absent)."""
    return lakelib.read_table(spark, lake_uri, database, lakelib.silver_table(entity), ddl)


def _latest(df: Any, key: str) -> Any:
    from pyspark.sql import functions as F

    return lakelib.latest_per_key(
        df.filter(F.col(key).isNotNull()),
        [key],
        [F.col(c).desc() for c in ("ingested_at", "dt", "hour", "id")],
    )


def build_order_lines(carts: Any, products: Any, users: Any) -> Any:
    """All order lines from silver (every month): latest cart per ``cart_id`` exploded to one row per
    product line, joined with the latest product and user. Columns: :data:`GOLD_COLUMNS`; ``year`` /
    ``month`` / ``order_date`` are null for a cart without ``cart_date``."""
    from pyspark.sql import functions as F

    latest_carts = _latest(carts, "cart_id")
    lines = latest_carts.select(
        "cart_id",
        "user_id",
        F.to_date("cart_date").alias("order_date"),
        F.explode("products").alias("line"),
    ).select(
        "cart_id",
        "user_id",
        F.col("line.productId").alias("product_id"),
        F.col("line.quantity").alias("quantity"),
        "order_date",
    )
    prod = _latest(products, "product_id").select(
        "product_id",
        F.col("price").alias("unit_price"),
        "category",
        F.col("title").alias("product_title"),
    )
    usr = _latest(users, "user_id").select("user_id", "username")
    out = lines.join(prod, "product_id", "left").join(usr, "user_id", "left")
    out = out.withColumn(
        "line_amount",
        F.round(F.col("quantity").cast("double") * F.col("unit_price"), 2),
    )
    out = out.withColumn("year", F.year("order_date")).withColumn("month", F.month("order_date"))
    return out.select(*(F.col(n).cast(t).alias(n) for n, t in GOLD_COLUMNS))


def affected_months(
    carts: Any, hours: Sequence[tuple[str, str]], gold: Any = None
) -> list[tuple[int, int]]:
    """Months touched by the carts merged in the bronze hours ``hours``: their current month in
    silver and, from gold, the months they were in before (a cart whose date moved leaves its old
    month)."""
    from functools import reduce

    from pyspark.sql import functions as F

    if not hours:
        return []
    in_hours = reduce(
        lambda a, b: a | b,
        [(F.col("dt") == F.lit(dt)) & (F.col("hour") == F.lit(hr)) for dt, hr in hours],
    )
    changed = carts.filter(in_hours).select("cart_id").distinct()
    months = carts.join(changed, "cart_id", "left_semi").select(
        F.year(F.to_date("cart_date")).alias("y"), F.month(F.to_date("cart_date")).alias("m")
    )
    if gold is not None:
        months = months.union(
            gold.join(changed, "cart_id", "left_semi").select(F.col("year").alias("y"), F.col("month").alias("m"))
        )
    rows = months.filter("y IS NOT NULL").distinct().collect()
    return sorted((int(r["y"]), int(r["m"])) for r in rows)


def run_silver_to_gold(
    spark: Any, lake_uri: str, hours: Sequence[tuple[str, str]] | None, database: str = "lake"
) -> dict[str, Any]:
    """Runs the job on a session and returns its summary.

    Args:
        hours: silver carts partitions just written; ``None`` or empty → rebuild every month.
    """
    from functools import reduce

    from pyspark.sql import functions as F

    lakelib.configure_session(spark)
    lake_uri = lakelib.normalize_lake_uri(lake_uri)
    carts = read_silver(spark, lake_uri, "carts", CARTS_DDL, database)
    products = read_silver(spark, lake_uri, "products", PRODUCTS_DDL, database)
    users = read_silver(spark, lake_uri, "users", USERS_DDL, database)
    lines = build_order_lines(carts, products, users)
    ident = gold_table(spark, lake_uri, database)
    full = not hours

    if full:
        without_date = lines.filter(F.col("year").isNull()).count()
        dated = lines.filter(F.col("year").isNotNull())
        produced = [
            (int(r["year"]), int(r["month"]))
            for r in dated.select("year", "month").distinct().collect()
        ]
        existing = [(int(y), int(m)) for y, m in lakelib.table_partitions(spark, ident, PARTITION_COLUMNS)]
        months = sorted(set(produced) | set(existing))
        content = dated
    else:
        gold = spark.table(ident).select("cart_id", "year", "month")
        months = affected_months(carts, hours, gold)
        if months:
            cond = reduce(
                lambda a, b: a | b,
                [(F.col("year") == y) & (F.col("month") == m) for y, m in months],
            )
            content = lines.filter(cond)
        else:
            content = lines.limit(0)
        changed = carts.filter(
            reduce(
                lambda a, b: a | b,
                [(F.col("dt") == F.lit(dt)) & (F.col("hour") == F.lit(hr)) for dt, hr in hours],
            )
        ).select("cart_id")
        without_date = (
            lines.filter(F.col("year").isNull()).join(changed, "cart_id", "left_semi").count()
        )

    written = lakelib.replace_partitions(spark, content, ident, PARTITION_COLUMNS, months)
    return {
        "job": "silver_to_gold",
        "table": ident,
        "hours": None if full else [f"{dt}T{hr}" for dt, hr in hours],
        "months": [f"{y:04d}-{m:02d}" for y, m in months],
        "lines_without_date": without_date,
        **written,
    }


REQUIRED_ARGS = ("JOB_NAME", "lake_uri")
OPTIONAL_ARGS = {"hours": None, "database": "lake"}


def main(argv: Sequence[str] | None = None, spark: Any = None) -> dict[str, Any]:
    """Glue entry point: resolves arguments (checked before Spark starts), runs, prints the summary,
    ``job.commit()``. Exit status 0 on success, 1 on a bad argument (message on stderr). With
    ``spark``, runs on that session (the local job server's) instead of starting one."""
    started = time.monotonic()
    argv = list(sys.argv if argv is None else argv)
    args = lakelib.parse_job_args(argv, REQUIRED_ARGS, OPTIONAL_ARGS)
    hours = lakelib.parse_hours(args["hours"])
    lake_uri = lakelib.normalize_lake_uri(str(args["lake_uri"]))
    return lakelib.run_job(
        args,
        started,
        lambda spark: run_silver_to_gold(spark, lake_uri, hours or None, str(args["database"])),
        spark=spark,
    )


if __name__ == "__main__":
    try:
        main()
    except lakelib.JobArgumentError as err:
        sys.stderr.write(f"silver_to_gold: {type(err).__name__}: {err}\n")
        sys.exit(1)
