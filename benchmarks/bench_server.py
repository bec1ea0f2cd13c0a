"""Experiments panel benchmark: the first page of ``GET /mlops/api/runs`` over 10k runs.

Run from the project root::

    .venv/bin/python benchmarks/bench_server.py           # 10k runs
    .venv/bin/python benchmarks/bench_server.py --quick   # 1k runs

The store is filled with the same seeded data as ``bench_tracking.py`` figure 4 (10 params and
5 metrics per run). Measured, median of 20 after one first call, whose time is shown too:

1. Server time: a real ``jupyter server`` with the extension answers the panel's first page
   (50 runs, newest first; then sorted by a metric; then filtered). The figure is tornado's own
   request time, read from the server's access log, i.e. what the handler spends, not the network.
   The HTTP round trip on loopback is shown beside it. Target: <= 300 ms.
2. The peer, in the same run: MLflow's ``MlflowClient.search_runs`` for the same page (what its
   UI's runs table calls) on an MLflow SQLite store holding the same runs. Skipped, and said so,
   when MLflow is not installed (``make bench`` installs it).

The commit and the load average are printed with the figures (benchmarks/_context.py); the server
is started and polled with tests/helpers/net.py, the helper the tests use.

The exit status is 0 whether or not the target is met: it is a target, not an assertion.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.helpers
import _context
import bench_tracking as bt

from tests.helpers.net import ServerProcess

PAGE_SIZE = 50
REPS = 20
TARGET_MS = 300
QUERIES = [
    ("newest first", {}, {"order_by": ["attributes.start_time DESC"]}),
    ("by metric", {"sort": "metrics.m0", "order": "desc"}, {"order_by": ["metrics.m0 DESC"]}),
    ("filtered", {"filter": bt.FILTER}, {"filter_string": bt.FILTER, "order_by": ["attributes.start_time DESC"]}),
]
REQUEST_LOG = re.compile(r"200 GET /mlops/api/runs\?\S* \(.*?\) ([\d.]+)ms")


def start_server(store: Path, folder: Path) -> tuple[ServerProcess, str]:
    """A real ``jupyter server`` with the extension on ``store``, answering; and its token."""
    token = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env["MLOPS_TRACKING_URI"] = str(store)
    argv = [sys.executable, "-m", "jupyter_server", "--no-browser", "--ip=127.0.0.1", "--port={port}",
            "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder}",
            "--ServerApp.log_level=DEBUG", "--ServerApp.jpserver_extensions={'jupyter_mlops.server': True}"]
    if os.geteuid() == 0:
        argv.append("--allow-root")
    server = ServerProcess(argv, f"/api/status?token={token}", folder / "server.log", cwd=folder, env=env)
    return server.start(), token


def server_times(server: ServerProcess, token: str, query: dict,
                 logged_before: int) -> tuple[list[float], list[float], int]:
    """(server ms of each request from the access log, the first call's first; round-trip ms of the
    requests after the first; runs on the page). ``logged_before``: request lines already in the log."""
    qs = urllib.parse.urlencode({**query, "page_size": PAGE_SIZE, "token": token})
    round_trips = []
    body = None
    for i in range(REPS + 1):
        t0 = time.perf_counter()
        body = urllib.request.urlopen(f"{server.url}/mlops/api/runs?{qs}", timeout=30).read()
        if i:
            round_trips.append((time.perf_counter() - t0) * 1e3)
    return logged_requests(server, logged_before + REPS + 1)[-(REPS + 1):], round_trips, len(json.loads(body)["runs"])


def logged_requests(server: ServerProcess, count: int, timeout: float = 60) -> list[float]:
    """The request times in the access log, once it holds ``count`` of them (a line is written just
    after its response is sent)."""
    deadline = time.monotonic() + timeout
    while True:
        logged = [float(m.group(1)) for m in REQUEST_LOG.finditer(server.read_log())]
        if len(logged) >= count or time.monotonic() >= deadline:
            return logged
        time.sleep(0.05)


def mlflow_times(n: int, params, metrics, folder: Path):
    try:
        _, client, exp_id = bt.use_mlflow(folder / "mlflow")
    except ImportError:
        return None
    bt.fill_mlflow(client, exp_id, params, metrics)
    results = {}
    for label, _, kwargs in QUERIES:
        median, _, runs, first = bt.median_time(
            lambda kwargs=kwargs: client.search_runs([exp_id], max_results=PAGE_SIZE, **kwargs), REPS)
        results[label] = (median * 1e3, first * 1e3, len(runs))
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1k runs instead of 10k")
    args = parser.parse_args(argv)
    n = 1_000 if args.quick else 10_000
    bt.clean_environment()
    print(_context.header())
    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
        folder = Path(tmp)
        params, metrics = bt.search_data(n)
        bt.use_ours(folder / "ours")
        bt.fill_ours(params, metrics)
        bt.close_ours()
        server, token = start_server(folder / "ours" / "mlops.db", folder)
        ours = {}
        try:
            for label, query, _ in QUERIES:
                ours[label] = server_times(server, token, query, (REPS + 1) * len(ours))
        finally:
            server.stop()
        theirs = mlflow_times(n, params, metrics, folder)

    bt.section(f"First page ({PAGE_SIZE} runs) of the runs list over {bt.size(n)} runs, median of {REPS}")
    print(f"{'query':14s} {'ours: server':>14s} {'(first)':>9s} {'round trip':>11s} "
          f"{'mlflow search_runs':>19s} {'(first)':>9s} {'ratio':>7s}  target")
    for label, _, _ in QUERIES:
        logged, trips, count = ours[label]
        server_ms = statistics.median(logged[1:]) if len(logged) > 1 else float("nan")
        first_ms = logged[0] if logged else float("nan")
        mlflow_ms, mlflow_first, _ = theirs[label] if theirs else (None, None, None)
        ratio = f"{mlflow_ms / server_ms:6.1f}x" if mlflow_ms else "     -"
        met = "met" if server_ms <= TARGET_MS else "MISSED"
        peer = f"{mlflow_ms:16.1f} ms {mlflow_first:6.1f} ms" if mlflow_ms else f"{'not installed':>19s} {'':9s}"
        print(f"{label:14s} {server_ms:11.1f} ms {first_ms:6.1f} ms {statistics.median(trips):8.1f} ms "
              f"{peer} {ratio}  <= {TARGET_MS} ms: {met}  ({count} runs on the page)")
    if theirs is None:
        print("MLflow is not installed here: `make bench` installs it for the peer column.")
    print("ratio = MLflow's median / ours (> 1: ours is faster). Ours is tornado's request time, handler included;")
    print("'(first)': each query's first call (the server's first request overall comes first in the table).")
    print(_context.footer())
    return 0


if __name__ == "__main__":
    sys.exit(main())
