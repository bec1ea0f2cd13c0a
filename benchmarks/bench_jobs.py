"""Production jobs: scheduling latency and idle cost, and scoring / monitoring at scale on Dask.

    .venv/bin/python benchmarks/bench_jobs.py [--rows 20000000] [--skip-latency] [--skip-scale]
    .venv/bin/python benchmarks/bench_jobs.py --quick      # 2M rows

1. Scheduling latency: a real ``jupyter mlops scheduler`` process on a fresh SQLite store; a
   notebook schedule gets ``run-now`` occurrences one after another, and each is timed from its
   scheduled time to the moment its notebook's first cell runs (the kernel has started and runs
   code), split into: claimed and job process started, pipeline run created, first cell running.
2. Idle overhead: one scheduler tick against 0, 100 and 1,000 schedules none of which is due
   (median of 200 ticks each), as microseconds per idle schedule.
3. Batch scoring of N rows x 20 features (Parquet, 40 files): a 2-worker LocalCluster
   (``--executor dask``), the local chunked path (``jupyter mlops predict`` on each file), and a
   plain pandas loop (read each file, ``model.predict``, write) as the floor.
4. Drift of the same N x 20 against the model's profile: Dask (partitions folded and merged) vs the
   local chunked path; verdicts compared.
Printed: seconds, ratios, and the commit and load average (benchmarks/_context.py).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _context

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
FEATURES = [f"x{i}" for i in range(20)]
FILES = 40


def env(store: Path) -> dict:
    out = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    out["MLOPS_TRACKING_URI"] = str(store)
    out["PYTHONPATH"] = str(ROOT) + os.pathsep + out.get("PYTHONPATH", "")
    return out


def notebook(path: Path) -> None:
    cells = [{"cell_type": "code", "execution_count": None, "id": "p", "metadata": {"tags": ["parameters"]},
              "outputs": [], "source": "tag = 'x'"},
             {"cell_type": "code", "execution_count": None, "id": "c", "metadata": {}, "outputs": [],
              "source": "import time\nfirst_cell = time.time()\nimport jupyter_mlops as mlops\n"
                        "mlops.log_metric('first_cell_epoch', first_cell)"}]
    path.write_text(json.dumps({"cells": cells, "metadata": {"kernelspec": {"name": "python3", "language": "python",
                                                                            "display_name": "Python 3"}},
                                "nbformat": 4, "nbformat_minor": 5}))


def latency(rounds: int) -> None:
    from jupyter_mlops.jobs import schedules
    from jupyter_mlops.tracking.store import open_store

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        store_path = folder / ".mlops" / "mlops.db"
        os.environ["MLOPS_TRACKING_URI"] = str(store_path)
        notebook(folder / "nb.ipynb")
        subprocess.run([PYTHON, "-m", "jupyter_mlops", "schedule", "add", "nb.ipynb", "--cron", "0 0 1 1 *"],
                       cwd=folder, env=env(store_path), check=True, capture_output=True)
        scheduler = subprocess.Popen([PYTHON, "-m", "jupyter_mlops", "scheduler", "--poll", "0.1", "-q"], cwd=folder,
                                     env=env(store_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        store = open_store(str(store_path))
        rows = []
        try:
            time.sleep(2)  # the scheduler process is up (its imports) before the first occurrence
            for _ in range(rounds):
                occurrence = schedules.run_now("nb", now_ms=time.time_ns() // 1_000_000, by="bench", store=store)
                while True:
                    row = next(r for r in schedules.history("nb", limit=5, store=store) if r["id"] == occurrence)
                    if row["state"] in ("FINISHED", "FAILED"):
                        break
                    time.sleep(0.05)
                run = store.get_run(row["run_id"])
                step = _children(store, run.uuid)[0]
                first = step.metrics["first_cell_epoch"] * 1000
                rows.append((row["started_at"] - row["scheduled_time"], run.start_time - row["scheduled_time"],
                             first - row["scheduled_time"], row["state"]))
        finally:
            scheduler.send_signal(signal.SIGTERM)
            scheduler.wait(timeout=60)
    print("\n1. scheduling latency (ms after the scheduled time; run-now on a waiting scheduler, poll 0.1 s)")
    print(f"{'job process started':>22} {'pipeline run created':>22} {'first cell runs':>18}  state")
    for started, created, first, state in rows:
        print(f"{started:>22.0f} {created:>22.0f} {first:>18.0f}  {state}")
    print(f"median fire -> kernel running code: {statistics.median(r[2] for r in rows) / 1000:.2f} s")


def _children(store, run_id: str):
    from sqlalchemy import select

    from jupyter_mlops.tracking import schema as s

    with store.engine.connect() as conn:
        ids = conn.execute(select(s.runs.c.uuid).where(s.runs.c.parent_uuid == run_id)).scalars().all()
    return [store.get_run(i) for i in ids]


def idle_overhead() -> None:
    from datetime import datetime, timezone

    from jupyter_mlops.jobs import cron, schedules
    from jupyter_mlops.jobs.scheduler import Scheduler
    from jupyter_mlops.pipeline.schedule_block import ScheduleBlock
    from jupyter_mlops.tracking.store import open_store

    results = {}
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(str(Path(folder) / "mlops.db"))
        now = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
        scheduler = Scheduler(store=store, now=lambda: now)
        made = 0
        for count in (0, 100, 1000):
            while made < count:
                schedules.add_schedule(f"s{made}", "notebook", {"notebook": "/x.ipynb"},
                                       ScheduleBlock(cron="0 0 1 1 *"), by="bench", now_ms=cron.to_ms(now),
                                       store=store)
                made += 1
            times = []
            for _ in range(200):
                start = time.perf_counter()
                scheduler.tick()
                scheduler._sleep_s()  # the loop asks for the next fire time too
                times.append(time.perf_counter() - start)
            results[count] = statistics.median(times) * 1e6
    print("\n2. idle overhead: one tick (and the next-fire-time query) with schedules none of which is due")
    for count, micros in results.items():
        print(f"{count:>6} schedules: {micros:8.0f} us per tick")
    print(f"per idle schedule: {(results[1000] - results[0]) / 1000:.2f} us per tick "
          f"(a scheduler ticks at most once per --poll second)")


def scale(rows: int) -> None:
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    from distributed import Client, LocalCluster
    from sklearn.linear_model import LogisticRegression

    import jupyter_mlops as mlops
    from jupyter_mlops.monitoring.drift import detect_drift
    from jupyter_mlops.monitoring.partitioned import detect_drift_partitioned, same_verdicts
    from jupyter_mlops.serving.batch import predict as local_predict

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        os.environ["MLOPS_TRACKING_URI"] = str(folder / ".mlops" / "mlops.db")
        rng = np.random.default_rng(0)
        train = pd.DataFrame(rng.normal(size=(20_000, len(FEATURES))), columns=FEATURES)
        y = (train["x0"] + train["x1"] > 0).astype(int)
        with mlops.start_run("bench") as run:
            mlops.log_model(LogisticRegression().fit(train, y), training_data=train.assign(y=y), target="y")
        mlops.approve(run.id, by="bench", reason="bench")
        mlops.export(run.id, name="bench-model")
        data = folder / "events"
        data.mkdir()
        per_file = rows // FILES
        for i in range(FILES):
            part = pd.DataFrame(rng.normal(size=(per_file, len(FEATURES))), columns=FEATURES)
            part["x0"] += 0.2
            pq.write_table(pa.Table.from_pandas(part, preserve_index=False), data / f"part-{i:03d}.parquet")
        files = sorted(data.glob("*.parquet"))
        total = per_file * FILES
        print(f"\n3. batch scoring of {total:,} rows x {len(FEATURES)} (Parquet, {FILES} files), LogisticRegression")
        model = mlops.load_model("bench-model/1")
        start = time.perf_counter()
        (folder / "pandas").mkdir()
        for path in files:  # the floor: no checks, no signature, one file at a time
            frame = pd.read_parquet(path)
            pd.DataFrame({"prediction": model.estimator.predict(frame[FEATURES])}).to_parquet(
                folder / "pandas" / path.name, index=False)
        plain = time.perf_counter() - start
        start = time.perf_counter()
        (folder / "local").mkdir()
        for path in files:
            local_predict("bench-model/1", path, output=folder / "local" / path.name, runtime="sklearn")
        local = time.perf_counter() - start
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
        try:
            start = time.perf_counter()
            summary = mlops.predict("bench-model/1", data, output=folder / "dask", executor="dask", client=client,
                                    runtime="sklearn")
            cold = time.perf_counter() - start  # workers import scikit-learn, load and verify the model
            assert summary["rows"] == total
            start = time.perf_counter()
            mlops.predict("bench-model/1", data, output=folder / "dask-again", executor="dask", client=client,
                          runtime="sklearn")
            on_dask = time.perf_counter() - start
            print(f"plain pandas loop {plain:7.1f} s   local chunked path {local:7.1f} s   "
                  f"Dask 2 workers {on_dask:7.1f} s (first call, workers cold: {cold:.1f} s)")
            print(f"ratios: local / pandas {local / plain:.2f}x, Dask / local {on_dask / local:.2f}x, "
                  f"Dask / pandas {on_dask / plain:.2f}x (2 workers on {os.cpu_count()} CPUs)")

            print(f"\n4. drift of {total:,} x {len(FEATURES)} against the model's profile")
            profile = model.reference_profile
            start = time.perf_counter()
            local_result = detect_drift(profile, iter(pd.read_parquet(p) for p in files))
            local_drift = time.perf_counter() - start
            start = time.perf_counter()
            dask_result = detect_drift_partitioned(profile, data, client=client)
            dask_drift = time.perf_counter() - start
            differences = same_verdicts(local_result, dask_result)
            print(f"local chunked {local_drift:7.1f} s   Dask 2 workers {dask_drift:7.1f} s   "
                  f"ratio Dask / local {dask_drift / local_drift:.2f}x; verdicts "
                  f"{'identical' if not differences else 'DIFFER: ' + '; '.join(differences)}; drifted: "
                  f"{', '.join(dask_result.drifted_columns)}")
        finally:
            client.close()
            cluster.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--quick", action="store_true", help="2M rows")
    parser.add_argument("--rounds", type=int, default=5, help="run-now occurrences timed for the latency")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    args = parser.parse_args()
    print(_context.header())
    if not args.skip_latency:
        latency(args.rounds)
        idle_overhead()
    if not args.skip_scale:
        scale(2_000_000 if args.quick else args.rows)
    print(_context.footer())


if __name__ == "__main__":
    main()
