"""Runs end properly however their process ends: SIGTERM, SIGKILL, exit, uncaught errors."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import text

import jupyter_mlops as mlops
from jupyter_mlops.tracking.store import open_store

from .conftest import PYTHON, python_env

HELPER = Path(__file__).parent / "helpers" / "log_points.py"
FLUSH_INTERVAL = 0.5


def store_uri(db_path: Path) -> str:
    """The store the test's ``backend`` chose: a PostgreSQL URL in the environment, or the SQLite file."""
    return os.environ.get("MLOPS_TRACKING_URI") or str(db_path)


def query(sql: str, **params) -> list[tuple]:
    """Plain SQL against the test's store, whichever back end it is."""
    with open_store().engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def start_writer(project: Path, db_path: Path, heartbeat: float = 10.0):
    ready = project / "ready"
    env = python_env(MLOPS_TRACKING_URI=store_uri(db_path), MLOPS_FLUSH_INTERVAL=FLUSH_INTERVAL,
                     MLOPS_HEARTBEAT_INTERVAL=heartbeat)
    proc = subprocess.Popen([PYTHON, str(HELPER), "1000000", "--rate", "2000", "--ready", str(ready)],
                            env=env, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "writer never started its run"
        time.sleep(0.05)
    time.sleep(0.2)
    return proc, ready.read_text()


def steps_logged(run_id: str) -> list[int]:
    return [s for (s,) in query("SELECT step FROM metrics WHERE run_uuid = :r ORDER BY step", r=run_id)]


@pytest.mark.usefixtures("backend")
def test_sigterm_loses_no_points_and_marks_killed(project, db_path):
    proc, run_id = start_writer(project, db_path)
    time.sleep(1.5)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGTERM  # still dies of the signal
    steps = steps_logged(run_id)
    assert len(steps) > 1000
    assert steps == list(range(len(steps)))  # every point up to the last one logged, no gap
    # The last point was logged just before the signal; the helper logs 2000 points/s.
    record = mlops.get_run(run_id)
    assert record.status == "KILLED"
    assert record.metrics["value"] == steps[-1]


@pytest.mark.usefixtures("backend")
def test_sigkill_loses_at_most_one_flush_interval_and_shows_crashed(project, db_path):
    proc, run_id = start_writer(project, db_path, heartbeat=0.25)
    time.sleep(2.0)
    killed_at_ms = time.time() * 1000
    proc.kill()
    proc.communicate(timeout=30)
    (last_ts, count, last_step), = query(
        "SELECT max(timestamp), count(*), max(step) FROM metrics WHERE run_uuid = :r", r=run_id)
    assert count == last_step + 1  # what was written has no holes
    # Points logged in the last flush interval may be lost, nothing older.
    assert killed_at_ms - last_ts <= FLUSH_INTERVAL * 1000 + 300
    (status,), = query("SELECT status FROM runs WHERE uuid = :r", r=run_id)
    assert status == "RUNNING"  # the process could not say anything...
    time.sleep(0.25 * 4 + 2.5)
    assert mlops.get_run(run_id).status == "CRASHED"  # ...but its silence is read as a crash
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
