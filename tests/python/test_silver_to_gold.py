"""silver_to_gold on silver built from the recorded FakeStore fixtures: totals equal an independent
plain-Python computation from the fixture JSON, months are recomputed incrementally and idempotently,
each run replacing its months of the gold Iceberg table in one commit."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter, defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from conftest import ENTITIES, PII_KEY, envelope, load_fixture, write_bronze

import bronze_to_silver as b2s
import lakelib
import silver_to_gold as s2g

A = ("2026-11-25", "06")
B = ("2026-11-25", "07")
C = ("2026-11-25", "08")


def silver(spark, lake: Path, entity: str, hours) -> None:
    ent = b2s.parse_entity(json.dumps(ENTITIES[entity]))
    b2s.run_bronze_to_silver(spark, f"file://{lake}", ent.source, list(hours), ent, PII_KEY)


def gold_dir(lake: Path) -> Path:
    return lake / "iceberg" / "lake" / "fact_order_lines"


def gold_rows(spark, lake: Path) -> list[dict[str, Any]]:
    df = spark.read.format("iceberg").load(str(gold_dir(lake)))
    return sorted(
        (r.asDict() for r in df.collect()), key=lambda r: (r["cart_id"], r["product_id"])
    )


def gold_files(lake: Path) -> dict[str, int]:
    root = gold_dir(lake) / "data"
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*.parquet")}


def gold_snapshots(spark, lake: Path) -> list[tuple[int, str]]:
    """(snapshot id, operation) of the gold table, oldest first."""
    df = spark.read.format("iceberg").load(f"{gold_dir(lake)}#snapshots")
    return [(int(r["snapshot_id"]), r["operation"]) for r in df.orderBy("committed_at").collect()]


def gold_months(spark, lake: Path) -> list[tuple[str, str]]:
    ident = s2g.gold_table(spark, f"file://{lake}")
    return lakelib.table_partitions(spark, ident, s2g.PARTITION_COLUMNS)


def expected(carts: dict[int, dict[str, Any]], products: list[dict[str, Any]]):
    """Revenue per (year, month) and lines per cart, in plain Python from the fixture JSON."""
    price = {p["id"]: p["price"] for p in products}
    revenue: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    lines: Counter[int] = Counter()
    for c in carts.values():
        ym = (int(c["date"][0:4]), int(c["date"][5:7]))
        for line in c["products"]:
            amount = Decimal(repr(line["quantity"] * price[line["productId"]]))
            revenue[ym] += amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            lines[c["id"]] += 1
    return {k: float(v) for k, v in revenue.items()}, dict(lines)


def actual(rows: list[dict[str, Any]]):
    revenue: dict[tuple[int, int], float] = defaultdict(float)
    lines: Counter[int] = Counter()
    for r in rows:
        revenue[(r["year"], r["month"])] += r["line_amount"]
        lines[r["cart_id"]] += 1
    return dict(revenue), dict(lines)


def assert_matches(rows, carts, products) -> None:
    want_rev, want_lines = expected(carts, products)
    got_rev, got_lines = actual(rows)
    assert got_lines == want_lines
    assert set(got_rev) == set(want_rev)
    for ym, v in want_rev.items():
        assert abs(got_rev[ym] - v) < 1e-6, (ym, got_rev[ym], v)


def test_fact_order_lines_incremental_idempotent_and_equal_to_python(spark, tmp_path: Path) -> None:
    lake = tmp_path
    products, users, carts = load_fixture("products"), load_fixture("users"), load_fixture("carts")
    by_id = {c["id"]: c for c in carts}
    for name, records in (("products", products), ("users", users), ("carts", carts)):
        src = ENTITIES[name]["source"]
        write_bronze(lake, src, *A, "1", [envelope(src, r, "2026-11-25T06:00:01.000Z") for r in records])
        silver(spark, lake, name, [A])

    # 1. First gold run for hour 06: every cart's month.
    s1 = s2g.run_silver_to_gold(spark, f"file://{lake}", [A])
    assert s1["months"] == ["2020-01", "2020-03"]
    rows = gold_rows(spark, lake)
    assert len(rows) == sum(len(c["products"]) for c in carts) == 14
    assert_matches(rows, by_id, products)
    assert gold_months(spark, lake) == [("2020", "1"), ("2020", "3")]
    assert sorted({k.split("/")[0] + "/" + k.split("/")[1] for k in gold_files(lake)}) == [
        "year=2020/month=1",
        "year=2020/month=3",
    ]
    assert [op for _, op in gold_snapshots(spark, lake)] == ["overwrite"]
    assert s1["snapshot_id"] == gold_snapshots(spark, lake)[-1][0]
    r = next(x for x in rows if x["cart_id"] == 1 and x["product_id"] == 1)
    users_by_id = {u["id"]: u for u in users}
    assert r["username"] == users_by_id[1]["username"] and r["product_title"] == products[0]["title"]
    assert (r["quantity"], r["unit_price"], r["line_amount"]) == (4, 109.95, 439.8)
    assert r["order_date"].isoformat() == "2020-03-02" and r["category"] == "men's clothing"
    gold_text = json.dumps(rows, default=str)
    assert not any(u[f] in gold_text for u in users for f in ("email", "phone", "password"))

    # 2. Hour 07: a new version of cart 2 moves it from January to March with another quantity.
    #    January must be recomputed too (cart 2 leaves it), though no cart of hour 07 is in January.
    cart2 = dict(by_id[2], date="2020-03-05T00:00:00.000Z", products=[{"productId": 2, "quantity": 1}])
    write_bronze(lake, "fakestore.carts", *B, "2", [envelope("fakestore.carts", cart2, "2026-11-25T07:00:01.000Z")])
    silver(spark, lake, "carts", [B])
    s2 = s2g.run_silver_to_gold(spark, f"file://{lake}", [B])
    assert s2["months"] == ["2020-01", "2020-03"]
    # Both months were replaced in one commit: one new snapshot, the previous one still readable.
    assert len(gold_snapshots(spark, lake)) == 2
    by_id[2] = cart2
    rows = gold_rows(spark, lake)
    assert_matches(rows, by_id, products)
    assert not any(x["cart_id"] == 2 and x["month"] == 1 for x in rows)

    # 3. Hour 08: only a March cart changes; January's files are not touched.
    cart5 = dict(by_id[5], products=[{"productId": 7, "quantity": 5}, {"productId": 8, "quantity": 2}])
    write_bronze(lake, "fakestore.carts", *C, "3", [envelope("fakestore.carts", cart5, "2026-11-25T08:00:01.000Z")])
    silver(spark, lake, "carts", [C])
    jan_before = {k: v for k, v in gold_files(lake).items() if k.startswith("year=2020/month=1/")}
    assert jan_before
    s3 = s2g.run_silver_to_gold(spark, f"file://{lake}", [C])
    assert s3["months"] == ["2020-03"] and s3["partitions_written"] == [["2020", "3"]]
    assert {k: v for k, v in gold_files(lake).items() if k.startswith("year=2020/month=1/")} == jan_before
    by_id[5] = cart5
    rows = gold_rows(spark, lake)
    assert_matches(rows, by_id, products)

    # 4. Re-runs (incremental and full rebuild) give the same gold.
    s2g.run_silver_to_gold(spark, f"file://{lake}", [C])
    assert gold_rows(spark, lake) == rows
    full = s2g.run_silver_to_gold(spark, f"file://{lake}", None)
    assert full["months"] == ["2020-01", "2020-03"] and full["partitions_deleted"] == []
    assert gold_rows(spark, lake) == rows
    assert len(rows) == 12  # 14 fixture lines; cart 2 now has one line instead of three

    # 5. Hour 09: the last January cart moves to March: January disappears in the same single commit
    #    that rewrites March.
    jan = [c for c in by_id.values() if c["date"].startswith("2020-01")]
    assert jan
    moved = [dict(c, date="2020-03-20T00:00:00.000Z") for c in jan]
    D = ("2026-11-25", "09")
    write_bronze(
        lake, "fakestore.carts", *D, "4", [envelope("fakestore.carts", c, "2026-11-25T09:00:01.000Z") for c in moved]
    )
    silver(spark, lake, "carts", [D])
    snaps = len(gold_snapshots(spark, lake))
    s5 = s2g.run_silver_to_gold(spark, f"file://{lake}", [D])
    assert s5["months"] == ["2020-01", "2020-03"]
    assert (s5["partitions_written"], s5["partitions_deleted"]) == ([["2020", "3"]], [["2020", "1"]])
    assert len(gold_snapshots(spark, lake)) == snaps + 1
    assert gold_months(spark, lake) == [("2020", "3")]
    by_id.update({c["id"]: c for c in moved})
    assert_matches(gold_rows(spark, lake), by_id, products)


def test_gold_schema_is_the_contract(spark, tmp_path: Path) -> None:
    carts = load_fixture("carts")[:1]
    src = "fakestore.carts"
    write_bronze(tmp_path, src, *A, "1", [envelope(src, c, "2026-11-25T06:00:01.000Z") for c in carts])
    silver(spark, tmp_path, "carts", [A])
    s = s2g.run_silver_to_gold(spark, f"file://{tmp_path}", None)
    assert s["rows_written"] == 3
    # The Iceberg table's own columns and types, its month partitions and its layer property.
    df = spark.read.format("iceberg").load(str(gold_dir(tmp_path)))
    assert [(f.name, f.dataType.simpleString()) for f in df.schema.fields] == list(s2g.GOLD_COLUMNS)
    ident = s2g.gold_table(spark, f"file://{tmp_path}")
    props = {r["key"]: r["value"] for r in spark.sql(f"SHOW TBLPROPERTIES {ident}").collect()}
    assert props["ingest.layer"] == "gold"
    assert gold_months(spark, tmp_path) == [("2020", "3")]
    # No products or users in silver: lines are kept with null product and user columns.
    assert {r["unit_price"] for r in df.collect()} == {None}


def test_table_files_gives_the_local_query_engine_gold_and_silver(spark, tmp_path: Path) -> None:
    """``src/glue/iceberg/table_files.py`` (the DuckDB engine's view source) names the layer of each
    table and the current snapshot's files: gold ``fact_order_lines`` holds exactly the lines."""
    import pyarrow.parquet as pq

    carts = load_fixture("carts")
    src = "fakestore.carts"
    write_bronze(tmp_path, src, *A, "1", [envelope(src, c, "2026-11-25T06:00:01.000Z") for c in carts])
    silver(spark, tmp_path, "carts", [A])
    s2g.run_silver_to_gold(spark, f"file://{tmp_path}", [A])
    spec = importlib.util.spec_from_file_location(
        "table_files", Path(__file__).resolve().parents[2] / "src" / "glue" / "iceberg" / "table_files.py"
    )
    assert spec and spec.loader
    table_files = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table_files)
    tables = table_files.lake_tables(str(tmp_path))
    assert {name: t["layer"] for name, t in tables.items()} == {
        "lake.silver_carts": "silver",
        "lake.fact_order_lines": "gold",
    }
    gold = tables["lake.fact_order_lines"]
    assert gold["snapshot"] == gold_snapshots(spark, tmp_path)[-1][0]
    assert sum(pq.read_metadata(f).num_rows for f in gold["files"]) == 14
