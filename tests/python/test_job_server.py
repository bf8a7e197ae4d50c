"""The local job server's plumbing (src/glue/local/job_server.py): the driver JVM's submit arguments,
loading a fresh job module per run, and a run's reply on the shared session (a failed run is that
run's reply and leaves no temporary view or cache for the next one). The server process itself (JSON
lines, restart after a crash) is tested from TypeScript in src/glue/local/executor.test.ts."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src" / "glue" / "local"))

import job_server  # noqa: E402


def test_submit_args_defaults_and_overrides() -> None:
    assert job_server.submit_args({}) == (
        '--driver-memory 512m --driver-java-options "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC" '
        "pyspark-shell"
    )
    env = {
        "LAKE_SPARK_DRIVER_MEMORY": "1g",
        "LAKE_SPARK_JAVA_OPTIONS": "-Xss4m",
        "PYSPARK_SUBMIT_ARGS": "--jars a.jar pyspark-shell",
    }
    assert job_server.submit_args(env) == (
        '--driver-memory 1g --driver-java-options "-Xss4m" --jars a.jar pyspark-shell'
    )


def test_load_main_is_fresh_per_run_and_needs_spark(tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text("CALLS = []\ndef main(argv, spark):\n    CALLS.append(1)\n    return len(CALLS)\n")
    assert job_server.load_main(str(script), "a")([], spark=None) == 1
    # A fresh module each run: module state does not carry over.
    assert job_server.load_main(str(script), "b")([], spark=None) == 1
    assert not any(m.startswith("lake_job_") for m in sys.modules)
    bare = tmp_path / "bare.py"
    bare.write_text("def main(argv):\n    return {}\n")
    with pytest.raises(job_server.JobScriptError, match=r"no main\(argv, spark\)"):
        job_server.load_main(str(bare), "c")


def test_a_failed_run_is_its_reply_and_leaves_nothing(spark, tmp_path: Path) -> None:
    out = io.StringIO()
    server = job_server.JobServer(spark, out)
    dirty = tmp_path / "dirty.py"
    dirty.write_text(
        "def main(argv, spark):\n"
        "    spark.range(3).createOrReplaceTempView('leftover')\n"
        "    spark.table('leftover').cache().count()\n"
        "    raise ValueError('bad ' + argv[2])\n"
    )
    probe = tmp_path / "probe.py"
    probe.write_text(
        "def main(argv, spark):\n"
        "    return {'views': [t.name for t in spark.catalog.listTables() if t.isTemporary],\n"
        "            'cached': spark.sparkContext._jsc.getPersistentRDDs().size()}\n"
    )
    server.serve_one({"id": "r1", "script": str(dirty), "argv": ["--JOB_NAME", "dirty"]})
    server.serve_one({"id": "r2", "script": str(probe), "argv": []})
    server.serve_one({"id": "r3", "script": str(tmp_path / "missing.py"), "argv": []})
    replies = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["id"] for r in replies] == ["r1", "r2", "r3"]
    assert replies[0]["ok"] is False
    assert replies[0]["error"] == "ValueError: bad dirty"
    assert "Traceback" in replies[0]["traceback"]
    assert replies[1] == {"id": "r2", "ok": True, "summary": {"views": [], "cached": 0}, "secs": replies[1]["secs"]}
    assert replies[2]["ok"] is False and "missing.py" in replies[2]["error"]


def test_warm_up_runs_and_cleans_up(spark) -> None:
    import tempfile

    before = set(Path(tempfile.gettempdir()).glob("lake-job-server-warm-up-*"))
    assert job_server.warm_up(spark) > 0
    assert set(Path(tempfile.gettempdir()).glob("lake-job-server-warm-up-*")) == before
