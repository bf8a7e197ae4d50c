"""Argument parsing and lake paths shared by the jobs (no Spark needed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

import lakelib
from conftest import JOBS


def test_parse_job_args_like_get_resolved_options() -> None:
    argv = ["job.py", "--JOB_NAME", "b2s", "--source", "a.b", "--hours=2026-11-25T06", "--flag", "--x", "1"]
    got = lakelib.parse_job_args(argv, ["JOB_NAME", "source", "hours"], {"x": None, "y": "dflt", "flag": "d"})
    assert got == {"JOB_NAME": "b2s", "source": "a.b", "hours": "2026-11-25T06", "x": "1", "y": "dflt", "flag": "d"}
    # JOB_NAME defaults to the script name outside Glue.
    assert lakelib.parse_job_args(["/p/silver_to_gold.py", "--lake_uri", "s3://b/p"], ["JOB_NAME", "lake_uri"])[
        "JOB_NAME"
    ] == "silver_to_gold"
    with pytest.raises(lakelib.JobArgumentError, match="--source, --hours"):
        lakelib.parse_job_args(["job.py"], ["JOB_NAME", "source", "hours"])


def test_parse_hours() -> None:
    assert lakelib.parse_hours("2026-11-25T07, 2026-11-25T06,,2026-11-25T07") == [
        ("2026-11-25", "06"),
        ("2026-11-25", "07"),
    ]
    assert lakelib.parse_hours(None) == [] and lakelib.parse_hours("") == []
    for bad in ("2026-11-25", "2026-11-25T24", "2026-11-25 06", "x"):
        with pytest.raises(lakelib.JobArgumentError, match="YYYY-MM-DDTHH"):
            lakelib.parse_hours(bad)


def test_normalize_lake_uri() -> None:
    assert lakelib.normalize_lake_uri("s3://bucket/prefix/") == "s3://bucket/prefix"
    assert lakelib.normalize_lake_uri("file:///abs/lake/") == "file:///abs/lake"
    assert lakelib.normalize_lake_uri("file://./data/lake") == "file://" + os.path.abspath("data/lake")
    assert lakelib.normalize_lake_uri("/abs/x") == "file:///abs/x"
    with pytest.raises(lakelib.JobArgumentError, match="unsupported scheme"):
        lakelib.normalize_lake_uri("s3a://bucket/x")
    with pytest.raises(lakelib.JobArgumentError):
        lakelib.normalize_lake_uri("")
    assert lakelib.lake_path("s3://b/p", "silver", "carts") == "s3://b/p/silver/carts"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux-only")
def test_die_with_parent_kills_the_job_when_its_parent_is_killed(tmp_path) -> None:
    """A job process whose parent is SIGKILLed dies too (PR_SET_PDEATHSIG), so no Spark is orphaned."""
    pidfile = tmp_path / "child.pid"
    child = (
        "import os, sys, time; sys.path.insert(0, %r); import lakelib; "
        "assert lakelib.die_with_parent(); open(%r, 'w').write(str(os.getpid())); time.sleep(60)"
    ) % (str(JOBS), str(pidfile))
    parent = (
        "import os, subprocess, sys, time; "
        "env = dict(os.environ, LAKE_PARENT_PID=str(os.getpid())); "
        "subprocess.Popen([sys.executable, '-c', %r], env=env); time.sleep(60)"
    ) % child
    proc = subprocess.Popen([sys.executable, "-c", parent])
    deadline = time.monotonic() + 20
    while not pidfile.exists() or not pidfile.read_text():
        assert time.monotonic() < deadline, "child did not start"
        time.sleep(0.05)
    pid = int(pidfile.read_text())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    while _alive(pid):
        assert time.monotonic() < deadline, "child outlived its SIGKILLed parent"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie waiting for init to reap it is dead for our purpose.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False
