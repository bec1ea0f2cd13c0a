"""Tracking benchmark: jupyter_mlops and MLflow side by side, in one run, on local SQLite stores.

Run from the project root::

    .venv/bin/python benchmarks/bench_tracking.py           # full sizes (several minutes, mostly MLflow)
    .venv/bin/python benchmarks/bench_tracking.py --quick   # smaller sizes, about a minute

What is measured (every store lives in a fresh ``tempfile`` folder; the working directory and
its ``.mlops`` are never touched; ``MLOPS_*`` and ``MLFLOW_*`` variables are ignored so that
defaults are measured, and MLflow's telemetry is off):

1. ``log_metric`` cost per call. Ours: ``mlops.log_metric(key, value, step=i)`` 100k times in an
   active run; wall time of the loop on the calling thread (the background writer runs as it
   would for a user), median of 5 runs. MLflow: synchronous ``mlflow.log_metric`` on its SQLite
   store, 2000 calls (300 with --quick). Target: ours <= 2 us and >= 1000x faster than MLflow.
2. Points persisted per second. Ours: log 1M points (200k with --quick) then ``end_run`` (which
   flushes); points / (log time + flush time). Also the pure ``Store.insert_metrics`` throughput on
   a prepared batch of 500k tuples (100k with --quick). Each is a median of 3, each repetition into
   a fresh store. MLflow: ``MlflowClient.log_batch`` with 1000 metrics per call (building the
   ``Metric`` objects included), 50k points (10k with --quick). Target >= 500k points/s.
   Peak memory of our 1M-point logging is measured in a child process: growth of peak RSS, then
   tracemalloc's peak in a separate (slower) pass.
3. Import time in a fresh interpreter, median of 5 after one warm-up: ``import jupyter_mlops``
   (target <= 0.3 s), ``import jupyter_mlops`` plus loading its API (first ``mlops.log_metric``
   attribute access, for information), and ``import mlflow``.
4. ``search_runs`` into a DataFrame over 10k runs (1k with --quick) with 10 params and 5 metrics
   each, same seeded data in both stores: unfiltered, filtered with
   ``metrics.m0 > 0.5 and params.p0 = 'v1'``, and ordered by ``metrics.m0 DESC``; median of
   5 (ours) / 3 (MLflow) after one warm-up. Our store is filled through ``Store`` methods, MLflow's
   through ``MlflowClient.create_run`` + one ``log_batch`` per run; both population times are shown.
   Target: ours <= 100 ms.

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

import numpy as np

SEED = 42
FILTER = "metrics.m0 > 0.5 and params.p0 = 'v1'"
ORDER_BY = ["metrics.m0 DESC"]
MLFLOW_BATCH = 1000  # MLflow's limit of metrics per log_batch call
SCRIPT = Path(__file__).resolve()  # the benchmark changes directory; the memory child re-runs this file

FULL = dict(log_calls=100_000, log_reps=5, mlflow_log_calls=2_000, persist_points=1_000_000, persist_reps=3,
            flush_batch=500_000, flush_reps=3, mlflow_batch_points=50_000, import_reps=5,
            runs=10_000, search_reps=5, mlflow_search_reps=3)
QUICK = dict(FULL, mlflow_log_calls=300, persist_points=200_000, flush_batch=100_000,
             mlflow_batch_points=10_000, runs=1_000)


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
    for var in [v for v in os.environ if v.startswith("MLOPS_") or v.startswith("MLFLOW_")]:
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


def median_time(fn, reps: int):
    """Median wall time of ``fn()`` over ``reps`` calls (after one untimed call), all times, the last result."""
    result = fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, result


def section(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 86 - len(title)), flush=True)


# -- figure 1: log_metric per call ------------------------------------------------------------------
def bench_log_metric(cfg: dict, root: Path) -> list[Row]:
    section("1. log_metric cost per call")
    n, values = cfg["log_calls"], np.random.default_rng(SEED).random(cfg["log_calls"]).tolist()
    mlops = use_ours(root / "fig1-ours")
    per_call = []
    for rep in range(cfg["log_reps"]):
        run = start_our_run(f"log-metric-{rep}")
        t0 = time.perf_counter()
        for i, v in enumerate(values):
            mlops.log_metric("loss", v, step=i)
        per_call.append((time.perf_counter() - t0) / n)
        run.end()
    ours = statistics.median(per_call)
    print(f"jupyter_mlops: {n:,} calls x {len(per_call)}: "
          + ", ".join(f"{t * 1e6:.3f}" for t in per_call) + f" us/call -> median {ours * 1e6:.3f} us")

    m = cfg["mlflow_log_calls"]
    mlflow, _client, exp_id = use_mlflow(root / "fig1-mlflow")
    with mlflow.start_run(experiment_id=exp_id):
        mlflow.log_metric("warmup", 0.0)
        t0 = time.perf_counter()
        for i, v in enumerate(values[:m]):
            mlflow.log_metric("loss", v, step=i)
        theirs = (time.perf_counter() - t0) / m
    print(f"mlflow (sync, SQLite): {m:,} calls: {theirs * 1e6:,.1f} us/call")
    ratio = theirs / ours
    print(f"jupyter_mlops is {ratio:,.0f}x faster per call")
    return [Row("log_metric per call", "us", ours * 1e6, theirs * 1e6, "<= 2 us, >= 1000x",
                ours <= 2e-6 and ratio >= 1000)]


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
        Row(f"persisted/s: insert_metrics {size(cfg['flush_batch'])}", "pts/s", flush, theirs, ">= 500k/s",
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
    """Pure flush: ``Store.insert_metrics`` on a ready list of tuples, into a fresh store each repetition."""
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
        key = run_key(run_id)
        batch = [(key, run_id, "loss", i, v, ts + i // 1000) for i, v in enumerate(values)]
        t0 = time.perf_counter()
        store.insert_metrics(batch)
        times.append(time.perf_counter() - t0)
    rates = [n / t for t in times]
    print(f"jupyter_mlops Store.insert_metrics, {n:,} tuples x {len(times)}: "
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
        t_ours, all_ours, df_ours = median_time(
            lambda: mlops.search_runs(experiment="bench", **ours_kwargs), cfg["search_reps"])
        t_theirs, all_theirs, df_theirs = median_time(
            lambda: mlflow.search_runs(experiment_ids=[exp_id], max_results=100_000, **mlflow_kwargs),
            cfg["mlflow_search_reps"])
        check = same_result(df_ours, df_theirs, ordered=label == "order_by")
        print(f"{label:10s} ours {describe(t_ours, all_ours, df_ours)}\n"
              f"{'':10s} mlflow {describe(t_theirs, all_theirs, df_theirs)} | {check}")
        rows.append(Row(f"search_runs {label} ({size(n)} runs)", "ms", t_ours * 1e3, t_theirs * 1e3,
                        "<= 100 ms", t_ours <= 0.1))
    return rows


def describe(median: float, times: list[float], df) -> str:
    runs = ", ".join(f"{t * 1e3:.0f}" for t in times)
    return f"{median * 1e3:7.1f} ms (runs: {runs} ms) -> {df.shape[0]:,} rows x {df.shape[1]} cols"


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
    print("       MLflow's persisted/s is MlflowClient.log_batch (1000 metrics per call) in both rows")
    print(f"benchmark wall time: {wall:.1f} s")


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
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, sizes: {'quick' if args.quick else 'full'}")
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
