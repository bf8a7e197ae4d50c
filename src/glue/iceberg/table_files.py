"""Parquet files holding the current snapshot of each Iceberg table of a local lake, for DuckDB.

``python table_files.py <lake_dir>`` prints one JSON object on stdout::

    {"tables": {"<database>.<table>": {"snapshot": 123 | null, "layer": "silver" | "gold",
                                       "files": ["/abs/x.parquet", ...]}}}

``layer`` is the table property ``ingest.layer`` (``gold`` on ``fact_order_lines``, written by
``silver_to_gold``), ``silver`` when the property is absent.

DuckDB extensions cannot be downloaded on these machines (issue 11), so DuckDB cannot read Iceberg
itself. This script reads each table of the Hadoop catalog at ``<lake_dir>/iceberg/<db>/<table>``
with pyiceberg (``StaticTable`` from the metadata file named by ``metadata/version-hint.text``):

- when the current snapshot's scan has no delete files, the data files it plans are exactly the
  table's rows, and their paths are returned (nothing copied);
- otherwise (merge-on-read position deletes, or an empty table) the scan is materialised once per
  snapshot with pyarrow into ``<lake_dir>/iceberg/.query/<db>.<table>/<snapshot>.parquet``, and that
  file is returned. Older materialisations of the table are removed.

Exit status 0; 1 with a message on stderr when a table cannot be read.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def _local(path: str) -> str:
    return path[len("file:") :] if path.startswith("file:") else path


def _metadata_file(table_dir: str) -> str | None:
    meta = os.path.join(table_dir, "metadata")
    hint = os.path.join(meta, "version-hint.text")
    if not os.path.isfile(hint):
        return None
    with open(hint, encoding="utf-8") as f:
        version = f.read().strip()
    path = os.path.join(meta, f"v{version}.metadata.json")
    return path if os.path.isfile(path) else None


def table_files(lake_dir: str, database: str, table: str) -> dict[str, Any] | None:
    """The current snapshot id and the Parquet files of one table; ``None`` when it has no metadata."""
    from pyiceberg.table import StaticTable

    table_dir = os.path.join(lake_dir, "iceberg", database, table)
    meta = _metadata_file(table_dir)
    if meta is None:
        return None
    tbl = StaticTable.from_metadata(f"file://{meta}")
    snap = tbl.current_snapshot()
    snapshot = None if snap is None else snap.snapshot_id
    found = {"snapshot": snapshot, "layer": tbl.properties.get("ingest.layer", "silver")}
    if snap is not None:
        tasks = list(tbl.scan().plan_files())
        if tasks and not any(t.delete_files for t in tasks):
            return {**found, "files": sorted(_local(t.file.file_path) for t in tasks)}
    import pyarrow.parquet as pq

    out_dir = os.path.join(lake_dir, "iceberg", ".query", f"{database}.{table}")
    out = os.path.join(out_dir, f"{snapshot or 0}.parquet")
    if not os.path.isfile(out):
        os.makedirs(out_dir, exist_ok=True)
        tmp = f"{out}.{os.getpid()}.tmp"
        pq.write_table(tbl.scan().to_arrow(), tmp)
        os.replace(tmp, out)
        for old in os.listdir(out_dir):
            if old.endswith(".parquet") and os.path.join(out_dir, old) != out:
                os.remove(os.path.join(out_dir, old))
    return {**found, "files": [out]}


def lake_tables(lake_dir: str) -> dict[str, dict[str, Any]]:
    """Every ``<database>.<table>`` under ``<lake_dir>/iceberg`` with its files."""
    root = os.path.join(lake_dir, "iceberg")
    found: dict[str, dict[str, Any]] = {}
    if not os.path.isdir(root):
        return found
    for database in sorted(os.listdir(root)):
        if database.startswith(".") or not os.path.isdir(os.path.join(root, database)):
            continue
        for table in sorted(os.listdir(os.path.join(root, database))):
            files = table_files(lake_dir, database, table)
            if files is not None:
                found[f"{database}.{table}"] = files
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: table_files.py <lake_dir>\n")
        return 2
    try:
        tables = lake_tables(argv[1])
    except Exception as err:  # noqa: BLE001 - reported to the caller
        sys.stderr.write(f"table_files: {type(err).__name__}: {err}\n")
        return 1
    sys.stdout.write(json.dumps({"tables": tables}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
