"""Tracking server benchmark: metric points per second into ``jupyter mlops server`` from remote clients,
against the same clients logging to ``mlflow server``; and the cost of one remote ``log_metric`` call.

Run from the project root (``make bench`` does)::

    .venv/bin/python benchmarks/bench_server_tracking.py [--quick]

Both servers run on this machine on a fresh SQLite file each (the same backend kind), started and
polled with tests/helpers/net.py's ServerProcess; MLflow's with its default 4 workers and its own
artifact proxy. Writers are separate processes started together (each has imported everything
and started its run before the start signal); the time is from the start signal to the last
writer's run ended, so "points/s" is points made durable in the server's store per second of
wall time.

- Ours: ``MLOPS_TRACKING_URI=http://...`` + ``MLOPS_TOKEN``; each writer runs
  ``mlops.log_metric(key, value, step=i)`` N times in its run and ends it (``end_run`` waits for the
  server to have every point). 1 writer x 200k points, then 8 writers x 100k (quick: 50k / 8 x 20k).
- MLflow 3.17 clients against ``mlflow server``: synchronous ``mlflow.log_metric`` (1 x 2000,
  8 x 500; quick: 500 / 8 x 100); ``mlflow.log_metric(..., synchronous=False)`` then the run's end
  (1 x 20k, 8 x 5k; quick: 5k / 8 x 1k); ``MlflowClient.log_batch`` with 1000 metrics a call, its
  fastest path (1 x 50k, 8 x 20k; quick: 10k / 8 x 5k).
- Call cost: ``log_metric`` in a loop of 1M calls (quick: 200k) in this process, logging to our
  server, best of 5; beside it MLflow's ``log_metric(synchronous=False)`` (10k calls, best of 3).

Printed as measured: points/s for each, the ratio ours / MLflow at the same number of writers, the
call costs, with the commit and the load average (benchmarks/_context.py).
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import _context
from _writers import client_env, run_writers

from tests.helpers.net import ServerProcess

START_TIMEOUT = 600  # seconds: MLflow's 4 workers take minutes to start on a busy 2-core machine

# Each writer starts its run before the clock starts (what a run captures when it starts is not
# the logging being measured), then logs N points and ends the run, which returns once the server
# has every point: the clock stops there.
OURS = """
import sys, time
import jupyter_mlops as mlops
n, go = int(sys.argv[1]), float(sys.argv[2])
mlops.start_run("writer")
while time.time() < go:
    time.sleep(0.001)
for i in range(n):
    mlops.log_metric("loss", 1.0 / (i + 1), step=i)
mlops.end_run()
print(time.time())
"""

MLFLOW_SYNC = """
import sys, time, logging
logging.disable(logging.WARNING)
import mlflow
n, go = int(sys.argv[1]), float(sys.argv[2])
mlflow.set_tracking_uri(sys.argv[3])
mlflow.start_run()
while time.time() < go:
    time.sleep(0.001)
for i in range(n):
    mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
mlflow.end_run()
print(time.time())
"""

MLFLOW_ASYNC = MLFLOW_SYNC.replace("step=i)", "step=i, synchronous=False)").replace(
    "mlflow.end_run()", "mlflow.flush_async_logging()\nmlflow.end_run()")

MLFLOW_BATCH = """
import sys, time, logging
logging.disable(logging.WARNING)
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
n, go = int(sys.argv[1]), float(sys.argv[2])
client = MlflowClient(sys.argv[3])
run = client.create_run("0")
while time.time() < go:
    time.sleep(0.001)
now = int(time.time() * 1000)
for start in range(0, n, 1000):
    client.log_batch(run.info.run_id, metrics=[Metric("loss", 1.0 / (i + 1), now, i) for i in range(start, min(n, start + 1000))])
client.set_terminated(run.info.run_id)
print(time.time())
"""

CALL_COST_OURS = """
import sys, time
import jupyter_mlops as mlops
n = int(sys.argv[1])
best = float("inf")
with mlops.start_run("call-cost"):
    log = mlops.log_metric
    for rep in range(5):
        t = time.perf_counter()
        for i in range(n):
            log("loss", 0.5, step=rep * n + i)
        best = min(best, (time.perf_counter() - t) / n)
        mlops.flush()
print(best)
"""

CALL_COST_MLFLOW = """
import sys, time, logging
logging.disable(logging.WARNING)
import mlflow
n = int(sys.argv[1])
mlflow.set_tracking_uri(sys.argv[2])
best = float("inf")
with mlflow.start_run():
    for rep in range(3):
        t = time.perf_counter()
        for i in range(n):
            mlflow.log_metric("loss", 0.5, step=rep * n + i, synchronous=False)
        best = min(best, (time.perf_counter() - t) / n)
        mlflow.flush_async_logging()
print(best)
"""


def call_cost(script: str, calls: int, url: str, token: str = "") -> float:
    done = subprocess.run([sys.executable, "-c", script, str(calls), url], env=client_env(url, token),
                          capture_output=True, text=True, timeout=3600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"call-cost run failed: {done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def our_server(folder: Path) -> tuple[ServerProcess, str]:
    store = f"sqlite:///{folder / 'ours.db'}"
    env = client_env("")
    made = subprocess.run([sys.executable, "-m", "jupyter_mlops.cli", "--uri", store, "users", "add", "bench",
                           "--role", "editor"], env=env, capture_output=True, text=True, check=True)
    server = ServerProcess([sys.executable, "-m", "jupyter_mlops.cli", "server", "--store", store, "--port", "{port}"],
                           "/healthz", folder / "ours.log", env=env, timeout=START_TIMEOUT)
    return server.start(), made.stdout.strip()


def mlflow_server(folder: Path) -> ServerProcess:
    return ServerProcess([sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
                          f"sqlite:///{folder / 'mlflow.db'}", "--artifacts-destination", str(folder / "mlartifacts"),
                          "--host", "127.0.0.1", "--port", "{port}"], "/health", folder / "mlflow.log",
                         env=client_env(""), timeout=START_TIMEOUT).start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--mlflow", nargs="+", choices=("sync", "async", "batch"), default=["sync", "async", "batch"],
                        help="which of MLflow's ways of logging to measure (default: all three)")
    args = parser.parse_args()
    print(_context.header(), flush=True)
    quick = args.quick
    sizes = {
        "ours": [(1, 50_000), (8, 20_000)] if quick else [(1, 200_000), (8, 100_000)],
        "mlflow log_metric": [(1, 500), (8, 100)] if quick else [(1, 2_000), (8, 500)],
        "mlflow async log_metric": [(1, 5_000), (8, 1_000)] if quick else [(1, 20_000), (8, 5_000)],
        "mlflow log_batch": [(1, 10_000), (8, 5_000)] if quick else [(1, 50_000), (8, 20_000)],
    }
    results: dict[tuple[str, int], float] = {}
    folder = Path(tempfile.mkdtemp(prefix="mlops-bench-server-"))

    def measured(kind: str, writers: int, rate: float) -> None:
        results[(kind, writers)] = rate
        ours = results.get(("ours", writers))
        ratio = f"{ours / rate:>13,.1f}x" if ours and kind != "ours" else ""
        print(f"{kind:<26}{writers:>10}{rate:>14,.0f}{ratio}", flush=True)

    print(f"{'writer':<26}{'processes':>10}{'points/s':>14}{'ours / this':>14}", flush=True)
    try:
        for writers, points in sizes["ours"]:  # a fresh server and store for each measurement
            sub = folder / f"ours-{writers}"
            sub.mkdir()
            server, token = our_server(sub)
            try:
                measured("ours", writers, run_writers(OURS, writers, points, server.url, token))
            finally:
                server.stop()
        sub = folder / "ours-calls"
        sub.mkdir()
        server, token = our_server(sub)
        try:
            ours_call = call_cost(CALL_COST_OURS, 200_000 if quick else 1_000_000, server.url, token)
        finally:
            server.stop()
        print(f"remote log_metric call (ours, buffered): {ours_call * 1e6:.2f} us", flush=True)
        for kind, script, way in (("mlflow log_metric", MLFLOW_SYNC, "sync"),
                                  ("mlflow async log_metric", MLFLOW_ASYNC, "async"),
                                  ("mlflow log_batch", MLFLOW_BATCH, "batch")):
            if way not in args.mlflow:
                continue
            for writers, points in sizes[kind]:
                sub = folder / f"{kind.replace(' ', '-')}-{writers}"
                sub.mkdir()
                server = mlflow_server(sub)
                try:
                    measured(kind, writers, run_writers(script, writers, points, server.url))
                finally:
                    server.stop()
        sub = folder / "mlflow-calls"
        sub.mkdir()
        server = mlflow_server(sub)
        try:
            mlflow_call = call_cost(CALL_COST_MLFLOW, 10_000, server.url)
        finally:
            server.stop()
        print(f"mlflow log_metric(synchronous=False) call: {mlflow_call * 1e6:.1f} us "
              f"({mlflow_call / ours_call:.0f}x ours)", flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(_context.footer())


if __name__ == "__main__":
    main()
