"""Benchmark: one hour of new bronze data MERGEd into a silver Iceberg table of 1 and 10 million rows
(issue 11). The cost of a run should follow the hour's records, not the table's size.

    .venv/bin/python bench/silver_merge.py [--sizes 1000000,10000000] [--new 5000] [--updates 5000]

For each size: builds ``<tmp>/iceberg/lake/silver_earthquakes`` with N current rows (keys ``e0..e{N-1}``,
16 key buckets, merge-on-read, as ``bronze_to_silver`` creates it), lands one bronze hour holding
``--new`` unseen keys and ``--updates`` newer versions of existing keys, then times
``run_bronze_to_silver`` for that hour, and a re-run of the same hour (which must change nothing).
Prints one JSON line per size (``*_cpu_secs``: CPU time, user+sys, of the Spark JVM in that step).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src" / "glue" / "jobs"))

import bronze_to_silver as b2s  # noqa: E402
import lakelib  # noqa: E402

ENTITY = {
    "source": "usgs.earthquakes",
    "entity": "earthquakes",
    "key": ["event_id"],
    "versionColumn": "updated_ms",
    "columns": [
        {"name": "event_id", "path": "id"},
        {"name": "magnitude", "path": "properties.mag", "type": "double"},
        {"name": "place", "path": "properties.place"},
        {"name": "updated_ms", "path": "properties.updated", "type": "bigint"},
    ],
}


def build_table(spark, lake: str, rows: int) -> None:
    from pyspark.sql import functions as F

    catalog = lakelib.use_iceberg(spark, lake)
    ident = lakelib.iceberg_table(catalog, "lake", lakelib.silver_table("earthquakes"))
    df = spark.range(rows).select(
        F.concat(F.lit("e"), F.col("id").cast("string"), F.lit("@100")).alias("id"),
        F.lit("usgs.earthquakes").alias("source"),
        F.lit("2026-11-24 00:00:00").cast("timestamp").alias("ingested_at"),
        F.lit(None).cast("timestamp").alias("event_time"),
        F.concat(F.lit("e"), F.col("id").cast("string")).alias("event_id"),
        (F.col("id") % 70 / 10.0).alias("magnitude"),
        F.concat(F.lit("place "), (F.col("id") % 1000).cast("string")).alias("place"),
        F.lit(100).cast("bigint").alias("updated_ms"),
        F.lit("2026-11-24").alias("dt"),
        F.lit("00").alias("hour"),
    )
    lakelib.ensure_table(spark, ident, df, f"bucket({b2s.KEY_BUCKETS}, `event_id`)", b2s.SILVER_PROPERTIES)
    df.writeTo(ident).append()


def land_hour(lake_dir: Path, rows: int, new: int, updates: int) -> None:
    rnd = random.Random(7)
    keys = [f"n{i}" for i in range(new)] + [f"e{rnd.randrange(rows)}" for _ in range(updates)]
    lines = []
    for k in keys:
        payload = {"id": k, "properties": {"mag": 5.5, "place": "updated", "updated": 200}}
        lines.append(
            json.dumps(
                {"source": "usgs.earthquakes", "id": f"{k}@200", "ingested_at": "2026-11-25T06:10:00.000Z", "payload": payload}
            )
        )
    d = lake_dir / "bronze" / "source=usgs.earthquakes" / "dt=2026-11-25" / "hour=06"
    d.mkdir(parents=True, exist_ok=True)
    (d / "bench-1.json.gz").write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))


def jvm_cpu_secs(spark) -> float:
    """CPU time (user+sys) of the Spark JVM so far, in seconds (local mode: driver and executors)."""
    pid = spark._jvm.java.lang.ProcessHandle.current().pid()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--new", type=int, default=5000)
    ap.add_argument("--updates", type=int, default=5000)
    ap.add_argument(
        "--no-vectorization",
        action="store_true",
        help="read Iceberg without the Arrow vectorized reader (spark.sql.iceberg.vectorization.enabled=false)",
    )
    args = ap.parse_args()
    os.environ.setdefault("LAKE_SPARK_SHUFFLE_PARTITIONS", "4")
    spark = lakelib.local_spark_session("silver-merge-bench")
    if args.no_vectorization:
        spark.conf.set("spark.sql.iceberg.vectorization.enabled", "false")
    entity = b2s.parse_entity(json.dumps(ENTITY))
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="silver-merge-") as tmp:
            lake = f"file://{tmp}"
            t0 = time.monotonic()
            build_table(spark, lake, size)
            built = time.monotonic() - t0
            land_hour(Path(tmp), size, args.new, args.updates)
            t1, c1 = time.monotonic(), jvm_cpu_secs(spark)
            s = b2s.run_bronze_to_silver(spark, lake, entity.source, [("2026-11-25", "06")], entity, None)
            merge, merge_cpu = time.monotonic() - t1, jvm_cpu_secs(spark) - c1
            t2, c2 = time.monotonic(), jvm_cpu_secs(spark)
            again = b2s.run_bronze_to_silver(spark, lake, entity.source, [("2026-11-25", "06")], entity, None)
            rerun, rerun_cpu = time.monotonic() - t2, jvm_cpu_secs(spark) - c2
            print(
                json.dumps(
                    {
                        "table_rows": size,
                        "hour_new": args.new,
                        "hour_updates": args.updates,
                        "build_secs": round(built, 1),
                        "merge_secs": round(merge, 1),
                        "merge_cpu_secs": round(merge_cpu, 1),
                        "rows_inserted": s["rows_inserted"],
                        "rows_updated": s["rows_updated"],
                        "rerun_secs": round(rerun, 1),
                        "rerun_cpu_secs": round(rerun_cpu, 1),
                        "rerun_changes": again["rows_inserted"] + again["rows_updated"],
                    }
                ),
                flush=True,
            )
    spark.stop()


if __name__ == "__main__":
    main()
