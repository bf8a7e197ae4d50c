"""Silver as current state (issue 11, ADR 0016): a changing feed of several snapshots with updates,
repeats and a late older version gives exactly one row per key, the latest version; re-running an
hour and replaying bronze change nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import write_bronze

import bronze_to_silver as b2s
import lakelib

SOURCE = "usgs.earthquakes"
ENTITY = {
    "source": SOURCE,
    "entity": "earthquakes",
    "key": ["event_id"],
    "versionColumn": "updated_ms",
    "history": True,
    "columns": [
        {"name": "event_id", "path": "id"},
        {"name": "magnitude", "path": "properties.mag", "type": "double"},
        {"name": "updated_ms", "path": "properties.updated", "type": "bigint"},
    ],
}


def quake(event: str, mag: float, updated: int) -> dict[str, Any]:
    return {"id": event, "properties": {"mag": mag, "updated": updated}}


def env(payload: dict[str, Any], ingested_at: str) -> dict[str, Any]:
    return {
        "source": SOURCE,
        "id": f"{payload['id']}@{payload['properties']['updated']}",
        "ingested_at": ingested_at,
        "payload": payload,
    }


#: Three overlapping snapshots and a late re-poll, per bronze hour.
SNAPSHOTS: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("2026-11-25", "06"): [
        env(quake("a", 1.0, 100), "2026-11-25T06:00:01.000Z"),
        env(quake("b", 2.0, 100), "2026-11-25T06:00:01.000Z"),
        env(quake("c", 3.0, 100), "2026-11-25T06:00:01.000Z"),
    ],
    ("2026-11-25", "07"): [
        env(quake("a", 1.5, 200), "2026-11-25T07:00:01.000Z"),  # update
        env(quake("b", 2.0, 100), "2026-11-25T07:00:01.000Z"),  # repeat
        env(quake("d", 4.0, 100), "2026-11-25T07:00:01.000Z"),  # new
        env(quake("a", 1.7, 300), "2026-11-25T07:30:01.000Z"),  # second update, same hour
    ],
    ("2026-11-25", "08"): [
        # A second poller's late re-poll: an older version of a, ingested last.
        env(quake("a", 1.0, 100), "2026-11-25T08:00:01.000Z"),
        env(quake("c", 3.3, 250), "2026-11-25T08:00:01.000Z"),  # update
        env(quake("c", 3.3, 250), "2026-11-25T08:10:01.000Z"),  # repeat of the update, ingested later
    ],
}

EXPECTED = {"a": (1.7, 300), "b": (2.0, 100), "c": (3.3, 250), "d": (4.0, 100)}


def table(lake: Path, name: str) -> Path:
    return lake / "iceberg" / "lake" / f"silver_{name}"


def rows(spark, lake: Path, name: str = "earthquakes") -> list[dict[str, Any]]:
    df = spark.read.format("iceberg").load(str(table(lake, name)))
    return sorted((r.asDict() for r in df.collect()), key=lambda r: (r["event_id"], r["id"]))


def current(spark, lake: Path) -> dict[str, tuple[float, int]]:
    out: dict[str, tuple[float, int]] = {}
    for r in rows(spark, lake):
        assert r["event_id"] not in out, f"two silver rows for {r['event_id']}"
        out[r["event_id"]] = (r["magnitude"], r["updated_ms"])
    return out


def run(spark, lake: Path, hours) -> dict[str, Any]:
    ent = b2s.parse_entity(json.dumps(ENTITY))
    return b2s.run_bronze_to_silver(spark, f"file://{lake}", SOURCE, list(hours), ent, None)


def land(lake: Path) -> None:
    for (dt, hour), lines in SNAPSHOTS.items():
        write_bronze(lake, SOURCE, dt, hour, "1", lines)


def test_changing_feed_hour_by_hour_gives_one_latest_row_per_key(spark, tmp_path: Path) -> None:
    land(tmp_path)
    for hour in SNAPSHOTS:
        run(spark, tmp_path, [hour])
    assert current(spark, tmp_path) == EXPECTED
    # The history table keeps every distinct version (envelope id) once.
    versions = {r["id"] for r in rows(spark, tmp_path, "earthquakes_history")}
    assert versions == {e["id"] for lines in SNAPSHOTS.values() for e in lines}

    # Re-running an hour, and replaying all of bronze at once, change nothing.
    snapshot = rows(spark, tmp_path)
    again = run(spark, tmp_path, [("2026-11-25", "07")])
    assert (again["rows_inserted"], again["rows_updated"]) == (0, 0)
    replay = run(spark, tmp_path, list(SNAPSHOTS))
    assert (replay["rows_inserted"], replay["rows_updated"]) == (0, 0)
    assert rows(spark, tmp_path) == snapshot
    assert len(rows(spark, tmp_path, "earthquakes_history")) == len(versions)


def test_order_of_hours_does_not_matter_and_a_late_older_version_never_wins(spark, tmp_path: Path) -> None:
    land(tmp_path)
    # Newest hour first, then the others in one run.
    run(spark, tmp_path, [("2026-11-25", "08")])
    run(spark, tmp_path, [("2026-11-25", "07"), ("2026-11-25", "06")])
    assert current(spark, tmp_path) == EXPECTED


def test_merge_joins_bucket_with_bucket_without_shuffling_silver(spark, tmp_path: Path) -> None:
    """ADR 0018: the hour's rows are staged bucketed like silver, and the MERGE's join reads both
    tables grouped by bucket, so the plan has no shuffle of silver; no stage table is left."""
    land(tmp_path)
    run(spark, tmp_path, [("2026-11-25", "06")])
    catalog = lakelib.use_iceberg(spark, f"file://{tmp_path}")
    ident = lakelib.iceberg_table(catalog, "lake", "silver_earthquakes")
    tables = {r["tableName"] for r in spark.sql(f"SHOW TABLES IN {catalog}.lake").collect()}
    assert tables == {"silver_earthquakes", "silver_earthquakes_history"}

    new = spark.table(ident).limit(2)
    stage = b2s.stage_source(spark, ident, new, ["event_id"])
    try:
        with lakelib.session_conf(spark, b2s.MERGE_CONF):
            stmt = b2s.merge_statement(ident, stage, ["event_id"], "s.updated_ms > t.updated_ms")
            plan = spark.sql(f"EXPLAIN {stmt}").collect()[0][0]
    finally:
        spark.sql(f"DROP TABLE {stage} PURGE")
    join = plan[plan.index("Join") :]
    assert "Exchange" not in join, plan
    assert join.count("groupedBy=event_id_bucket") == 2, plan
    # The settings are the MERGE's only: the session has its own again.
    assert spark.conf.get("spark.sql.iceberg.planning.preserve-data-grouping", None) is None


def test_zoneless_timestamps_read_as_utc_or_the_entity_timezone(spark) -> None:
    """The same instants as ``toIsoTime`` in src/envelope.test.ts."""
    texts = ["2024-03-01T10:15:00", "2024-07-01T10:15:00", "2024-03-01T10:15:00+02:00", "1709288100000"]
    df = spark.createDataFrame([(t,) for t in texts], "raw string")

    def read(tz: str) -> list[str]:
        rows = df.select(b2s.typed_expr("raw", "timestamp", tz).alias("t")).collect()
        return [r["t"].isoformat() for r in rows]

    assert read("UTC") == ["2024-03-01T10:15:00", "2024-07-01T10:15:00", "2024-03-01T08:15:00", "2024-03-01T10:15:00"]
    assert read("Europe/Paris") == [
        "2024-03-01T09:15:00",
        "2024-07-01T08:15:00",
        "2024-03-01T08:15:00",
        "2024-03-01T10:15:00",
    ]
