"""Hostile inputs to the spec loader, the filter language and the metric writer (issue 13, items 5
and 6, and the filter caps): each is refused with one line naming where, in bounded time and memory,
or, for a failing store, loses points only within a bound and says so on the run.

A new attack is one line in one of the tables below."""
from __future__ import annotations

import re
import shutil
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import event

import jupyter_mlops as mlops
from jupyter_mlops.exceptions import FilterSyntaxError, InvalidInputError, SpecError
from jupyter_mlops.pipeline.spec import load_spec
from jupyter_mlops.tracking.store import open_store

from .conftest import PYTHON, python_env
from .postgres import wait_ready

PIPELINES = Path(__file__).resolve().parent / "pipelines"
STEP = "steps: {train: {notebook: train.ipynb}}\n"


# -- item 5: pipeline specs that would exhaust memory ------------------------------------------------------

def alias_bomb(levels: int, width: int = 9) -> str:
    """The classic 'billion laughs': each level an anchored list of ``width`` aliases of the one before."""
    lines = ["parameters:", "  seed: &a0 [" + ", ".join(["lol"] * width) + "]"]
    lines += [f"  l{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n" + STEP


def merge_bomb(levels: int) -> str:
    """The same through merge keys: each mapping merges the one before and holds 8 aliases of it."""
    lines = ["x0: &x0 {" + ", ".join(f"k{j}: {j}" for j in range(9)) + "}"]
    lines += [f"x{i}: &x{i} {{<<: *x{i - 1}, " + ", ".join(f"k{j}: *x{i - 1}" for j in range(8)) + "}"
              for i in range(1, levels)]
    return "\n".join(lines) + "\n" + STEP


def many_parameters(n: int) -> str:
    """What the issue measured at 100 MB: one parameter per line."""
    return "parameters:\n" + "".join(f"  p{i}: {i}\n" for i in range(n)) + STEP


SPEC_ATTACKS = [
    # (id, spec text, line, field, start of the message)
    ("alias-bomb-9-levels", lambda: alias_bomb(9), 6, "parameters.l4[1]", "the alias *a3 repeats 7,381 values, which takes the spec past 20,000"),
    ("merge-key-bomb", lambda: merge_bomb(9), 5, "x4.<<", "the alias *x3 repeats 14,761 values"),
    ("alias-of-its-own-container", lambda: "parameters:\n  seed: &a [1, *a]\n" + STEP, 2, "parameters.seed[1]", "the alias *a refers to its own container"),
    ("20-MB-1.5M-parameters", lambda: many_parameters(1_500_000), 63_890, None, "the spec is larger than 1,000,000 bytes"),
    ("one-byte-over-1-MB", lambda: "parameters:\n  seed: '" + "x" * 999_977 + "'\n" + STEP, 3, None, "the spec is larger than 1,000,000 bytes"),
    ("1-MB-list-of-495k-values", lambda: "parameters: {seed: [" + ",".join(["1"] * 495_000) + "]}\n" + STEP, 1, "parameters.seed[19995]", "the spec holds more than 20,000 values"),
    ("nested-101-deep", lambda: "parameters:\n  seed: " + "[" * 101 + "]" * 101 + "\n" + STEP, 2, "parameters.seed[0][0][0][0]...", "values nested more than 100 deep"),
    ("int-of-5000-digits", lambda: "parameters:\n  seed: " + "7" * 5000 + "\n" + STEP, 2, "parameters.seed", "cannot read '7777"),
    ("date-that-does-not-exist", lambda: "parameters:\n  seed: 2024-02-30\n" + STEP, 2, "parameters.seed", "cannot read '2024-02-30' (day is out of range for month)"),
]

# Loads the spec twice in a fresh interpreter whose address space is capped (a regression fails
# the test instead of swapping the machine): timed, then traced (tracemalloc slows it several-fold).
# Prints the outcome, the seconds and the peak of traced bytes.
MEASURE = textwrap.dedent("""
    import resource, sys, time, tracemalloc
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
    from jupyter_mlops.exceptions import SpecError
    from jupyter_mlops.pipeline.spec import load_spec

    def load():
        try:
            load_spec(sys.argv[1])
            return "loaded"
        except SpecError as exc:
            return str(exc)

    start = time.perf_counter()
    print(load())
    seconds = time.perf_counter() - start
    tracemalloc.start()
    load()
    print(seconds, tracemalloc.get_traced_memory()[1])
""")


def measured_load(path: Path) -> tuple[str, float, int]:
    proc = subprocess.run([PYTHON, "-c", MEASURE, path.name], cwd=path.parent, env=python_env(),
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    outcome, numbers = proc.stdout.splitlines()
    seconds, peak = numbers.split()
    return outcome, float(seconds), int(peak)


@pytest.mark.parametrize(("make", "line", "field", "message"), [case[1:] for case in SPEC_ATTACKS],
                         ids=[case[0] for case in SPEC_ATTACKS])
def test_hostile_spec_is_refused_at_its_line_in_bounded_memory(tmp_path, make, line, field, message):
    shutil.copy(PIPELINES / "train.ipynb", tmp_path)
    path = tmp_path / "pipeline.yaml"
    path.write_text(make())
    outcome, seconds, peak = measured_load(path)
    print(f"{path.stat().st_size:,} bytes refused in {seconds * 1000:.0f} ms, peak {peak / 1e6:.1f} MB traced")
    where = f"pipeline.yaml:{line}" + (f": {field}" if field else "")
    assert outcome.startswith(f"{where}: {message}"), outcome
    assert peak < 100e6


def test_a_large_legitimate_spec_still_loads(tmp_path):
    """The bounds leave room: 15,000 values and anchors reused by every step load as before."""
    shutil.copy(PIPELINES / "train.ipynb", tmp_path)
    steps = "".join(f"  s{i}: {{<<: *step, outputs: [m{i}.json]}}\n" for i in range(200))
    (tmp_path / "pipeline.yaml").write_text(
        "parameters: {seed: [" + ",".join(map(str, range(15_000))) + "]}\n"
        "steps:\n  s: &step {notebook: train.ipynb, retries: 1}\n" + steps)
    outcome, seconds, peak = measured_load(tmp_path / "pipeline.yaml")
    print(f"15,000 values and 200 merged steps loaded in {seconds * 1000:.0f} ms, peak {peak / 1e6:.1f} MB traced")
    assert outcome == "loaded"
    spec = load_spec(tmp_path / "pipeline.yaml")
    assert len(spec.parameters["seed"]) == 15_000 and spec.steps["s199"].retries == 1


OVERRIDE_BOMB = ("seed=[&a [1,1,1,1,1,1,1,1,1,1], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a], &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b], "
                 "&d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c], [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]]")


@pytest.mark.parametrize(("override", "message"), [
    (OVERRIDE_BOMB, "the alias *d repeats 11,111 values"),
    ("seed=" + "1" * 1_000_001, "the value is longer than 1,000,000 characters"),
])
def test_hostile_override_is_refused(tmp_path, override, message):
    """Overrides are replayed from stored runs (reproduce): the same bounds as a spec."""
    shutil.copy(PIPELINES / "train.ipynb", tmp_path)
    (tmp_path / "pipeline.yaml").write_text(STEP)
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path / "pipeline.yaml", [override])
    text = str(info.value)
    assert message in text and "\n" not in text and len(text) < 400


# -- filters: nesting and size are capped below what SQLite, PostgreSQL and Python's stack take -----------

FILTER_ATTACKS = [
    # (id, filter, position where it is refused, message)
    ("5000-brackets", "(" * 5000 + "metrics.m = 1" + ")" * 5000, 16, "brackets and NOTs nested more than 16 deep"),
    ("5000-nots", "not " * 5000 + "metrics.m = 1", 64, "brackets and NOTs nested more than 16 deep"),
    ("or-within-and-40-deep", "(metrics.m = 1 or (params.p = 2 and " * 20 + "metrics.m = 1" + "))" * 20, 8 * 36, "nested more than 16 deep"),
    ("10k-ands", " and ".join(["metrics.m = 1"] * 10_000), 200 * 18, "more than 200 comparisons"),
    ("10k-ors", " or ".join(["params.p = 2"] * 10_000), 200 * 16, "more than 200 comparisons"),
    ("20k-values-in-a-list", "name IN (" + ",".join(["'a'"] * 20_000) + ")", 9 + 4 * 10_000, "more than 10,000 values"),
]


@pytest.fixture
def one_run(backend):
    with mlops.start_run("target"):
        mlops.log_metric("m", 1)
        mlops.log_param("p", 2)
    return backend


@pytest.mark.parametrize(("text", "position", "message"), [case[1:] for case in FILTER_ATTACKS],
                         ids=[case[0] for case in FILTER_ATTACKS])
def test_hostile_filter_is_refused_at_its_position(one_run, text, position, message):
    with pytest.raises(FilterSyntaxError) as info:
        mlops.search_runs(filter=text)
    error = info.value
    assert error.position == position and message in str(error)
    assert "\n" not in str(error) and len(str(error)) < 400  # the filter is shown around the position


@pytest.mark.parametrize("text", [
    "(metrics.m = 1 or (params.p = 2 and " * 8 + "metrics.m = 1" + "))" * 8,  # 16 deep
    "not " * 16 + "metrics.m = 1",  # an even number of NOTs
    "(" * 16 + " and ".join(["metrics.m = 1", "params.p = 2"] * 100) + ")" * 16,  # 200 comparisons
    "name IN (" + ",".join(["'target'"] * 9_999) + ") and name LIKE 't%'",
])
def test_filters_at_the_caps_still_work(one_run, text):
    assert mlops.search_runs(filter=text)["name"].tolist() == ["target"]


@pytest.mark.parametrize(("arguments", "message"), [
    ({"order_by": ["name"] * 21}, "more than 20 order_by terms"),
    ({"max_results": 10**20}, "max_results must be between 0 and 9223372036854775807, got 100000000000000000000"),
    ({"max_results": -1}, "max_results must be between 0"),
    ({"max_results": 1.5}, "max_results must be a whole number, got 1.5"),
])
def test_search_arguments_out_of_range_are_refused(one_run, arguments, message):
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        mlops.search_runs(**arguments)


# -- item 6: a failing store loses points only within the bound, and says so on the run --------------------

class SqliteDiskFull:
    """The SQLite file may not grow: every write needing a new page fails with SQLITE_FULL
    ("database or disk is full"), SQLite's real behaviour on a full disk."""

    def __init__(self, store):
        self.store, self.max_pages = store, None
        event.listen(store.engine, "connect", self._limit)

    def _limit(self, dbapi_conn, _record):
        if self.max_pages is not None:
            dbapi_conn.execute(f"PRAGMA max_page_count = {self.max_pages}")

    def fail(self):
        with self.store.engine.connect() as conn:
            self.max_pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
        self.store.engine.dispose()  # connections opened from now on are limited

    def recover(self):
        self.max_pages = None
        self.store.engine.dispose()


class PostgresDown:
    """The database server stops (immediate shutdown) and starts again on the same port."""

    def __init__(self, server):
        self.server, self.down = server, False

    def fail(self):
        self.server.stop()
        self.down = True

    def recover(self):
        if self.down:
            self.server.resume()
            wait_ready(self.server)
            self.down = False


@pytest.fixture
def outage(backend, request):
    store = open_store()
    failure = SqliteDiskFull(store) if backend == "sqlite" else PostgresDown(request.getfixturevalue("postgres"))
    yield failure
    failure.recover()


def wait_for(condition, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_failing_store_keeps_the_buffer_bounded_and_records_lost_points_when_it_returns(outage, monkeypatch):
    """Two outages: one the run outlives (the loss appears on the running run once the store is
    back), one the run ends in (its end waits for the store: never a clean FINISHED meanwhile)."""
    monkeypatch.setenv("MLOPS_MAX_BUFFERED", "20000")
    run = mlops.start_run("outage")
    store, writer = run.store, run._writer
    step, biggest = 0, 0

    def log(n: int) -> None:
        nonlocal step, biggest
        for _ in range(n):
            mlops.log_metric("x", step, step=step)
            biggest = max(biggest, len(writer.buffer))
            step += 1

    def lost() -> int:
        return int(store.get_run(run.id).tags.get("mlops.lost_points", 0))

    log(1000)
    mlops.flush()
    outage.fail()
    log(100_000)
    outage.recover()
    wait_for(lambda: lost() > 0)  # recorded by the writer's next round, the run still going
    assert store.get_run(run.id).status == "RUNNING"
    first = lost()
    assert len(store.metric_history(run.id, "x")) + first == step
    log(1000)
    mlops.flush()
    outage.fail()
    log(100_000)
    mlops.end_run()
    if isinstance(outage, SqliteDiskFull):  # readable while full: not FINISHED while its points wait
        assert store.get_run(run.id).status == "RUNNING"
    outage.recover()
    wait_for(lambda: store.get_run(run.id).status == "FINISHED")  # recorded once the points could be written
    record = store.get_run(run.id)
    steps = [s for s, _, _ in store.metric_history(run.id, "x")]
    total = int(record.tags["mlops.lost_points"])
    print(f"{step:,} points, {len(steps):,} written, {first:,} then {total - first:,} lost; "
          f"largest buffer {biggest:,} (bound 20,000)")
    assert biggest <= 20_000
    assert total > first > 0 and len(steps) + total == step  # every point is written or counted
    assert steps[:1000] == list(range(1000)) and steps[-1] == step - 1  # the oldest waiting ones were dropped
    assert record.tags["mlops.warning"].startswith(f"{total} metric points were lost")


EXIT_WHILE_FULL = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    import jupyter_mlops as mlops
    from tests.test_security_inputs import SqliteDiskFull
    run = mlops.start_run("full")
    SqliteDiskFull(run.store).fail()
    for i in range(100_000):
        mlops.log_metric("x", i, step=i)
    print(run.id)
""")


def test_a_run_whose_points_never_reach_the_store_does_not_end_finished(project, db_path):
    """The disk stays full until the process exits: the run's end is not recorded as a clean FINISHED."""
    env = python_env(MLOPS_TRACKING_URI=db_path, MLOPS_MAX_BUFFERED=20_000, MLOPS_EXIT_FLUSH_TIMEOUT=1)
    proc = subprocess.run([PYTHON, "-c", EXIT_WHILE_FULL, str(Path(__file__).resolve().parents[1])], env=env,
                          cwd=project, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "metric points could not be written" in proc.stderr
    record = open_store().get_run(proc.stdout.strip())
    assert open_store().metric_history(record.uuid, "x") == []
    # The two tag rows fit in pages the file already has, so the loss is recorded, then the end;
    # had they not fitted, the end would not be recorded either (the run would show CRASHED).
    assert record.status == "FINISHED" and record.tags["mlops.lost_points"] == "100000"
    assert record.tags["mlops.warning"].startswith("100000 metric points were lost while the store could not")
