"""Optional system metrics: sampled by the writer thread into ``system.*`` metrics, and nothing when off."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import types

import psutil
import pytest

import jupyter_mlops as mlops
from jupyter_mlops.exceptions import InvalidInputError
from jupyter_mlops.tracking import system_metrics
from jupyter_mlops.tracking.store import open_store

from .conftest import PYTHON, python_env
from .helpers.waiting import wait_until

SYSTEM_KEYS = {"system.cpu_percent", "system.rss_mb", "system.memory_percent"}


def burn_cpu() -> None:
    """Use some CPU time: until this process's CPU clock has moved on (it ticks in 10 ms steps)."""
    start = sum(os.times()[:2])
    while sum(os.times()[:2]) == start:
        sum(i * i for i in range(10_000))


def test_samples_land_in_the_run_until_it_ends(backend, monkeypatch):
    monkeypatch.setenv(system_metrics.ENV_INTERVAL, "0.05")
    store = open_store()
    with mlops.start_run("sampled", system_metrics=True) as run:
        def three_samples():
            burn_cpu()
            return len(store.metric_history(run.id, "system.cpu_percent")) >= 3

        wait_until(three_samples, "three samples of system.cpu_percent in the store")
        writer = run._writer
    wait_until(lambda: run.id not in writer.sampled_runs, "the writer to stop sampling the ended run")
    mlops.flush()

    record = mlops.get_run(run.id)
    assert SYSTEM_KEYS <= set(record.metrics)
    cpu = [v for _, v, _ in store.metric_history(run.id, "system.cpu_percent")]
    assert min(cpu) >= 0 and max(cpu) > 0  # the loop above kept a core busy
    rss = [v for _, v, _ in store.metric_history(run.id, "system.rss_mb")]
    now = psutil.Process().memory_info().rss / 2**20
    assert all(now / 2 < v < now * 2 for v in rss), (rss, now)
    assert 0 < record.metrics["system.memory_percent"] < 100
    history = store.metric_history(run.id, "system.rss_mb")
    assert [step for step, _, _ in history] == list(range(len(history)))  # one step per sample
    assert {len(store.metric_history(run.id, key)) for key in SYSTEM_KEYS} == {len(history)}
    found = mlops.search_runs(filter="metrics.system.rss_mb > 0")
    assert found["run_id"].tolist() == [run.id]


CHILD = """
import json, sys, threading
import jupyter_mlops as mlops
from jupyter_mlops.tracking.store import open_store

before = threading.active_count()
with mlops.start_run("plain") as run:
    mlops.log_metric("m", 1.0)
    seen = {"psutil": "psutil" in sys.modules, "sampler": run._writer._sampler is not None,
            "threads": threading.active_count() - before}
seen["plain_keys"] = sorted(mlops.get_run(run.id).metrics)
with mlops.start_run("asked", system_metrics=True if "--ask" in sys.argv else None) as asked:
    store = open_store()
    while len(store.metric_history(asked.id, "system.rss_mb")) < 2:
        mlops.flush()
seen["psutil_after"] = "psutil" in sys.modules
seen["asked"] = asked.id
print(json.dumps(seen))
"""


@pytest.mark.parametrize("how", ["--ask", "env"])
def test_off_costs_nothing_and_either_switch_turns_it_on(project, how):
    env = python_env(MLOPS_SYSTEM_METRICS_INTERVAL="0.05")
    if how == "env":
        env["MLOPS_SYSTEM_METRICS"] = "1"
    out = subprocess.run([PYTHON, "-c", CHILD, how], cwd=project, env=env, capture_output=True, text=True,
                         timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    if how == "--ask":  # the first run asked for nothing: no sampler, no psutil, only the writer's thread
        assert seen["psutil"] is False and seen["sampler"] is False and seen["threads"] == 1
        assert seen["plain_keys"] == ["m"]
    else:  # MLOPS_SYSTEM_METRICS=1 samples every run, the first too
        assert seen["psutil"] is True and seen["sampler"] is True
    assert seen["psutil_after"] is True
    assert SYSTEM_KEYS <= set(mlops.get_run(seen["asked"]).metrics)


def test_a_bad_interval_is_refused_before_a_run_starts(project, monkeypatch):
    monkeypatch.setenv(system_metrics.ENV_INTERVAL, "often")
    with pytest.raises(InvalidInputError, match=r"MLOPS_SYSTEM_METRICS_INTERVAL='often': expected a number of seconds"):
        mlops.start_run("x", system_metrics=True)
    assert mlops.search_runs().empty
    with mlops.start_run("y"):  # off: the variable is not even read
        pass


def test_proc_gives_what_psutil_gives():
    """Without psutil the numbers come from /proc and os.times: the same quantities."""
    proc, ps = system_metrics.ProcSampler(), system_metrics.PsutilSampler()
    assert abs(proc.cpu_seconds() - ps.cpu_seconds()) < 0.5
    assert abs(proc.rss_bytes() - ps.rss_bytes()) < 0.2 * ps.rss_bytes()
    assert abs(proc.memory_percent() - ps.memory_percent()) < 5
    sampler = system_metrics.SystemSampler(process=proc)
    burn_cpu()
    sample = sampler.sample()
    assert set(sample) == SYSTEM_KEYS and sample["system.cpu_percent"] > 0


def test_gpu_metrics_through_nvml(monkeypatch):
    """No GPU here: a stand-in for pynvml (nvidia-ml-py) shows the keys and units NVML's answers become."""
    device = object()
    nvml = types.SimpleNamespace(
        nvmlInit=lambda: None, nvmlDeviceGetCount=lambda: 1, nvmlDeviceGetHandleByIndex=lambda i: device,
        nvmlDeviceGetUtilizationRates=lambda h: types.SimpleNamespace(gpu=87 if h is device else None),
        nvmlDeviceGetMemoryInfo=lambda h: types.SimpleNamespace(used=3 * 2**30),
    )
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    sample = system_metrics.SystemSampler().sample()
    assert sample["system.gpu.0.utilization_percent"] == 87.0 and sample["system.gpu.0.memory_mb"] == 3072.0
    monkeypatch.setitem(sys.modules, "pynvml", None)  # not installed: no GPU keys, no error
    assert not any("gpu" in key for key in system_metrics.SystemSampler().sample())
