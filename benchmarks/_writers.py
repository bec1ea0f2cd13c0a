"""Writer processes for the tracking benchmarks: N clients started together, timed from one signal.

Each writer script takes ``points go uri`` and prints the time its points were durable; every child
imports everything it needs before ``go``, so start-up is not counted against either side.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

from _context import ROOT


def client_env(uri: str, token: str = "") -> dict:
    """A client of ``uri`` (our store or server, or MLflow's), no store settings inherited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "MLFLOW_"))}
    env.update(MLOPS_TRACKING_URI=uri, MLFLOW_TRACKING_URI=uri, MLOPS_TOKEN=token, MLFLOW_ENABLE_TELEMETRY="false",
               DO_NOT_TRACK="1", PYTHONPATH=str(ROOT))
    return env


def run_writers(script: str, writers: int, points: int, uri: str, token: str = "") -> float:
    """Points per second of ``writers`` processes each making ``points`` durable."""
    go = time.time() + 10 + 2 * writers  # every child has imported everything before the start signal
    procs = [subprocess.Popen([sys.executable, "-c", script, str(points), str(go), uri], env=client_env(uri, token),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(writers)]
    ends = []
    for proc in procs:
        out, err = proc.communicate(timeout=3600)
        if proc.returncode != 0:
            raise RuntimeError(f"writer failed: {err[-2000:]}")
        ends.append(float(out.strip().splitlines()[-1]))
    if min(ends) < go:
        raise RuntimeError("a writer finished before the start signal: raise the start delay")
    return writers * points / (max(ends) - go)
