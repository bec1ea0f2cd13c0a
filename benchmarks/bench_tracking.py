"""Tracking benchmark: jupyter_mlops and MLflow side by side, in one run, on local SQLite stores.

Run from the project root::

    .venv/bin/python benchmarks/bench_tracking.py           # full sizes (several minutes, mostly MLflow)
    .venv/bin/python benchmarks/bench_tracking.py --quick   # smaller sizes, about a minute

What is measured (every store lives in a fresh ``tempfile`` folder; the working directory and
its ``.mlops`` are never touched; ``MLOPS_*`` and ``MLFLOW_*`` variables are ignored so that
defaults are measured, and MLflow's telemetry is off):

1. ``log_metric`` cost per call, and per point until it is stored. Ours:
   ``mlops.log_metric(key, value, step=i)`` 100k times in an active run; wall time of the loop on
   the calling thread (the background writer runs as it would for a user), then until
   ``lifecycle.flush()`` has written what is still buffered; median of 5 runs. MLflow on its
   SQLite store, each in a run of its own after one untimed call: synchronous ``mlflow.log_metric``,
   2000 calls (300 with --quick); asynchronous with ``synchronous=False`` (then waiting on every
   returned ``RunOperations``) and with ``MLFLOW_ENABLE_ASYNC_LOGGING=true`` (then
   ``mlflow.flush_async_logging()``), 2000 calls each (300); and asynchronous with
   ``MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS=1``, which merges queued points into batches of up to
   1000 as our writer does (not a default), 20k calls (2000). MLflow gets fewer calls than ours
   because its default asynchronous queue writes each point in a transaction of its own (tens of
   points per second here), which the output says with the time 100k would take. The points in
   MLflow's database are counted after each flush. Target: ours <= 2 us a call and >= 1000x faster
   than synchronous MLflow; the asynchronous rows are for information.
2. Points persisted per second. Ours: log 1M points (200k with --quick) then ``end_run`` (which
   flushes); points / (log time + flush time). Also ``Store.insert_metrics`` on 500k points (100k
   with --quick), building its list of tuples included, as MLflow's figure includes building its
   ``Metric`` objects. Each is a median of 3, each repetition into a fresh store. MLflow:
   ``MlflowClient.log_batch`` with 1000 metrics per call (building the ``Metric`` objects
   included), 50k points (10k with --quick). Target >= 500k points/s.
   Peak memory of our 1M-point logging is measured in a child process: growth of peak RSS, then
   tracemalloc's peak in a separate (slower) pass.
3. Import time in a fresh interpreter, median of 5 after one warm-up: ``import jupyter_mlops``
   (target <= 0.3 s), ``import jupyter_mlops`` plus loading its API (first ``mlops.log_metric``
   attribute access, for information), and ``import mlflow``.
4. ``search_runs`` into a DataFrame over 10k runs (1k with --quick) with 10 params and 5 metrics
   each, same seeded data in both stores: unfiltered, filtered with
   ``metrics.m0 > 0.5 and params.p0 = 'v1'``, and ordered by ``metrics.m0 DESC``. The headline is
   each query's first call, cold: ours keeps the run summaries its latest search parsed (so a
   repeated search parses only runs that changed), and that memo is emptied before each query's
   first call; MLflow keeps no such memo. Beside it, the warm median of the next 5 (ours) / 3
   (MLflow) calls. Our store is filled through ``Store`` methods, MLflow's through
   ``MlflowClient.create_run`` + one ``log_batch`` per run; both population times are shown.
   Target: ours <= 100 ms on the first call.

Each run prints the git commit (with "dirty" if tracked files changed) and the load average
before and after its figures (benchmarks/_context.py).

The exit status is 0 whether or not the targets are met: these are targets, not assertions.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import _context
import numpy as np

SEED = 42
FILTER = "metrics.m0 > 0.5 and params.p0 = 'v1'"
ORDER_BY = ["metrics.m0 DESC"]
MLFLOW_BATCH = 1000  # MLflow's limit of metrics per log_batch call
SCRIPT = Path(__file__).resolve()  # the benchmark changes directory; the memory child re-runs this file

FULL = {"log_calls": 100_000, "log_reps": 5, "mlflow_log_calls": 2_000, "mlflow_async_calls": 2_000,
        "mlflow_buffered_calls": 20_000, "persist_points": 1_000_000, "persist_reps": 3,
        "flush_batch": 500_000, "flush_reps": 3, "mlflow_batch_points": 50_000, "import_reps": 5,
        "runs": 10_000, "search_reps": 5, "mlflow_search_reps": 3}
QUICK = dict(FULL, mlflow_log_calls=300, mlflow_async_calls=300, mlflow_buffered_calls=2_000, persist_points=200_000,
             flush_batch=100_000, mlflow_batch_points=10_000, runs=1_000)
# MLflow's ways of calling log_metric in figure 1: (label, extra environment, keyword arguments).
MLFLOW_LOGGING = [
    ("sync", {}, {}),
    ("synchronous=False", {}, {"synchronous": False}),
    ("MLFLOW_ENABLE_ASYNC_LOGGING", {"MLFLOW_ENABLE_ASYNC_LOGGING": "true"}, {}),
    ("async, buffered 1 s", {"MLFLOW_ENABLE_ASYNC_LOGGING": "true", "MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS": "1"}, {}),
]


@dataclass
class Row:
    """One line of the summary table; ``better`` says whether a higher number is better."""

    figure: str
    unit: str
    ours: float | None
    mlflow: float | None
    target: str
    met: bool | None
    better: str = "lower"

    def ratio(self) -> float | None:
        """How many times better ours is than MLflow (> 1: ours is better)."""
        if not self.ours or not self.mlflow:
            return None
        return self.mlflow / self.ours if self.better == "lower" else self.ours / self.mlflow


# -- set-up -----------------------------------------------------------------------------------
def clean_environment() -> None:
    """Benchmark defaults only, and keep MLflow quiet and offline."""
    for var in [v for v in os.environ if v.startswith(("MLOPS_", "MLFLOW_"))]:
        del os.environ[var]
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    os.environ["DO_NOT_TRACK"] = "1"


def load_mlflow():
    import mlflow

    for name in ("mlflow", "alembic", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"mlflow(\.|$)")
    return mlflow


def close_ours() -> None:
    """End the active run, stop the writer threads and close the stores."""
    import jupyter_mlops as mlops
    from jupyter_mlops.tracking import lifecycle

    mlops.end_run()
    shutdown = getattr(lifecycle, "shutdown", None)
    if shutdown is not None:
        shutdown()
    mlops.set_tracking_uri(None)


def use_ours(folder: Path):
    """``jupyter_mlops`` pointed at a fresh SQLite store in ``folder``, with no run or writer left over."""
    import jupyter_mlops as mlops

    close_ours()
    folder.mkdir(parents=True, exist_ok=True)
    mlops.set_tracking_uri(folder / "mlops.db")
    return mlops


def start_our_run(name: str):
    """An active run; source/git/environment capture is off since only logging is measured."""
    from jupyter_mlops.tracking import lifecycle

    return lifecycle.start_run(name=name, experiment="bench", capture_source=False)


def use_mlflow(folder: Path):
    """MLflow pointed at a fresh SQLite store in ``folder``; returns (mlflow, client, experiment id)."""
    mlflow = load_mlflow()
    folder.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    client = mlflow.MlflowClient()
    exp_id = client.create_experiment("bench", artifact_location=(folder / "artifacts").as_uri())
    return mlflow, client, exp_id


def count_points(store, run_id: str) -> int:
    from sqlalchemy import func, select

    from jupyter_mlops.tracking import schema

    m = schema.metrics
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(m).where(m.c.run_uuid == run_id)).scalar_one()


def size(n: int) -> str:
    """1_000_000 -> '1M', 500_000 -> '500k'."""
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k" if n % 1000 == 0 else f"{n:,}"


def duration(seconds: float) -> str:
    return f"{seconds:,.0f} s" if seconds < 120 else f"{seconds / 60:,.0f} min"


def median_time(fn, reps: int):
    """Median wall time of ``fn()`` over ``reps`` calls after one more, all those times, the last
    result, and the time of that first call (which warms whatever caches there are)."""
    t0 = time.perf_counter()
    result = fn()
    first = time.perf_counter() - t0
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, result, first


def section(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 86 - len(title)), flush=True)


# -- figure 1: log_metric per call ------------------------------------------------------------------
def bench_log_metric(cfg: dict, root: Path) -> list[Row]:
    section("1. log_metric cost per call, and per point until stored")
    from jupyter_mlops.tracking import lifecycle

    n, values = cfg["log_calls"], np.random.default_rng(SEED).random(cfg["log_calls"]).tolist()
    mlops = use_ours(root / "fig1-ours")
    per_call, until_stored = [], []
    for rep in range(cfg["log_reps"]):
        run = start_our_run(f"log-metric-{rep}")
        t0 = time.perf_counter()
        for i, v in enumerate(values):
            mlops.log_metric("loss", v, step=i)
        t1 = time.perf_counter()
        lifecycle.flush()
        per_call.append((t1 - t0) / n)
        until_stored.append((time.perf_counter() - t0) / n)
        run.end()
    ours, ours_stored = statistics.median(per_call), statistics.median(until_stored)
    print(f"jupyter_mlops: {n:,} calls x {len(per_call)}: "
          + ", ".join(f"{t * 1e6:.3f}" for t in per_call) + f" us/call -> median {ours * 1e6:.3f} us; "
          f"until flushed: median {ours_stored * 1e6:.3f} us/point")

    mlflow, client, exp_id = use_mlflow(root / "fig1-mlflow")
    theirs: dict[str, tuple[float, float]] = {}
    for label, env, kwargs in MLFLOW_LOGGING:
        m = cfg["mlflow_buffered_calls" if "buffered" in label else "mlflow_async_calls" if env or kwargs
                else "mlflow_log_calls"]
        call, stored_s, stored = mlflow_log_metric(mlflow, client, exp_id, values[:m], env, kwargs)
        theirs[label] = (call / m, stored_s / m)
        note = "" if m >= n else f"; {m:,} calls, not {n:,}: at this rate {n:,} would take {duration(stored_s / m * n)}"
        print(f"mlflow ({label}, SQLite): {call / m * 1e6:,.1f} us/call, until flushed {stored_s / m * 1e6:,.1f} "
              f"us/point ({stored:,} of {m:,} points in its database){note}", flush=True)
    sync = theirs["sync"][0]
    ratio = sync / ours
    print(f"jupyter_mlops is {ratio:,.0f}x faster per call than synchronous MLflow")
    rows = [Row("log_metric per call, mlflow sync", "us", ours * 1e6, sync * 1e6, "<= 2 us, >= 1000x",
                ours <= 2e-6 and ratio >= 1000)]
    for label, (call, stored_s) in theirs.items():
        if label != "sync":
            rows.append(Row(f"log_metric per call, mlflow {label}", "us", ours * 1e6, call * 1e6, "(info)", None))
            rows.append(Row(f"  per point until flushed, {label}", "us", ours_stored * 1e6, stored_s * 1e6,
                            "(info)", None))
    return rows


def mlflow_log_metric(mlflow, client, exp_id: str, values: list[float], env: dict, kwargs: dict):
    """``mlflow.log_metric`` once per value in a run of its own, with ``env`` set for the while:
    (seconds in the calls, seconds from the first call until every point is stored, points stored)."""
    os.environ.update(env)
    try:
        with mlflow.start_run(experiment_id=exp_id) as run:
            mlflow.log_metric("warmup", 0.0, **kwargs)  # the asynchronous queue starts its threads here
            mlflow.flush_async_logging()
            operations = []
            t0 = time.perf_counter()
            for i, v in enumerate(values):
                operations.append(mlflow.log_metric("loss", v, step=i, **kwargs))
            t1 = time.perf_counter()
            if kwargs.get("synchronous") is False:
                for operation in operations:  # RunOperations: done once its batch is written
                    operation.wait()
            else:
                mlflow.flush_async_logging()  # no-op when nothing is queued (synchronous)
            t2 = time.perf_counter()
        stored = len(client.get_metric_history(run.info.run_id, "loss"))
    finally:
        for var in env:
            os.environ.pop(var, None)
    return t1 - t0, t2 - t0, stored


# -- figure 2: points persisted per second ----------------------------------------------------------
def bench_persist(cfg: dict, root: Path) -> list[Row]:
    section("2. points persisted per second")
    rng = np.random.default_rng(SEED)
    n = cfg["persist_points"]
    values = rng.random(n).tolist()
    rates = [log_and_flush(values, root / f"fig2-ours-{rep}") for rep in range(cfg["persist_reps"])]
    ours = statistics.median(rates)
    print(f"jupyter_mlops: {n:,} points, median of {len(rates)}: {ours:,.0f} points/s")

    flush = bench_insert_metrics(cfg, root / "fig2-ours-flush", rng)
    memory = measure_memory(n, root / "fig2-ours-memory")

    m = cfg["mlflow_batch_points"]
    _mlflow, client, exp_id = use_mlflow(root / "fig2-mlflow")
    theirs = mlflow_log_batch(client, exp_id, values[:m])
    print(f"mlflow log_batch ({MLFLOW_BATCH}/call, SQLite): {m:,} points: {theirs:,.0f} points/s")
    rows = [
        Row(f"persisted/s: log {size(n)} + flush", "pts/s", ours, theirs, ">= 500k/s", ours >= 500_000,
            better="higher"),
        Row(f"persisted/s: build + insert_metrics {size(cfg['flush_batch'])}", "pts/s", flush, theirs, ">= 500k/s",
            flush >= 500_000, better="higher"),
    ]
    if memory:
        rows.append(Row(f"peak RSS growth, {size(n)} points", "MB", memory["rss_mb"], None, "(info)", None))
        rows.append(Row(f"tracemalloc peak, {size(n)} points", "MB", memory["tracemalloc_mb"], None, "(info)", None))
    return rows


def log_and_flush(values: list[float], folder: Path) -> float:
    """Points per second from the first ``log_metric`` until ``end_run`` has flushed them all."""
    from jupyter_mlops.tracking.lifecycle import writer_for

    mlops = use_ours(folder)
    run = start_our_run("persist")
    t0, cpu0 = time.perf_counter(), time.thread_time()
    for i, v in enumerate(values):
        mlops.log_metric("loss", v, step=i)
    t1, cpu1 = time.perf_counter(), time.thread_time()
    pending = len(writer_for(run.store).buffer)
    run.end()
    t2 = time.perf_counter()
    stored = count_points(run.store, run.id)
    # The logging thread's own CPU time; the rest of "log" is waiting for the writer (a full
    # buffer) or for a CPU (a busy machine).
    print(f"jupyter_mlops: {len(values):,} points: log {t1 - t0:.3f} s ({cpu1 - cpu0:.3f} s CPU, {pending:,} still "
          f"buffered) + end_run/flush {t2 - t1:.3f} s = {len(values) / (t2 - t0):,.0f} points/s "
          f"({stored:,} rows in the database)")
    return len(values) / (t2 - t0)


def bench_insert_metrics(cfg: dict, folder: Path, rng) -> float:
    """``Store.insert_metrics`` into a fresh store each repetition, the list of tuples built inside
    the timed part (as MLflow's ``log_batch`` figure builds its ``Metric`` objects)."""
    from jupyter_mlops.tracking.schema import run_key
    from jupyter_mlops.tracking.store import open_store

    n, ts = cfg["flush_batch"], int(time.time() * 1000)
    values = rng.random(n).tolist()
    times = []
    for rep in range(cfg["flush_reps"]):
        use_ours(folder / str(rep))
        store = open_store()
        run_id = uuid.uuid4().hex
        store.create_run(run_id, store.experiment_id("flush"), 10.0, name="flush")
        t0 = time.perf_counter()
        key = run_key(run_id)
        batch = [(key, run_id, "loss", i, v, ts + i // 1000) for i, v in enumerate(values)]
        store.insert_metrics(batch)
        times.append(time.perf_counter() - t0)
    rates = [n / t for t in times]
    print(f"jupyter_mlops Store.insert_metrics, {n:,} tuples built and inserted x {len(times)}: "
          + ", ".join(f"{r:,.0f}" for r in rates) + f" points/s -> median {statistics.median(rates):,.0f}")
    return statistics.median(rates)


def mlflow_log_batch(client, exp_id: str, values: list[float]) -> float:
    from mlflow.entities import Metric

    run_id = client.create_run(exp_id).info.run_id
    t0 = time.perf_counter()
    for start in range(0, len(values), MLFLOW_BATCH):
        ts = int(time.time() * 1000)
        batch = [Metric("loss", v, ts, start + j) for j, v in enumerate(values[start:start + MLFLOW_BATCH])]
        client.log_batch(run_id, metrics=batch)
    return len(values) / (time.perf_counter() - t0)


def measure_memory(n: int, folder: Path) -> dict | None:
    """Peak memory of logging ``n`` points, in a child process so earlier figures do not count."""
    cmd = [sys.executable, str(SCRIPT), "--memory-child", str(n), str(folder)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=folder.parent)
    if proc.returncode != 0:
        print(f"memory measurement failed:\n{proc.stderr[-2000:]}")
        return None
    memory = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"jupyter_mlops memory, {n:,} points logged then flushed: peak RSS +{memory['rss_mb']:.0f} MB "
          f"(child process), tracemalloc peak {memory['tracemalloc_mb']:.0f} MB "
          f"(about {memory['tracemalloc_mb'] * 1e6 / n:.0f} bytes/point)")
    return memory


def peak_rss_kb() -> int:
    """This process's peak RSS. Linux's ``ru_maxrss`` carries the parent's peak over fork and exec,
    so prefer ``VmHWM``, which belongs to this address space only."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def memory_child(n: int, folder: Path) -> None:
    import tracemalloc

    values = np.random.default_rng(SEED).random(n).tolist()
    mlops = use_ours(folder)

    def log_all(name: str, count: int) -> None:
        run = start_our_run(name)
        for i, v in enumerate(values[:count]):
            mlops.log_metric("loss", v, step=i)
        run.end()

    log_all("warmup", 10_000)  # imports and first connections; small, so it does not set the peak
    before = peak_rss_kb()
    log_all("rss", n)
    after = peak_rss_kb()
    tracemalloc.start()
    log_all("tracemalloc", n)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(json.dumps({"rss_mb": (after - before) / 1024, "tracemalloc_mb": peak / 1e6}))


# -- figure 3: import time ------------------------------------------------------------------------
def bench_import(cfg: dict, root: Path) -> list[Row]:
    section("3. import time (fresh interpreter)")
    reps = cfg["import_reps"]
    ours = import_seconds("import jupyter_mlops", reps, root)
    api = import_seconds("import jupyter_mlops; jupyter_mlops.log_metric", reps, root)
    theirs = import_seconds("import mlflow", reps, root)
    for label, t in (("import jupyter_mlops", ours), ("import jupyter_mlops + API (mlops.log_metric)", api),
                     ("import mlflow", theirs)):
        print(f"{label}: median of {reps}: {t:.3f} s")
    return [
        Row("import jupyter_mlops", "s", ours, theirs, "<= 0.3 s", ours <= 0.3),
        Row("import jupyter_mlops + API", "s", api, theirs, "(info)", None),
    ]


def import_seconds(statement: str, reps: int, cwd: Path) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    times = []
    for i in range(reps + 1):  # the first run only warms the file cache and bytecode
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, check=True)
        if i:
            times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


# -- figure 4: search_runs ------------------------------------------------------------------------
def search_data(n_runs: int):
    rng = np.random.default_rng(SEED)
    params = [{f"p{j}": f"v{k}" for j, k in enumerate(row)} for row in rng.integers(0, 5, size=(n_runs, 10)).tolist()]
    metrics = rng.random((n_runs, 5)).tolist()
    return params, metrics


def bench_search(cfg: dict, root: Path) -> list[Row]:
    section("4. search_runs into a DataFrame")
    n = cfg["runs"]
    params, metrics = search_data(n)
    mlops = use_ours(root / "fig4-ours")
    fill_ours(params, metrics)
    mlflow, client, exp_id = use_mlflow(root / "fig4-mlflow")
    fill_mlflow(client, exp_id, params, metrics)

    queries = [("unfiltered", {}, {}), ("filtered", {"filter": FILTER}, {"filter_string": FILTER}),
               ("order_by", {"order_by": ORDER_BY}, {"order_by": ORDER_BY})]
    rows = []
    for label, ours_kwargs, mlflow_kwargs in queries:
        forget_parsed_summaries()  # each query's first call is cold, not warmed by the query before
        t_ours, all_ours, df_ours, first_ours = median_time(
            lambda kw=ours_kwargs: mlops.search_runs(experiment="bench", **kw), cfg["search_reps"])
        t_theirs, all_theirs, df_theirs, first_theirs = median_time(
            lambda kw=mlflow_kwargs: mlflow.search_runs(experiment_ids=[exp_id], max_results=100_000, **kw),
            cfg["mlflow_search_reps"])
        check = same_result(df_ours, df_theirs, ordered=label == "order_by")
        print(f"{label:10s} ours {describe(t_ours, all_ours, df_ours, first_ours)}\n"
              f"{'':10s} mlflow {describe(t_theirs, all_theirs, df_theirs, first_theirs)} | {check}")
        rows.append(Row(f"search_runs {label} ({size(n)} runs), first call", "ms", first_ours * 1e3,
                        first_theirs * 1e3, "<= 100 ms", first_ours <= 0.1))
        rows.append(Row("  warm median", "ms", t_ours * 1e3, t_theirs * 1e3, "(info)", None))
    return rows


def forget_parsed_summaries() -> None:
    """Empty our search's memo of parsed run summaries (jupyter_mlops/tracking/summaries.py)."""
    from jupyter_mlops.tracking import summaries

    if not hasattr(summaries, "_recent"):
        raise RuntimeError("jupyter_mlops.tracking.summaries._recent is gone: make forget_parsed_summaries() "
                           "empty the memo that replaced it, or the first search is not cold")
    summaries._recent = {}


def describe(median: float, times: list[float], df, first: float) -> str:
    runs = ", ".join(f"{t * 1e3:.0f}" for t in times)
    return (f"first call {first * 1e3:7.1f} ms, warm median {median * 1e3:7.1f} ms (runs: {runs} ms) -> "
            f"{df.shape[0]:,} rows x {df.shape[1]} cols")


def same_result(ours, theirs, ordered: bool) -> str:
    """Both stores hold the same data, so both searches must find the same runs."""
    if len(ours) != len(theirs):
        return f"MISMATCH: {len(ours)} vs {len(theirs)} rows"
    a, b = ours["metrics.m0"].to_numpy(), theirs["metrics.m0"].to_numpy()
    if not ordered:
        a, b = np.sort(a), np.sort(b)
    return "same runs" if np.allclose(a, b) else "MISMATCH in metrics.m0"


def fill_ours(params: list[dict], metrics: list[list[float]]) -> None:
    from jupyter_mlops.tracking.schema import run_key
    from jupyter_mlops.tracking.store import open_store

    t0 = time.perf_counter()
    store = open_store()
    exp_id = store.experiment_id("bench")
    ts = int(time.time() * 1000)
    points = []
    for i, (p, m) in enumerate(zip(params, metrics)):
        run_id = uuid.uuid4().hex
        store.create_run(run_id, exp_id, 10.0, name=f"run-{i}", user="bench")
        store.set_params(run_id, p)
        key = run_key(run_id)
        points.extend((key, run_id, f"m{j}", 0, v, ts) for j, v in enumerate(m))
        store.end_run(run_id, "FINISHED")
    store.insert_metrics(points)
    print(f"populated jupyter_mlops with {len(params):,} runs via Store methods in {time.perf_counter() - t0:.1f} s")


def fill_mlflow(client, exp_id: str, params: list[dict], metrics: list[list[float]]) -> None:
    from mlflow.entities import Metric, Param

    t0 = time.perf_counter()
    ts = int(time.time() * 1000)
    for i, (p, m) in enumerate(zip(params, metrics)):
        run_id = client.create_run(exp_id, run_name=f"run-{i}").info.run_id
        client.log_batch(run_id, metrics=[Metric(f"m{j}", v, ts, 0) for j, v in enumerate(m)],
                         params=[Param(k, v) for k, v in p.items()])
    print(f"populated mlflow with {len(params):,} runs via create_run + log_batch in {time.perf_counter() - t0:.1f} s")


# -- report ---------------------------------------------------------------------------------------
def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "pts/s":
        return f"{value:,.0f}/s"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "MB":
        return f"{value:,.0f} MB"
    if unit == "us":
        return f"{value:,.3f} us" if value < 100 else f"{value:,.0f} us"
    return f"{value:,.1f} {unit}"


def print_summary(rows: list[Row], quick: bool, wall: float) -> None:
    section("summary" + (" (--quick sizes)" if quick else ""))
    header = ["figure", "jupyter_mlops", "mlflow", "ratio", "target", "met?"]
    table = [header]
    for r in rows:
        ratio = r.ratio()
        met = "-" if r.met is None else ("yes" if r.met else "NO")
        table.append([r.figure, fmt(r.ours, r.unit), fmt(r.mlflow, r.unit),
                      "-" if ratio is None else f"{ratio:,.1f}x", r.target, met])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for k, row in enumerate(table):
        cells = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
        print(" | ".join(cells))
        if k == 0:
            print("-+-".join("-" * w for w in widths))
    print("ratio: how many times better jupyter_mlops is than MLflow (time: mlflow/ours; throughput: ours/mlflow);")
    print("       MLflow's persisted/s is MlflowClient.log_batch (1000 metrics per call) in both rows;")
    print("       'first call': each search's first, with our memo of parsed summaries emptied before it")
    print(f"benchmark wall time: {wall:.1f} s")
    print(_context.footer())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (about a minute)")
    parser.add_argument("--memory-child", nargs=2, metavar=("POINTS", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    clean_environment()
    if args.memory_child:
        memory_child(int(args.memory_child[0]), Path(args.memory_child[1]))
        return 0

    start = time.perf_counter()
    cfg = QUICK if args.quick else FULL
    print(f"{_context.header()}; sizes: {'quick' if args.quick else 'full'}")
    old_cwd = os.getcwd()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench_tracking-") as tmp:
        root = Path(tmp)
        os.chdir(root)  # nothing may land in the caller's folder (.mlops, mlruns, ...)
        try:
            for figure in (bench_log_metric, bench_persist, bench_import, bench_search):
                rows += figure(cfg, root)
        finally:
            close_ours()  # stop writer threads before the folder goes away
            os.chdir(old_cwd)
    print_summary(rows, args.quick, time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
