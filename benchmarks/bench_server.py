"""Experiments panel benchmark: the first page of ``GET /mlops/api/runs`` over 10k runs.

Run from the project root::

    .venv/bin/python benchmarks/bench_server.py           # 10k runs
    .venv/bin/python benchmarks/bench_server.py --quick   # 1k runs

The store is filled with the same seeded data as ``bench_tracking.py`` figure 4 (10 params and
5 metrics per run). Measured, median of 20 after one warm-up:

1. Server time: a real ``jupyter server`` with the extension answers the panel's first page
   (50 runs, newest first; then sorted by a metric; then filtered). The figure is tornado's own
   request time, read from the server's access log, i.e. what the handler spends, not the network.
   The HTTP round trip on loopback is shown beside it. Target: <= 300 ms.
2. The peer, in the same run: MLflow's ``MlflowClient.search_runs`` for the same page (what its
   UI's runs table calls) on an MLflow SQLite store holding the same runs. Skipped, and said so,
   when MLflow is not installed (``make bench`` installs it).

The exit status is 0 whether or not the target is met: it is a target, not an assertion.
"""
from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_tracking as bt

PAGE_SIZE = 50
REPS = 20
TARGET_MS = 300
QUERIES = [
    ("newest first", {}, {"order_by": ["attributes.start_time DESC"]}),
    ("by metric", {"sort": "metrics.m0", "order": "desc"}, {"order_by": ["metrics.m0 DESC"]}),
    ("filtered", {"filter": bt.FILTER}, {"filter_string": bt.FILTER, "order_by": ["attributes.start_time DESC"]}),
]
REQUEST_LOG = re.compile(r"200 GET /mlops/api/runs\?\S* \(.*?\) ([\d.]+)ms")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(store: Path, folder: Path):
    port, token = free_port(), uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env["MLOPS_TRACKING_URI"] = str(store)
    log = open(folder / "server.log", "w+")  # noqa: SIM115  (read and truncated between queries, closed at exit)
    argv = [sys.executable, "-m", "jupyter_server", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder}", "--ServerApp.log_level=DEBUG",
            "--ServerApp.jpserver_extensions={'jupyter_mlops.server': True}"]
    if os.geteuid() == 0:
        argv.append("--allow-root")
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2).read()
            return proc, url, token, log
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"jupyter server did not start; see {folder / 'server.log'}")


def server_times(url: str, token: str, log, query: dict) -> tuple[list[float], list[float], int]:
    """(server ms per request from the access log, round-trip ms, runs on the page)."""
    import json
    import urllib.parse

    qs = urllib.parse.urlencode({**query, "page_size": PAGE_SIZE, "token": token})
    round_trips = []
    body = None
    for i in range(REPS + 1):
        t0 = time.perf_counter()
        body = urllib.request.urlopen(f"{url}/mlops/api/runs?{qs}", timeout=30).read()
        if i:
            round_trips.append((time.perf_counter() - t0) * 1e3)
    time.sleep(0.3)  # the access log line is written after the response
    log.seek(0)
    logged = [float(m.group(1)) for m in REQUEST_LOG.finditer(log.read())]
    log.seek(0)
    log.truncate()
    return logged[-REPS:], round_trips, len(json.loads(body)["runs"])


def mlflow_times(n: int, params, metrics, folder: Path):
    try:
        _, client, exp_id = bt.use_mlflow(folder / "mlflow")
    except ImportError:
        return None
    bt.fill_mlflow(client, exp_id, params, metrics)
    results = {}
    for label, _, kwargs in QUERIES:
        median, _, runs, _first = bt.median_time(
            lambda kwargs=kwargs: client.search_runs([exp_id], max_results=PAGE_SIZE, **kwargs), REPS)
        results[label] = (median * 1e3, len(runs))
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1k runs instead of 10k")
    args = parser.parse_args(argv)
    n = 1_000 if args.quick else 10_000
    bt.clean_environment()
    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
        folder = Path(tmp)
        params, metrics = bt.search_data(n)
        bt.use_ours(folder / "ours")
        bt.fill_ours(params, metrics)
        bt.close_ours()
        proc, url, token, log = start_server(folder / "ours" / "mlops.db", folder)
        try:
            ours = {label: server_times(url, token, log, query) for label, query, _ in QUERIES}
        finally:
            proc.terminate()
            proc.wait(15)
        theirs = mlflow_times(n, params, metrics, folder)

    bt.section(f"First page ({PAGE_SIZE} runs) of the runs list over {bt.size(n)} runs, median of {REPS}")
    print(f"{'query':14s} {'ours: server':>14s} {'ours: round trip':>17s} {'mlflow search_runs':>19s} {'ratio':>7s}  target")
    for label, _, _ in QUERIES:
        logged, trips, count = ours[label]
        server_ms = statistics.median(logged) if logged else float("nan")
        mlflow_ms = theirs[label][0] if theirs else None
        ratio = f"{mlflow_ms / server_ms:6.1f}x" if mlflow_ms else "     -"
        met = "met" if server_ms <= TARGET_MS else "MISSED"
        print(f"{label:14s} {server_ms:11.1f} ms {statistics.median(trips):14.1f} ms "
              f"{(f'{mlflow_ms:16.1f} ms' if mlflow_ms else 'not installed'):>19s} {ratio}  <= {TARGET_MS} ms: {met}"
              f"  ({count} runs on the page)")
    if theirs is None:
        print("MLflow is not installed here: `make bench` installs it for the peer column.")
    print("ratio = MLflow's time / ours (> 1: ours is faster). Ours is tornado's request time, handler included.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
