"""Team-scale benchmark: metric points per second into one PostgreSQL server, ours and MLflow's.

Run from the project root (``make bench`` does)::

    .venv/bin/python benchmarks/bench_team.py [--quick]

A throwaway PostgreSQL cluster is started (Debian's ``postgresql`` package, as the tests do) on
a free loopback port; each measurement gets a fresh database on it. Writers are separate
processes started together; the time is from the start signal to the last writer done, so
"points/s" is points made durable per second of wall time.

- Ours: each writer runs ``mlops.log_metric(key, value, step=i)`` N times in one run and ends it
  (``end_run`` flushes). 1 writer x 200k points, then 8 writers x 100k (quick: 50k / 8 x 20k).
- MLflow 3.17 on the same server: synchronous ``mlflow.log_metric`` (what a notebook calls),
  1 writer x 2000 and 8 writers x 500 (quick: 500 / 8 x 100); and ``MlflowClient.log_batch`` with
  1000 metrics per call, 1 writer x 50k and 8 writers x 20k (quick: 10k / 8 x 5k), its fastest path.
  MLflow's schema is created once before its writers start (its migrations are not process-safe).

Printed: points/s for each and the ratio ours / MLflow, with the commit and the load average
(benchmarks/_context.py). Exit status is 0 either way.
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
from _writers import run_writers

from tests.postgres import PostgresServer, wait_ready

OURS = """
import sys, time
import jupyter_mlops as mlops
n, go = int(sys.argv[1]), float(sys.argv[2])
while time.time() < go:
    time.sleep(0.001)
with mlops.start_run("writer"):
    for i in range(n):
        mlops.log_metric("loss", 1.0 / (i + 1), step=i)
print(time.time())
"""

MLFLOW_SYNC = """
import sys, time, logging
logging.disable(logging.WARNING)
import mlflow
n, go = int(sys.argv[1]), float(sys.argv[2])
mlflow.set_tracking_uri(sys.argv[3])
while time.time() < go:
    time.sleep(0.001)
with mlflow.start_run():
    for i in range(n):
        mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
print(time.time())
"""

MLFLOW_BATCH = """
import sys, time, logging
logging.disable(logging.WARNING)
import mlflow
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
n, go = int(sys.argv[1]), float(sys.argv[2])
client = MlflowClient(sys.argv[3])
run = client.create_run(client.get_experiment_by_name("Default").experiment_id)
while time.time() < go:
    time.sleep(0.001)
now = int(time.time() * 1000)
for start in range(0, n, 1000):
    client.log_batch(run.info.run_id, metrics=[Metric("loss", 1.0 / (i + 1), now, i) for i in range(start, min(n, start + 1000))])
client.set_terminated(run.info.run_id)
print(time.time())
"""

MLFLOW_INIT = """
import sys, logging
logging.disable(logging.WARNING)
from mlflow.tracking import MlflowClient
MlflowClient(sys.argv[1]).search_experiments()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(_context.header(), flush=True)
    sizes = {
        "ours": [(1, 50_000), (8, 20_000)] if args.quick else [(1, 200_000), (8, 100_000)],
        "mlflow log_metric": [(1, 500), (8, 100)] if args.quick else [(1, 2_000), (8, 500)],
        "mlflow log_batch": [(1, 10_000), (8, 5_000)] if args.quick else [(1, 50_000), (8, 20_000)],
    }
    folder = Path(tempfile.mkdtemp(prefix="mlops-bench-pg-"))
    server = PostgresServer(folder).start()
    try:
        wait_ready(server)
        results: dict[tuple[str, int], float] = {}
        for writers, points in sizes["ours"]:
            results[("ours", writers)] = run_writers(OURS, writers, points, server.new_database())
        for kind, script in (("mlflow log_metric", MLFLOW_SYNC), ("mlflow log_batch", MLFLOW_BATCH)):
            for writers, points in sizes[kind]:
                # MLflow goes through SQLAlchemy too: name the psycopg 3 driver (psycopg2 is not installed).
                uri = server.new_database().replace("postgresql://", "postgresql+psycopg://")
                subprocess.run([sys.executable, "-c", MLFLOW_INIT, uri], check=True, capture_output=True)
                results[(kind, writers)] = run_writers(script, writers, points, uri)
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)

    print(f"{'writer':<20}{'processes':>10}{'points/s':>14}{'ours / this':>14}")
    for (kind, writers), rate in results.items():
        ratio = results[("ours", writers)] / rate
        print(f"{kind:<20}{writers:>10}{rate:>14,.0f}{ratio:>13,.1f}x")
    print(_context.footer())


if __name__ == "__main__":
    main()
