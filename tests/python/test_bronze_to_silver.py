"""bronze_to_silver on the recorded FakeStore fixtures: typing, exactly-once dedup across repeated and
overlapping runs, PII hashing."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import ENTITIES, PII_KEY, envelope, load_fixture, record_id, write_bronze

import bronze_to_silver as b2s
import lakelib

A = ("2026-11-25", "06")
B = ("2026-11-25", "07")


def ts(hour: str, second: int) -> str:
    return f"2026-11-25T{hour}:00:{second:02d}.000Z"


def run(spark, lake: Path, entity: str, hours, key: bytes | None = PII_KEY) -> dict[str, Any]:
    ent = b2s.parse_entity(json.dumps(ENTITIES[entity]))
    return b2s.run_bronze_to_silver(spark, f"file://{lake}", ent.source, list(hours), ent, key)


def silver_root(lake: Path, entity: str) -> Path:
    return lake / "iceberg" / "lake" / f"silver_{entity}"


def silver_rows(spark, lake: Path, entity: str) -> list[dict[str, Any]]:
    path = silver_root(lake, entity)
    if not path.exists():
        return []
    return [r.asDict(recursive=True) for r in spark.read.format("iceberg").load(str(path)).collect()]


def assert_exactly_once(rows: list[dict[str, Any]], expected_ids: set[str]) -> None:
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), f"duplicate ids in silver: {sorted(ids)}"
    assert set(ids) == expected_ids


def cart_change_2(carts: list[dict[str, Any]]) -> dict[str, Any]:
    """A new version of cart 2: other date (Jan → Mar 2020) and quantity, hence a new id."""
    c = dict(next(c for c in carts if c["id"] == 2))
    c["date"] = "2020-03-05T00:00:00.000Z"
    c["products"] = [dict(p) for p in c["products"]]
    c["products"][1]["quantity"] = 3
    return c


def test_carts_typed_and_exactly_once_across_reruns_and_overlaps(spark, tmp_path: Path) -> None:
    carts = load_fixture("carts")
    changed = cart_change_2(carts)
    src = "fakestore.carts"
    write_bronze(tmp_path, src, *A, "100", [envelope(src, c, ts("06", 1), "date") for c in carts])
    # At-least-once: the same envelopes again in a second object of the same hour, ingested later.
    write_bronze(tmp_path, src, *A, "200", [envelope(src, c, ts("06", 9), "date") for c in carts[:3]])
    # The next hour: every record again (same ids), plus a changed version of cart 2 (new id).
    # The new version of cart 2 is polled after the repeat of its old one (same hour, later).
    write_bronze(
        tmp_path,
        src,
        *B,
        "300",
        [envelope(src, c, ts("07", 1), "date") for c in carts] + [envelope(src, changed, ts("07", 5), "date")],
    )
    first_ids = {record_id(c) for c in carts}
    all_ids = first_ids | {record_id(changed)}
    assert len(all_ids) == 8

    s1 = run(spark, tmp_path, "carts", [A])
    assert (s1["rows_read"], s1["duplicates_in_input"], s1["rows_inserted"]) == (10, 3, 7)
    assert s1["rows_merged"] == 7 and s1["rows_updated"] == 0
    rows = silver_rows(spark, tmp_path, "carts")
    assert_exactly_once(rows, first_ids)
    # Latest ingested_at wins within the input; typed columns come from the mapping.
    c1 = next(r for r in rows if r["cart_id"] == 1)
    assert c1["ingested_at"].isoformat() == "2026-11-25T06:00:09"
    assert c1["user_id"] == 1 and c1["cart_date"].isoformat() == "2020-03-02T00:00:00"
    assert c1["event_time"].isoformat() == "2020-03-02T00:00:00"
    assert [(p["productId"], p["quantity"]) for p in c1["products"]] == [(1, 4), (2, 1), (3, 6)]
    assert (c1["dt"], c1["hour"]) == A

    # Re-running the same hour: nothing inserted or updated.
    s2 = run(spark, tmp_path, "carts", [A])
    assert (s2["rows_inserted"], s2["rows_updated"]) == (0, 0)
    assert_exactly_once(silver_rows(spark, tmp_path, "carts"), first_ids)

    # Overlapping hours: the later copies win (later ingested_at) and carry hour 07; cart 2's new
    # version replaces the old one: silver is the current state, one row per cart.
    s3 = run(spark, tmp_path, "carts", [A, B])
    # 18 valid rows (10 of hour 06, 8 of hour 07) for 7 carts.
    assert s3["duplicates_in_input"] == 18 - 7
    assert (s3["rows_inserted"], s3["rows_updated"]) == (0, 7)
    rows = silver_rows(spark, tmp_path, "carts")
    assert_exactly_once(rows, (first_ids - {record_id(carts[1])}) | {record_id(changed)})
    assert {(r["dt"], r["hour"]) for r in rows} == {B}
    assert [r["cart_date"].month for r in rows if r["cart_id"] == 2] == [3]

    # Any later run of either hour, alone or together, changes nothing.
    for hours in ([B], [A], [A, B]):
        s = run(spark, tmp_path, "carts", hours)
        assert (s["rows_inserted"], s["rows_updated"]) == (0, 0)
    assert sorted(silver_rows(spark, tmp_path, "carts"), key=lambda r: r["cart_id"]) == sorted(
        rows, key=lambda r: r["cart_id"]
    )


def test_products_result_does_not_depend_on_run_order_and_bad_input_never_fails(
    spark, tmp_path: Path
) -> None:
    products = load_fixture("products")
    bad = {"id": 999, "title": "broken", "price": "not-a-number", "rating": {"rate": "x", "count": 7}}
    src = "fakestore.products"
    malformed = ["not json at all", json.dumps({"source": src, "payload": {"id": 1}})]
    lakes = [tmp_path / "ab", tmp_path / "ba"]
    for lake in lakes:
        write_bronze(lake, src, *A, "1", [envelope(src, p, ts("06", 1)) for p in products + [bad]] + malformed)
        write_bronze(lake, src, *B, "2", [envelope(src, p, ts("07", 1)) for p in products[:5]])

    first = run(spark, lakes[0], "products", [A])
    assert first["rows_read"] == 23 and first["rows_invalid"] == 2 and first["rows_inserted"] == 21
    run(spark, lakes[0], "products", [B])
    run(spark, lakes[1], "products", [B])
    run(spark, lakes[1], "products", [A])
    run(spark, lakes[1], "products", [A, B])

    def key(r: dict[str, Any]) -> str:
        return r["id"]

    ab = sorted(silver_rows(spark, lakes[0], "products"), key=key)
    ba = sorted(silver_rows(spark, lakes[1], "products"), key=key)
    assert ab == ba
    assert_exactly_once(ab, {record_id(p) for p in products + [bad]})
    # The five re-ingested products live in hour 07 (latest copy), the others in hour 06.
    assert sum(1 for r in ab if r["hour"] == "07") == 5
    broken = next(r for r in ab if r["product_id"] == 999)
    assert broken["price"] is None and broken["rating_rate"] is None and broken["rating_count"] == 7
    assert broken["title"] == "broken" and broken["category"] is None
    p1 = next(r for r in ab if r["product_id"] == 1)
    assert (p1["price"], p1["rating_rate"], p1["rating_count"]) == (109.95, 3.9, 120)


def _all_parquet_values(spark, root: Path) -> list[str]:
    """Every value of every column of every Parquet file under root, as text (nested values too)."""
    out: list[str] = []
    for f in sorted(root.rglob("*.parquet")):
        for row in spark.read.parquet(f"file://{f}").collect():
            out.extend(json.dumps(v, default=str) for v in row.asDict(recursive=True).values())
    return out


def test_users_pii_is_hashed_and_never_in_clear(spark, tmp_path: Path) -> None:
    users = load_fixture("users")
    src = "fakestore.users"
    write_bronze(tmp_path, src, *A, "1", [envelope(src, u, ts("06", 1)) for u in users])
    write_bronze(tmp_path, src, *B, "2", [envelope(src, u, ts("07", 1)) for u in users[:4]])
    run(spark, tmp_path, "users", [A])
    run(spark, tmp_path, "users", [A, B])

    rows = silver_rows(spark, tmp_path, "users")
    assert_exactly_once(rows, {record_id(u) for u in users})
    by_id = {u["id"]: u for u in users}

    def h(text: str) -> str:
        return hmac.new(PII_KEY, text.encode("utf-8"), hashlib.sha256).hexdigest()

    for r in rows:
        u = by_id[r["user_id"]]
        assert (r["email"], r["phone"], r["password"]) == (h(u["email"]), h(u["phone"]), h(u["password"]))
        assert (r["username"], r["city"], r["first_name"]) == (
            u["username"],
            u["address"]["city"],
            u["name"]["firstname"],
        )

    clear = [u[f] for u in users for f in ("email", "phone", "password")]
    root = silver_root(tmp_path, "users")
    values = _all_parquet_values(spark, root)
    assert len(values) >= len(users) * 12
    leaked = [c for c in clear if any(c in v for v in values)]
    assert leaked == []
    raw = b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())
    assert [c for c in clear if c.encode("utf-8") in raw] == []


def test_hmac_column_matches_python_hmac(spark) -> None:
    from pyspark.sql import functions as F

    texts = ["john@gmail.com", "", "ünïcødé ✓", "x" * 200]
    long_key = b"k" * 100  # longer than the SHA-256 block: hashed first (RFC 2104)
    for key in (PII_KEY, long_key):
        df = spark.createDataFrame([(t,) for t in texts] + [(None,)], "t string")
        got = [r["h"] for r in df.select(b2s.hmac_sha256_hex(F.col("t"), key).alias("h")).collect()]
        want = [hmac.new(key, t.encode("utf-8"), hashlib.sha256).hexdigest() for t in texts] + [None]
        assert got == want


def test_missing_pii_key_fails_before_spark(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LAKE_TEST_KEY", raising=False)
    argv = [
        "bronze_to_silver.py",
        "--JOB_NAME", "bronze_to_silver",
        "--source", "fakestore.users",
        "--hours", "2026-11-25T06",
        "--lake_uri", f"file://{tmp_path}",
        "--entity_json", json.dumps(ENTITIES["users"]),
        "--pii_key_env", "LAKE_TEST_KEY",
    ]
    with pytest.raises(b2s.PiiKeyError, match="LAKE_TEST_KEY.*email, phone, password"):
        b2s.main(argv)
    monkeypatch.setenv("LAKE_TEST_KEY", "")
    with pytest.raises(b2s.PiiKeyError):
        b2s.main(argv)
    # An entity without PII columns needs no key.
    ent = b2s.parse_entity(json.dumps(ENTITIES["carts"]))
    assert b2s.resolve_pii_key(ent, "LAKE_TEST_KEY", environ={}) is None
    assert b2s.resolve_pii_key(b2s.parse_entity(json.dumps(ENTITIES["users"])), "K", environ={"K": "é"}) == "é".encode()


def test_missing_hours_are_reported_not_fatal(spark, tmp_path: Path) -> None:
    s = run(spark, tmp_path, "carts", [("2026-11-25", "05")])
    assert s["hours_missing"] == ["2026-11-25T05"]
    assert (s["rows_read"], s["rows_merged"], s["rows_inserted"]) == (0, 0, 0)
    assert silver_rows(spark, tmp_path, "carts") == []


@pytest.mark.parametrize(
    ("entity_json", "message"),
    [
        ("nope", "not JSON"),
        (json.dumps({"source": "s", "entity": "Bad", "columns": [{"name": "a", "path": "a"}]}), "'entity'"),
        (json.dumps({"source": "s", "entity": "e", "columns": []}), "non-empty list"),
        (json.dumps({"source": "s", "entity": "e", "columns": [{"name": "id", "path": "a"}]}), "reserved"),
        (
            json.dumps({"source": "s", "entity": "e", "columns": [{"name": "a", "path": "a", "pii": "yes"}]}),
            "pii must be a boolean",
        ),
    ],
)
def test_entity_json_is_validated(entity_json: str, message: str) -> None:
    with pytest.raises(lakelib.JobArgumentError, match=message):
        b2s.parse_entity(entity_json)


def test_json_path_and_defaults() -> None:
    assert b2s.json_path("rating.rate") == "$['rating']['rate']"
    assert b2s.json_path("items.0.id") == "$['items'][0]['id']"
    ent = b2s.parse_entity(json.dumps({"source": "s", "entity": "e", "columns": [{"name": "a", "path": "x"}]}))
    assert ent.columns[0].type == "string" and ent.columns[0].pii is False
    assert (ent.key, ent.version_column, ent.history) == (("id",), None, False)


def test_key_and_version_are_validated() -> None:
    base = {"source": "s", "entity": "e", "columns": [{"name": "a", "path": "x"}, {"name": "p", "path": "p", "pii": True}]}
    with pytest.raises(lakelib.JobArgumentError, match="'key'"):
        b2s.parse_entity(json.dumps({**base, "key": ["nope"]}))
    with pytest.raises(lakelib.JobArgumentError, match="versionColumn"):
        b2s.parse_entity(json.dumps({**base, "versionColumn": "nope"}))
    with pytest.raises(lakelib.JobArgumentError, match="PII"):
        b2s.parse_entity(json.dumps({**base, "key": ["p"]}))
