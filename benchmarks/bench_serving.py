"""Serving benchmark: our server (scikit-learn and ONNX runtimes) vs ``mlflow models serve``, in one run.

    .venv/bin/python benchmarks/bench_serving.py [--seconds 10] [--requests 500] [--clients 8]

One 100-tree random forest on scikit-learn's breast-cancer data (30 float columns) is logged,
approved and exported into a package (in a fresh temporary store; the working directory is not
touched). Then, one server at a time on 127.0.0.1, each given the same package folder and the
same request body (one row as ``dataframe_split`` JSON):

1. single-row latency: one client, keep-alive connection, ``--requests`` sequential requests after
   50 warm-up ones; p50 and p99 of the wall time per request as the client sees it;
2. throughput: ``--clients`` client processes, each with its own keep-alive connection, sending
   requests back to back for ``--seconds``; answered requests per second.

Servers: ``jupyter mlops serve --runtime sklearn``, ``jupyter mlops serve --runtime onnx`` (one
uvicorn process each) and ``mlflow models serve --env-manager local`` (one uvicorn worker, its
default; ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION=true`` because MLflow 3 refuses any model file,
skops included, without it). Also timed: export (with the ONNX load / conversion / check shown
apart, from the package's own record), verify and load of the same package.

Targets: >= 3x MLflow's throughput with the scikit-learn runtime, >= 10x with ONNX; p50 <= 3 ms
with ONNX; export (without ONNX conversion) + verify <= 1 s. Exit status 0 either way.

The commit and the load average are printed with the figures (benchmarks/_context.py); servers are
started and polled with tests/helpers/net.py, the helper the tests use.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import time
from http.client import HTTPConnection
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))  # tests.helpers
import _context

from tests.helpers.net import ServerProcess


def prepare(folder: Path) -> dict:
    """Train, log, approve, export, verify and load; returns the package and the timings."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    import jupyter_mlops as mlops

    mlops.set_tracking_uri(folder / "mlops.db")
    data = load_breast_cancer(as_frame=True)
    model = RandomForestClassifier(n_estimators=100, random_state=0).fit(data.data, data.target)
    with mlops.start_run("bench") as run:
        mlops.log_model(model, training_data=data.frame, target="target")
    mlops.approve(run.id, by="bench", reason="benchmark")
    start = time.perf_counter()
    record = mlops.export(run.id, name="forest")
    export_s = time.perf_counter() - start
    start = time.perf_counter()
    assert mlops.verify("forest/1").ok
    verify_s = time.perf_counter() - start
    start = time.perf_counter()
    loaded = mlops.load_model("forest/1", runtime="auto")
    load_s = time.perf_counter() - start
    onnx = json.loads((Path(record["package_uri"]) / "package.json").read_text())["onnx"]
    row = data.data.iloc[[0]]
    return {"package": record["package_uri"], "uri": str(folder / "mlops.db"), "export_s": export_s,
            "verify_s": verify_s, "load_s": load_s, "onnx": onnx, "runtime_after_load": loaded.runtime,
            "body": json.dumps({"dataframe_split": {"columns": list(row.columns), "data": row.values.tolist()}}),
            "expected": int(model.predict(row)[0])}


def request(conn: HTTPConnection, path: str, body: str) -> bytes:
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    if response.status != 200:
        raise RuntimeError(f"{path}: HTTP {response.status}: {data[:300]!r}")
    return data


def latency(port: int, path: str, body: str, n: int) -> dict:
    conn = HTTPConnection("127.0.0.1", port, timeout=60)
    for _ in range(50):
        request(conn, path, body)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        request(conn, path, body)
        times.append(time.perf_counter() - start)
    times.sort()
    return {"p50_ms": 1000 * statistics.median(times), "p99_ms": 1000 * times[int(0.99 * (len(times) - 1))]}


def _client(args) -> int:
    port, path, body, seconds, start_at = args
    conn = HTTPConnection("127.0.0.1", port, timeout=60)
    while time.time() < start_at:
        time.sleep(0.001)
    done, stop = 0, start_at + seconds
    while time.time() < stop:
        request(conn, path, body)
        done += 1
    return done


def throughput(port: int, path: str, body: str, clients: int, seconds: float) -> float:
    with mp.get_context("fork").Pool(clients) as pool:
        start_at = time.time() + 1.0  # every client connected and waiting
        counts = pool.map(_client, [(port, path, body, seconds, start_at)] * clients)
    return sum(counts) / seconds


def answer(port: int, path: str, body: str) -> int:
    data = json.loads(request(HTTPConnection("127.0.0.1", port, timeout=60), path, body))
    return int(data["predictions"][0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="throughput window per server")
    parser.add_argument("--requests", type=int, default=500, help="sequential requests for latency")
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    print(_context.header(), flush=True)

    folder = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    try:
        info = prepare(folder)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "MLFLOW_"))}
        env.update(PYTHONPATH=str(ROOT), MLFLOW_ALLOW_PICKLE_DESERIALIZATION="true",
                   MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true",
                   PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")  # mlflow execs `uvicorn` from PATH
        ours = [sys.executable, "-m", "jupyter_mlops", "--uri", info["uri"], "serve", info["package"],
                "--port", "{port}", "--runtime"]
        servers = {
            "ours (sklearn)": (ours + ["sklearn"], "/predict", "/readyz"),
            "ours (onnx)": (ours + ["onnx"], "/predict", "/readyz"),
            "mlflow serve": ([str(BIN / "mlflow"), "models", "serve", "-m", info["package"], "--env-manager", "local",
                              "-h", "127.0.0.1", "-p", "{port}"], "/invocations", "/ping"),
        }
        if shutil.which("mlflow", path=str(BIN)) is None:
            print("mlflow is not installed in this environment (make .venv/.stamp-bench): MLflow is skipped")
            servers.pop("mlflow serve")
        results = {}
        for name, (argv, path, ready) in servers.items():
            print(f"measuring {name} ...", flush=True)
            log = folder / f"{name.split()[0]}-{name.split()[-1].strip('()')}.log"
            server = ServerProcess(argv, ready, log, cwd=folder, env=env, timeout=180).start()
            try:
                assert answer(server.port, path, info["body"]) == info["expected"], f"{name} predicts otherwise"
                results[name] = latency(server.port, path, info["body"], args.requests)
                results[name]["req_s"] = throughput(server.port, path, info["body"], args.clients, args.seconds)
            finally:
                server.stop(grace=30)  # its whole process group: the uvicorn workers MLflow starts go too
        report(info, results, args)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def report(info: dict, results: dict, args) -> None:
    onnx = info["onnx"]
    seconds = onnx.get("seconds", {})
    onnx_s = sum(seconds.values())
    print(f"\nmodel: RandomForestClassifier(n_estimators=100), 30 float columns; one row per request; "
          f"{args.clients} clients for {args.seconds:g} s")
    print(f"{'server':<16}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>10}{'x mlflow':>10}")
    base = results.get("mlflow serve", {}).get("req_s")
    for name, r in results.items():
        ratio = f"{r['req_s'] / base:.1f}x" if base else "-"
        print(f"{name:<16}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['req_s']:>10.0f}{ratio:>10}")
    print(f"\nexport {info['export_s']:.3f} s, of which ONNX {onnx_s:.3f} s (load {seconds.get('load', 0):.3f}, "
          f"convert {seconds.get('convert', 0):.3f}, check on {onnx.get('rows_checked', 0)} rows "
          f"{seconds.get('check', 0):.3f}); ONNX: {onnx['note']}")
    without = info["export_s"] - onnx_s
    print(f"export without ONNX + verify: {without:.3f} + {info['verify_s']:.3f} = {without + info['verify_s']:.3f} s "
          f"(target <= 1 s); load_model: {info['load_s']:.3f} s on {info['runtime_after_load']}")
    if base:
        sk, ox = results["ours (sklearn)"], results["ours (onnx)"]
        print(f"targets: sklearn runtime {sk['req_s'] / base:.1f}x mlflow (>= 3x), "
              f"onnx {ox['req_s'] / base:.1f}x (>= 10x), onnx p50 {ox['p50_ms']:.2f} ms (<= 3 ms), "
              f"mlflow p50 {results['mlflow serve']['p50_ms']:.2f} ms")
    print(_context.footer())


if __name__ == "__main__":
    main()
