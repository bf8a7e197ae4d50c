"""The local lake's job server: one long-lived SparkSession (one JVM) that runs Glue job scripts.

Started by the local Glue executor (``src/glue/local/job-server.ts``) with the project venv's Python.
Starting Spark's JVM costs most of a short local job's time, so every job run of the process shares
this one session instead of a ``spark-submit`` each. In AWS, Glue still starts each job on its own.

Protocol: JSON lines. stdin carries requests, this process's original stdout carries replies (every
other output, the jobs' prints and Spark's logs included, goes to stderr):

- once the session is up: ``{"ready": true, "pid": <pid>, "startup_secs": <float>}``; when it cannot
  start: ``{"fatal": "<message>"}``, then exit status 2;
- request ``{"id": "<run id>", "script": "<path of the job .py>", "argv": ["--JOB_NAME", "job", ...]}``
  → reply ``{"id": ..., "ok": true, "summary": {...} | null, "secs": <float>}`` or
  ``{"id": ..., "ok": false, "error": "<Type>: <message>", "traceback": "...", "secs": <float>}``;
  ``"exiting": true`` in a reply says the session broke and the process exits next.

A job script must define ``main(argv, spark)`` (``argv`` as ``sys.argv`` would be); its return value
(a dict) is the run's summary. Each run gets, so one run cannot leak into the next:

- its own session, ``spark.newSession()`` (own SQL confs, temporary views and functions; the
  SparkContext and the JVM are shared);
- its own fresh copy of the script module (loaded from the file each time);
- its own Spark job group (the run id);
- a cleared cache once no run is in flight (cached tables live in the shared context).

Runs are concurrent (one thread each); the executor enforces ``MaxConcurrentRuns``. When the session
is found broken after a failed run (the JVM died or the SparkContext stopped), the reply is sent and
the process exits with status 3, so the executor starts a fresh server. The process exits when stdin
closes (its parent is gone) and, through :func:`lakelib.die_with_parent`, when its parent dies.

With ``LAKE_JOB_SERVER_WARM_UP=1`` (the executor's ``prestart``) it runs :func:`warm_up` once the
session is up, beside any run.

Environment: what :func:`lakelib.local_spark_session` reads, plus ``LAKE_SPARK_DRIVER_MEMORY``
(default ``512m``) and ``LAKE_SPARK_JAVA_OPTIONS`` (the driver JVM's options; default
``-XX:TieredStopAtLevel=1 -XX:+UseSerialGC``: the client compiler only and one GC thread start a JVM
faster, which pays for the small data of a local lake).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable, TextIO

JOBS_DIR = Path(__file__).resolve().parents[1] / "jobs"
DEFAULT_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
TRACEBACK_CHARS = 4000


class JobScriptError(Exception):
    """A job script cannot be run by the server (no ``main(argv, spark)``)."""


def protocol_stream() -> TextIO:
    """Keeps the original stdout for replies and points file descriptor 1 at stderr, so nothing else
    (a job's ``print``, the JVM's output) can corrupt the reply stream."""
    out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return out


def submit_args(environ: dict[str, str] | os._Environ[str] = os.environ) -> str:
    """``PYSPARK_SUBMIT_ARGS`` for the driver JVM: heap and JVM options, then any given ones."""
    memory = environ.get("LAKE_SPARK_DRIVER_MEMORY", "512m")
    java = environ.get("LAKE_SPARK_JAVA_OPTIONS", DEFAULT_JAVA_OPTIONS)
    given = environ.get("PYSPARK_SUBMIT_ARGS", "pyspark-shell").strip() or "pyspark-shell"
    return f'--driver-memory {memory} --driver-java-options "{java}" {given}'


def load_main(script: str, run_id: str) -> Callable[..., Any]:
    """A fresh copy of the script module (executed from the file now) and its ``main``.

    Raises:
        JobScriptError: the script defines no ``main`` with a ``spark`` parameter.
    """
    import inspect

    name = f"lake_job_{run_id}"
    spec = importlib.util.spec_from_file_location(name, script)
    if spec is None or spec.loader is None:
        raise JobScriptError(f"cannot load {script}")
    module = importlib.util.module_from_spec(spec)
    # Registered while it loads: dataclasses resolve string annotations through sys.modules.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    main = getattr(module, "main", None)
    if not callable(main) or "spark" not in inspect.signature(main).parameters:
        raise JobScriptError(f"{script} has no main(argv, spark) entry point")
    return main


def warm_up(spark: Any) -> float:
    """Runs what the lake's jobs run first, on a few rows in a temporary folder: gzipped JSON lines
    read as text, ``from_json``, a window, a partitioned Parquet write and its read back. A JVM
    loads and compiles those classes once; done while nothing else waits (``ingest local`` lands
    bronze meanwhile), the first real job does not pay for it. Returns its seconds."""
    import gzip
    import shutil
    import tempfile

    from pyspark.sql import Window
    from pyspark.sql import functions as F

    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="lake-job-server-warm-up-"))
    try:
        src = root / "in" / "dt=2000-01-01" / "hour=00"
        src.mkdir(parents=True)
        lines = [json.dumps({"id": str(i % 3), "n": i, "at": "2000-01-01T00:00:00Z"}) for i in range(6)]
        (src / "part.json.gz").write_bytes(gzip.compress("\n".join(lines).encode()))
        session = spark.newSession()
        df = session.read.option("pathGlobFilter", "*.json.gz").text(str(src))
        parsed = df.select(
            F.from_json("value", "id string, n bigint, at string").alias("e"),
            F.regexp_extract(F.input_file_name(), r"/dt=([^/]+)/", 1).alias("dt"),
        ).select("e.*", F.expr("try_cast(at AS TIMESTAMP)").alias("ts"), "dt")
        latest = (
            parsed.withColumn("rn", F.row_number().over(Window.partitionBy("id").orderBy(F.col("n").desc())))
            .filter("rn = 1")
            .drop("rn")
        )
        out = str(root / "out")
        latest.repartition("dt").write.mode("overwrite").partitionBy("dt").parquet(out)
        session.read.parquet(out).groupBy("dt").count().collect()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return round(time.monotonic() - started, 3)


def session_broken(spark: Any) -> bool:
    """Whether the shared session can no longer run jobs (JVM gone or SparkContext stopped)."""
    try:
        return bool(spark.sparkContext._jsc.sc().isStopped())
    except Exception:  # noqa: BLE001 - any failure to ask means the gateway or the JVM is gone
        return True


class JobServer:
    """Runs requests on one shared session; see the module docstring."""

    def __init__(self, spark: Any, out: TextIO) -> None:
        self.spark = spark
        self.out = out
        self.lock = threading.Lock()
        self.in_flight = 0

    def reply(self, message: dict[str, Any]) -> None:
        line = json.dumps(message, sort_keys=True, default=str)
        with self.lock:
            self.out.write(line + "\n")
            self.out.flush()

    def run(self, request: dict[str, Any]) -> dict[str, Any]:
        """Runs one request to its reply (never raises)."""
        run_id = str(request.get("id", ""))
        started = time.monotonic()
        with self.lock:
            self.in_flight += 1
        session = None
        try:
            script = request["script"]
            argv = [str(script), *(str(a) for a in request.get("argv", []))]
            main = load_main(str(script), run_id)
            session = self.spark.newSession()
            session.sparkContext.setJobGroup(run_id, f"{Path(script).stem} {run_id}", True)
            summary = main(argv, spark=session)
            return {
                "id": run_id,
                "ok": True,
                "summary": summary if isinstance(summary, dict) else None,
                "secs": round(time.monotonic() - started, 3),
            }
        except BaseException as err:  # noqa: BLE001 - a job's failure (SystemExit too) is its reply
            tb = traceback.format_exc()
            return {
                "id": run_id,
                "ok": False,
                "error": f"{type(err).__name__}: {err}",
                "traceback": tb[-TRACEBACK_CHARS:],
                "secs": round(time.monotonic() - started, 3),
            }
        finally:
            # Under the lock, so no run starts (and persists) while the cache is being cleared.
            with self.lock:
                self.in_flight -= 1
                if self.in_flight == 0 and not session_broken(self.spark):
                    try:
                        self.spark.catalog.clearCache()
                    except Exception:  # noqa: BLE001 - serve_one checks the session next
                        pass

    def warm_up(self) -> None:
        """:func:`warm_up` as a run of its own (it counts as in flight, so the cache is not cleared
        under it); its outcome only goes to stderr."""
        with self.lock:
            self.in_flight += 1
        try:
            sys.stderr.write(f"job server: warmed up in {warm_up(self.spark)} s\n")
        except Exception:  # noqa: BLE001 - a failed warm-up costs nothing but its time
            sys.stderr.write("job server: warm-up failed:\n" + traceback.format_exc())
        finally:
            with self.lock:
                self.in_flight -= 1

    def serve_one(self, request: dict[str, Any]) -> None:
        """Runs a request and replies; exits the process (status 3) when the session broke, after
        saying so in the reply (``"exiting": true``), so no further run is sent here."""
        reply = self.run(request)
        broken = session_broken(self.spark)
        if broken:
            reply["exiting"] = True
        self.reply(reply)
        if broken:
            sys.stderr.write("job server: the Spark session is broken; exiting for a restart\n")
            sys.stderr.flush()
            os._exit(3)

    def serve(self, lines: Any) -> None:
        """Reads requests until EOF, each run on its own thread."""
        for line in lines:
            if not line.strip():
                continue
            try:
                request = json.loads(line)
            except ValueError as err:
                self.reply({"ok": False, "error": f"bad request line: {err}"})
                continue
            threading.Thread(target=self.serve_one, args=(request,), daemon=True).start()


def main() -> None:
    out = protocol_stream()
    started = time.monotonic()
    sys.path.insert(0, str(JOBS_DIR))
    try:
        import lakelib

        lakelib.die_with_parent()
        os.environ["PYSPARK_SUBMIT_ARGS"] = submit_args()
        spark = lakelib.local_spark_session("lake-job-server")
    except BaseException as err:  # noqa: BLE001 - reported as the server's one fatal line
        hint = " (run make venv)" if isinstance(err, ImportError) else ""
        traceback.print_exc()
        out.write(json.dumps({"fatal": f"{type(err).__name__}: {err}{hint}"}) + "\n")
        out.flush()
        os._exit(2)
    server = JobServer(spark, out)
    server.reply(
        {"ready": True, "pid": os.getpid(), "startup_secs": round(time.monotonic() - started, 3)}
    )
    if os.environ.get("LAKE_JOB_SERVER_WARM_UP") == "1":
        threading.Thread(target=server.warm_up, daemon=True).start()
    server.serve(sys.stdin)
    # stdin closed: the executor is gone or done. Threads still running die with the process.
    os._exit(0)


if __name__ == "__main__":
    main()
