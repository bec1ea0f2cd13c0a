"""Runs end properly however their process ends: SIGTERM, SIGKILL, exit, uncaught errors."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text

import jupyter_mlops as mlops
from jupyter_mlops.tracking.store import STALE_GRACE_MS, STALE_HEARTBEATS, now_ms, open_store

from .conftest import PYTHON, python_env
from .helpers.waiting import wait_until

HELPER = Path(__file__).parent / "helpers" / "log_points.py"


def store_uri(db_path: Path) -> str:
    """The store the test's ``backend`` chose: a PostgreSQL URL in the environment, or the SQLite file."""
    return os.environ.get("MLOPS_TRACKING_URI") or str(db_path)


def query(sql: str, **params) -> list[tuple]:
    """Plain SQL against the test's store, whichever back end it is."""
    with open_store().engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def start_writer(project: Path, db_path: Path, *, flush: float, heartbeat: float = 10.0, ready_after: int = 0):
    """A child logging 2000 points/s into one run; returned with the run id once it has logged
    ``ready_after`` points."""
    ready = project / "ready"
    env = python_env(MLOPS_TRACKING_URI=store_uri(db_path), MLOPS_FLUSH_INTERVAL=flush,
                     MLOPS_HEARTBEAT_INTERVAL=heartbeat)
    proc = subprocess.Popen([PYTHON, str(HELPER), "1000000", "--rate", "2000", "--ready", str(ready),
                             "--ready-after", str(ready_after)],
                            env=env, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def started() -> bool:
        assert proc.poll() is None, proc.communicate()
        return ready.exists()

    try:
        wait_until(started, f"the writer logging {ready_after} points")
    except BaseException:
        proc.kill()
        raise
    return proc, ready.read_text()


def steps_logged(run_id: str) -> list[int]:
    return [s for (s,) in query("SELECT step FROM metrics WHERE run_uuid = :r ORDER BY step", r=run_id)]


def points_stored(run_id: str) -> int:
    return query("SELECT count(*) FROM metrics WHERE run_uuid = :r", r=run_id)[0][0]


@pytest.mark.usefixtures("backend")
def test_sigterm_loses_no_points_and_marks_killed(project, db_path):
    """The writer never flushes by itself here (an hour's interval): whatever is in the store after
    SIGTERM was written by the signal handler."""
    logged_before = 500
    proc, run_id = start_writer(project, db_path, flush=3600, ready_after=logged_before)
    try:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGTERM  # still dies of the signal
    steps = steps_logged(run_id)
    assert len(steps) >= logged_before  # every point logged before the signal...
    assert steps == list(range(len(steps)))  # ...and every one after them up to the last, no gap
    record = mlops.get_run(run_id)
    assert record.status == "KILLED"
    assert record.metrics["value"] == steps[-1]


@pytest.mark.usefixtures("backend")
def test_sigkill_loses_only_unflushed_points_and_shows_crashed_after_the_stale_heartbeats(project, db_path):
    """SIGKILL leaves the process no word: what the writer flushed while it ran stays, with no hole,
    and readers call the run CRASHED once its heartbeat is older than STALE_HEARTBEATS intervals
    plus STALE_GRACE_MS, and not before."""
    heartbeat = 0.25
    proc, run_id = start_writer(project, db_path, flush=0.5, heartbeat=heartbeat)
    try:
        # Two flushes seen in the store while the process runs: points get there without an end or a flush call.
        first = wait_until(lambda: points_stored(run_id), "a first flush of the running writer")
        flushed = wait_until(lambda: (n := points_stored(run_id)) > first and n, "a second flush of the running writer")
        proc.kill()
        proc.communicate(timeout=120)
    finally:
        proc.kill()
    (count, last_step), = query("SELECT count(*), max(step) FROM metrics WHERE run_uuid = :r", r=run_id)
    assert count >= flushed  # what was flushed stays
    assert count == last_step + 1  # and has no holes
    (status, beat, interval), = query("SELECT status, heartbeat, heartbeat_interval FROM runs WHERE uuid = :r",
                                      r=run_id)
    assert status == "RUNNING"  # the process could not say anything...
    assert interval == heartbeat  # the interval the process beat at, recorded for readers
    crashed_after = beat + int(STALE_HEARTBEATS * interval * 1000) + STALE_GRACE_MS

    def read_status() -> str:
        before = now_ms()
        seen = mlops.get_run(run_id).status
        after = now_ms()
        if seen == "RUNNING":
            assert before <= crashed_after, "still RUNNING after its heartbeat went stale"
        else:
            assert (seen, after > crashed_after) == ("CRASHED", True), "CRASHED before its heartbeat went stale"
        return seen == "CRASHED"

    wait_until(read_status, "the killed run read as CRASHED")  # ...but its silence is read as a crash
    assert mlops.search_runs(filter="status = 'CRASHED'")["run_id"].tolist() == [run_id]


def test_normal_exit_finishes_and_uncaught_error_fails(project, db_path):
    script = project / "train.py"
    script.write_text(
        "import sys, jupyter_mlops as mlops\n"
        "mlops.start_run('script')\n"
        "for i in range(100): mlops.log_metric('m', i)\n"
        "if len(sys.argv) > 1: raise RuntimeError('boom')\n"
    )
    env = python_env(MLOPS_TRACKING_URI=db_path)
    ok = subprocess.run([PYTHON, str(script)], env=env, cwd=project, capture_output=True, text=True)
    bad = subprocess.run([PYTHON, str(script), "fail"], env=env, cwd=project, capture_output=True, text=True)
    assert ok.returncode == 0 and bad.returncode == 1
    df = mlops.search_runs(order_by=["start_time ASC"])
    assert df["status"].tolist() == ["FINISHED", "FAILED"]
    assert df["metrics.m"].tolist() == [99, 99]
    assert df["source"].tolist() == [str(script)] * 2  # a script's path is its source
    assert len(open_store().metric_history(df["run_id"][1], "m")) == 100


def test_context_manager_records_failure(project):
    try:
        with mlops.start_run("ctx") as run:
            mlops.log_metric("m", 1)
            raise ValueError("bad data")
    except ValueError:
        pass
    record = mlops.get_run(run.id)
    assert record.status == "FAILED"
    assert record.tags["mlops.error"] == "ValueError: bad data"
    assert mlops.active_run() is None


def test_buffer_is_bounded_and_nothing_is_lost(project, db_path):
    """Past MLOPS_MAX_BUFFERED waiting points, log_metric waits for the writer instead of growing."""
    script = project / "flood.py"
    script.write_text(
        "import jupyter_mlops as mlops\n"
        "run = mlops.start_run('flood')\n"
        "biggest = 0\n"
        "for i in range(300_000):\n"
        "    mlops.log_metric('x', 1.0, step=i)\n"
        "    biggest = max(biggest, len(run._buffer))\n"
        "mlops.end_run()\n"
        "print(biggest)\n"
    )
    env = python_env(MLOPS_TRACKING_URI=db_path, MLOPS_MAX_BUFFERED=60_000)
    out = subprocess.run([PYTHON, str(script)], env=env, cwd=project, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) <= 60_000
    con = sqlite3.connect(db_path)
    assert con.execute("SELECT count(*), count(DISTINCT step) FROM metrics").fetchone() == (300_000, 300_000)
