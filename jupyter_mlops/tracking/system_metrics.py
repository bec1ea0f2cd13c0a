"""Optional system metrics of the process a run lives in: CPU, memory, and each GPU when NVIDIA's
NVML answers, recorded as ``system.*`` metrics of the run.

Asked for with ``start_run(system_metrics=True)`` or ``MLOPS_SYSTEM_METRICS=1``, every
``MLOPS_SYSTEM_METRICS_INTERVAL`` seconds (default 10). The metric writer's thread takes the
samples (writer.py), so sampling adds no thread, and while no run asks nothing here runs and
psutil is never imported. psutil is used when installed, else ``/proc`` (Linux); GPUs through
``pynvml`` (the nvidia-ml-py package) when it is installed and a driver answers.

    system.cpu_percent            CPU time of this process over wall time since the last sample
                                  (100 = one core busy; threads count, child processes do not)
    system.rss_mb                 resident memory of this process, MB (2**20 bytes)
    system.memory_percent         memory in use on the machine, %
    system.gpu.<i>.utilization_percent, system.gpu.<i>.memory_mb
"""
from __future__ import annotations

import logging
import os
import time

from ..exceptions import InvalidInputError

log = logging.getLogger("jupyter_mlops")
ENV_ON = "MLOPS_SYSTEM_METRICS"
ENV_INTERVAL = "MLOPS_SYSTEM_METRICS_INTERVAL"
DEFAULT_INTERVAL = 10.0
MB = 2**20
_TRUE = {"1", "true", "yes", "on"}


def requested(flag: bool | None) -> bool:
    """``flag`` when given, else whether ``MLOPS_SYSTEM_METRICS`` says on."""
    if flag is not None:
        return bool(flag)
    return os.environ.get(ENV_ON, "").strip().lower() in _TRUE


def interval() -> float:
    """Seconds between samples, from ``MLOPS_SYSTEM_METRICS_INTERVAL`` (default 10)."""
    text = os.environ.get(ENV_INTERVAL, "").strip()
    if not text:
        return DEFAULT_INTERVAL
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise InvalidInputError(f"{ENV_INTERVAL}={text!r}: expected a number of seconds above 0, e.g. 10")
    return seconds


class ProcSampler:
    """The process's CPU time and memory from ``/proc`` (Linux) and ``os.times``, where psutil is not installed."""

    source = "/proc"

    def __init__(self):
        self.page = os.sysconf("SC_PAGE_SIZE")

    def cpu_seconds(self) -> float:
        times = os.times()
        return times.user + times.system

    def rss_bytes(self) -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * self.page

    def memory_percent(self) -> float:
        info = {}
        with open("/proc/meminfo") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                info[key] = int(rest.split()[0])
        total = info["MemTotal"]
        return 100.0 * (total - info.get("MemAvailable", info.get("MemFree", 0))) / total


class PsutilSampler:
    source = "psutil"

    def __init__(self):
        import psutil

        self.psutil = psutil
        self.process = psutil.Process()

    def cpu_seconds(self) -> float:
        times = self.process.cpu_times()
        return times.user + times.system

    def rss_bytes(self) -> int:
        return self.process.memory_info().rss

    def memory_percent(self) -> float:
        return float(self.psutil.virtual_memory().percent)


class GpuSampler:
    """Each GPU's utilisation and memory in use through NVML; ``None`` from :meth:`open` without one."""

    def __init__(self, nvml, handles):
        self.nvml = nvml
        self.handles = handles

    @classmethod
    def open(cls):
        try:
            import pynvml as nvml

            nvml.nvmlInit()
            count = nvml.nvmlDeviceGetCount()
            handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        except Exception as exc:  # noqa: BLE001 - not installed, no driver, no device: no GPU metrics
            log.debug("jupyter_mlops: no GPU metrics (%s)", exc)
            return None
        return cls(nvml, handles) if handles else None

    def sample(self) -> dict[str, float]:
        values = {}
        for i, handle in enumerate(self.handles):
            values[f"system.gpu.{i}.utilization_percent"] = float(self.nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            values[f"system.gpu.{i}.memory_mb"] = self.nvml.nvmlDeviceGetMemoryInfo(handle).used / MB
        return values


class SystemSampler:
    """One sample of every system metric this machine offers, as ``{key: value}``."""

    def __init__(self, process=None):
        self.process = process or _process_sampler()
        self.gpus = GpuSampler.open()
        self._last = (time.monotonic(), self.process.cpu_seconds())

    def sample(self) -> dict[str, float]:
        now, cpu = time.monotonic(), self.process.cpu_seconds()
        wall = now - self._last[0]
        values = {
            "system.cpu_percent": 100.0 * (cpu - self._last[1]) / wall if wall > 0 else 0.0,
            "system.rss_mb": self.process.rss_bytes() / MB,
            "system.memory_percent": self.process.memory_percent(),
        }
        self._last = (now, cpu)
        if self.gpus is not None:
            values.update(self.gpus.sample())
        return values


def _process_sampler():
    try:
        return PsutilSampler()
    except ImportError:
        return ProcSampler()
