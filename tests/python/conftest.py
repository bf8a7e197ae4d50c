"""Shared fixtures of the Glue job tests: one local SparkSession for the whole run (local[2], two
shuffle partitions, UI off), the job modules on ``sys.path`` as Glue's ``--extra-py-files`` would
put them, and helpers that turn the recorded FakeStore fixtures into bronze envelopes."""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Iterable

import pytest

ROOT = Path(__file__).resolve().parents[2]
JOBS = ROOT / "src" / "glue" / "jobs"
FIXTURES = ROOT / "fixtures" / "fakestore"
sys.path.insert(0, str(JOBS))

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

#: The entity mappings of config/local.yaml (lake.entities) for the FakeStore sources.
ENTITIES: dict[str, dict[str, Any]] = {
    "products": {
        "source": "fakestore.products",
        "entity": "products",
        "key": ["product_id"],
        "columns": [
            {"name": "product_id", "path": "id", "type": "bigint"},
            {"name": "title", "path": "title"},
            {"name": "price", "path": "price", "type": "double"},
            {"name": "category", "path": "category"},
            {"name": "description", "path": "description"},
            {"name": "rating_rate", "path": "rating.rate", "type": "double"},
            {"name": "rating_count", "path": "rating.count", "type": "bigint"},
        ],
    },
    "carts": {
        "source": "fakestore.carts",
        "entity": "carts",
        "key": ["cart_id"],
        "columns": [
            {"name": "cart_id", "path": "id", "type": "bigint"},
            {"name": "user_id", "path": "userId", "type": "bigint"},
            {"name": "cart_date", "path": "date", "type": "timestamp"},
            {
                "name": "products",
                "path": "products",
                "type": "array<struct<productId:bigint,quantity:bigint>>",
            },
        ],
    },
    "users": {
        "source": "fakestore.users",
        "entity": "users",
        "key": ["user_id"],
        "columns": [
            {"name": "user_id", "path": "id", "type": "bigint"},
            {"name": "username", "path": "username"},
            {"name": "email", "path": "email", "pii": True},
            {"name": "phone", "path": "phone", "pii": True},
            {"name": "password", "path": "password", "pii": True},
            {"name": "first_name", "path": "name.firstname"},
            {"name": "last_name", "path": "name.lastname"},
            {"name": "city", "path": "address.city"},
        ],
    },
}

PII_KEY = b"test-pii-key-\xc3\xa9"  # UTF-8 text with a non-ASCII character


def load_fixture(entity: str) -> list[dict[str, Any]]:
    """The recorded FakeStore array (``products``, ``carts`` or ``users``), a fresh deep copy."""
    return copy.deepcopy(json.loads((FIXTURES / f"{entity}_raw.json").read_text("utf-8")))


def record_id(payload: dict[str, Any]) -> str:
    """The envelope id of a keyed source without version field (ADR 0003, ``src/envelope.ts``):
    ``<id>@sha256:<first 32 hex of the canonical payload hash>``."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"{payload['id']}@sha256:{hashlib.sha256(canonical.encode('utf-8')).hexdigest()[:32]}"


def envelope(source: str, payload: dict[str, Any], ingested_at: str, event_field: str | None = None):
    env: dict[str, Any] = {"source": source, "id": record_id(payload), "ingested_at": ingested_at}
    if event_field and payload.get(event_field):
        env["event_time"] = payload[event_field]
    env["payload"] = payload
    return env


def write_bronze(
    lake: Path, source: str, dt: str, hour: str, obj: str, lines: Iterable[Any]
) -> Path:
    """Writes one bronze object (gzip NDJSON) like the bronze writer; ``lines`` are envelopes (dicts)
    or raw strings (written as is, for malformed input)."""
    d = lake / "bronze" / f"source={source}" / f"dt={dt}" / f"hour={hour}"
    d.mkdir(parents=True, exist_ok=True)
    p = d / f"ingest-shardId-000000000000-{obj}.json.gz"
    text = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
    p.write_bytes(gzip.compress(text.encode("utf-8")))
    return p


@pytest.fixture(scope="session")
def spark():
    import lakelib

    session = lakelib.local_spark_session("glue-job-tests")
    yield session
    session.stop()
