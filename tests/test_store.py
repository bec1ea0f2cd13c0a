"""The store: where it lives, how it opens, migrations under concurrency, and refusing bad files."""
from __future__ import annotations

import re
import sqlite3
import subprocess
import uuid
from pathlib import Path

import psycopg  # the postgresql extra, which CI installs
import pytest

import jupyter_mlops as mlops
from jupyter_mlops import config
from jupyter_mlops.exceptions import StoreError
from jupyter_mlops.tracking import schema
from jupyter_mlops.tracking.engine import mask_password
from jupyter_mlops.tracking.store import Store, latest_points, open_store

from .conftest import PYTHON, python_env
from .helpers.waiting import wait_until

HELPER = Path(__file__).parent / "helpers" / "log_points.py"


def run_writers(count: int, env: dict, cwd) -> list[tuple[int, str, str]]:
    """Start ``count`` processes at once, each logging 10k points; ``(exit code, stdout, stderr)`` of each."""
    procs = [
        subprocess.Popen([PYTHON, str(HELPER), "10000", "--name", f"w{i}"], env=env, cwd=cwd,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(count)
    ]
    outputs = [p.communicate(timeout=240) for p in procs]
    return [(p.returncode, out, err) for p, (out, err) in zip(procs, outputs)]


def test_default_store_is_sqlite_wal_in_project_folder(project, db_path):
    with mlops.start_run("first"):
        mlops.log_metric("m", 1.0)
    assert db_path.is_file()
    con = sqlite3.connect(db_path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT max(version) FROM schema_version").fetchone()[0] == schema.LATEST_VERSION
    # The store folder ignores itself, so tracking never makes a repository dirty.
    assert (db_path.parent / ".gitignore").read_text().strip() == "*"


def test_uri_precedence(project, monkeypatch):
    (project / "pyproject.toml").write_text('[tool.jupyter_mlops]\ntracking_uri = "stores/team.db"\n')
    assert config.get_tracking_uri() == "sqlite:///" + str(project / "stores" / "team.db")
    monkeypatch.setenv("MLOPS_TRACKING_URI", str(project / "env.db"))
    assert config.get_tracking_uri() == "sqlite:///" + str(project / "env.db")
    mlops.set_tracking_uri(project / "explicit.db")
    assert config.get_tracking_uri() == "sqlite:///" + str(project / "explicit.db")
    mlops.set_tracking_uri(None)
    assert config.get_tracking_uri().endswith("env.db")


def test_postgresql_uri_uses_psycopg_and_masks_password():
    assert config.normalize_uri("postgresql://u:secret@db/mlops") == "postgresql+psycopg://u:secret@db/mlops"
    assert mask_password("postgresql+psycopg://u:secret@db/mlops") == "postgresql+psycopg://u:***@db/mlops"


def test_migrations_run_once_and_are_idempotent(backend):
    first = open_store()
    again = Store(first.uri)  # a second opening in the same process
    assert again.migrate() == schema.LATEST_VERSION
    with first.engine.connect() as conn:
        versions = conn.exec_driver_sql("SELECT version FROM schema_version ORDER BY version").scalars().all()
    assert versions == [v for v, _ in schema.MIGRATIONS]
    again.dispose()


def test_newer_schema_is_refused(backend):
    store = open_store()
    with store.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO schema_version VALUES (999, 0)")
    with pytest.raises(StoreError, match="schema version 999"):
        Store(config.get_tracking_uri())


def test_file_that_is_not_a_database_is_named(project, db_path):
    db_path.parent.mkdir(exist_ok=True)
    db_path.write_text("these are my notes, not a database\n" * 10)
    with pytest.raises(StoreError, match=r"mlops\.db is not an SQLite database"):
        mlops.start_run("x")
    assert mlops.active_run() is None
    assert db_path.read_text().startswith("these are my notes")  # untouched


def test_unwritable_path_is_named(project):
    # Works as root too: a path under a regular file can never be created.
    blocker = project / "blocker"
    blocker.write_text("")
    mlops.set_tracking_uri(blocker / "mlops.db")
    with pytest.raises(StoreError, match="cannot create the store folder .*blocker"):
        mlops.start_run("x")


def test_eight_processes_open_a_fresh_store_at_once(project, db_path):
    """Acceptance 2: no errors, no lost points, an intact file."""
    results = run_writers(8, python_env(MLOPS_TRACKING_URI=db_path), project)
    assert [(code, err) for code, _, err in results if code != 0 or "Error" in err] == []
    con = sqlite3.connect(db_path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("SELECT count(*) FROM schema_version").fetchone()[0] == len(schema.MIGRATIONS)
    counts = dict(con.execute("SELECT run_uuid, count(*) FROM metrics GROUP BY run_uuid").fetchall())
    run_ids = [out.split()[0] for _, out, _ in results]
    assert sorted(counts) == sorted(run_ids)
    assert set(counts.values()) == {10000}
    statuses = {s for (s,) in con.execute("SELECT status FROM runs")}
    assert statuses == {"FINISHED"}


def test_sixteen_processes_open_a_fresh_postgresql_store_at_once(project, postgres):
    """The same race with 16 writers on a real PostgreSQL server: migrations serialised by an advisory lock."""
    url = postgres.new_database()
    results = run_writers(16, python_env(MLOPS_TRACKING_URI=url), project)
    assert [(code, err) for code, _, err in results if code != 0] == []
    with psycopg.connect(url) as con:
        assert con.execute("SELECT count(*) FROM schema_version").fetchone()[0] == len(schema.MIGRATIONS)
        counts = dict(con.execute("SELECT run_uuid, count(*) FROM metrics GROUP BY run_uuid").fetchall())
        statuses = {s for (s,) in con.execute("SELECT status FROM runs")}
    assert sorted(counts) == sorted(out.split()[0] for _, out, _ in results)
    assert set(counts.values()) == {10000} and statuses == {"FINISHED"}


class SteadyWriter:
    """A child logging 1000 points per second into ``url`` until told to stop, its stderr in a file
    the test can read while it runs."""

    def __init__(self, project: Path, url: str, **env_vars):
        self.url, self.stop_file, self.err_path = url, project / "stop", project / "writer.err"
        ready = project / "ready"
        env = python_env(MLOPS_TRACKING_URI=url, MLOPS_FLUSH_INTERVAL=0.2, **env_vars)
        with open(self.err_path, "w") as err:
            self.proc = subprocess.Popen([PYTHON, str(HELPER), "10000000", "--rate", "1000", "--ready", str(ready),
                                          "--until", str(self.stop_file)], env=env, cwd=project,
                                         stdout=subprocess.PIPE, stderr=err, text=True)
        wait_until(lambda: self.alive() and ready.exists(), "the writer starting its run")

    def alive(self) -> bool:
        assert self.proc.poll() is None, f"the writer exited: {self.stderr()}"
        return True

    def stderr(self) -> str:
        return self.err_path.read_text()

    def points_stored(self) -> int:
        try:
            with psycopg.connect(self.url, connect_timeout=10) as con:
                return con.execute("SELECT count(*) FROM metrics").fetchone()[0]
        except psycopg.OperationalError:  # the server is (still) down
            return 0

    def finish(self) -> int:
        """Stop logging and let the process end; the number of points it logged."""
        self.stop_file.touch()
        out, _ = self.proc.communicate(timeout=240)
        assert self.proc.returncode == 0, self.stderr()
        return int(out.split()[1])

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


def test_postgresql_outage_mid_run_loses_no_points(project, postgres):
    """The server goes away while points are being logged and written: log_metric keeps working,
    the writer retries, and once the server is back every point is there: those logged before,
    during and after the outage."""
    url = postgres.new_database()
    writer = SteadyWriter(project, url)
    try:
        wait_until(writer.points_stored, "points written before the outage")
        postgres.stop()
        try:
            # The running writer notices the outage (and the child goes on logging meanwhile).
            wait_until(lambda: writer.alive() and "could not write metrics yet" in writer.stderr(),
                       "the writer noticing the outage", details=writer.stderr)
        finally:
            postgres.resume()
        back = wait_until(writer.points_stored, "the server answering again")
        wait_until(lambda: writer.alive() and writer.points_stored() > back, "the running writer writing again")
        logged = writer.finish()
    finally:
        writer.kill()
    with psycopg.connect(url) as con:
        count, steps, last = con.execute("SELECT count(*), count(DISTINCT step), max(step) FROM metrics").fetchone()
        status = con.execute("SELECT status FROM runs").fetchone()[0]
    assert (count, steps, last + 1, status) == (logged, logged, logged, "FINISHED")


def test_postgresql_down_until_the_run_ends_reports_the_lost_count(project, postgres):
    """The server stays away past the end of the run: the process still ends normally and says how
    many points it could not write."""
    url = postgres.new_database()
    writer = SteadyWriter(project, url, MLOPS_EXIT_FLUSH_TIMEOUT=1)
    try:
        wait_until(writer.points_stored, "points written before the outage")
        postgres.stop()
        try:
            logged = writer.finish()  # the run ends while the server is down
        finally:
            postgres.resume()
    finally:
        writer.kill()
    lost = re.search(r"(\d+) metric points could not be written", writer.stderr())
    assert lost, writer.stderr()
    stored = writer.points_stored()
    assert stored > 0  # written before the outage
    assert stored + int(lost.group(1)) == logged  # every point is either stored or counted as lost


def brute_force_latest(points: list[tuple]) -> dict[tuple, tuple]:
    latest: dict[tuple, tuple] = {}
    for p in points:
        key = (p[1], p[2])
        if key not in latest or p[3] >= latest[key][3]:
            latest[key] = p
    return latest


@pytest.mark.parametrize("ordered", [True, False])
def test_latest_point_per_run_and_key_is_the_highest_step_later_on_ties(ordered):
    import random

    rng = random.Random(7)
    runs = ["a" * 32, "b" * 32]
    points = [(1, rng.choice(runs), rng.choice("xyz"), rng.randrange(50), float(i), i) for i in range(2000)]
    if ordered:  # the fast path: steps never go down within the batch
        points.sort(key=lambda p: p[3])
    found = {(p[1], p[2]): p for p in latest_points(points)}
    assert found == brute_force_latest(points)
    assert len(found) == 6


@pytest.mark.usefixtures("backend")
def test_batches_across_multi_row_insert_chunks_keep_every_point(project):
    """Whole chunks, a remainder of single rows, several runs and keys, steps out of order."""
    store = open_store()
    exp = store.experiment_id("chunks")
    run_ids = [uuid.uuid4().hex for _ in range(2)]
    for run_id in run_ids:
        store.create_run(run_id, exp, 10.0, name="chunks")
    size = store._metric_rows_per_insert * 2 + 7
    points = [(schema.run_key(r), r, k, (i * 7919) % size, i / 3, 1000 + i)
              for i, (r, k) in enumerate((run_ids[i % 2], "ab"[i % 3 == 0]) for i in range(size))]
    store.insert_metrics(points[:size // 3])
    store.insert_metrics(points[size // 3:])
    for run_id in run_ids:
        for key in "ab":
            mine = sorted((p[3], p[4], p[5]) for p in points if p[1] == run_id and p[2] == key)
            assert store.metric_history(run_id, key) == mine
        expected = {k: p[4] for (r, k), p in brute_force_latest(points).items() if r == run_id}
        assert store.get_run(run_id).metrics == expected
