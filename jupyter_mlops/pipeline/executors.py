"""Where steps run: threads of this process (default) or the workers of a Dask cluster.

Both take :class:`StepTask` objects and hand back futures of :class:`StepOutcome`; the runner
does not know which one it talks to. Each process that runs steps keeps its own kernel pool.
"""
from __future__ import annotations

import concurrent.futures as cf
import os
import threading

from .execution import StepTask, import_papermill_in_background, run_task
from .kernels import KernelPool

_worker_pool: KernelPool | None = None
_worker_pool_lock = threading.Lock()


def worker_pool(size: int = 1, preload: tuple = (), optional: tuple = ()) -> KernelPool:
    """The kernel pool of this (Dask worker) process, created on its first step."""
    global _worker_pool
    with _worker_pool_lock:
        if _worker_pool is None:
            _worker_pool = KernelPool(size, preload, optional)
            import_papermill_in_background()
        return _worker_pool


def run_on_worker(task: StepTask):
    return run_task(task, worker_pool(1, task.preload, task.optional_preload))


class LocalExecutor:
    """Steps in threads of this process, ``jobs`` at a time, on a pool of warm kernels."""

    name = "local"

    def __init__(self, jobs: int, preload: tuple = (), optional: tuple = ()):
        self.jobs = jobs
        # One warm kernel per slot plus one: the next step's kernel is ready when a slot frees.
        self.pool = KernelPool(jobs + 1, preload, optional)
        import_papermill_in_background()
        self._threads = cf.ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="mlops-step")

    def warm(self, kernel_name: str, count: int) -> None:
        self.pool.expect(kernel_name, count)

    def submit(self, task: StepTask):
        return self._threads.submit(run_task, task, self.pool)

    def wait_any(self, futures, timeout: float | None = None):
        done, _ = cf.wait(futures, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return done

    def kill_all(self) -> None:
        self.pool.close()

    def close(self) -> None:
        self.pool.close()
        self._threads.shutdown(wait=False, cancel_futures=True)


class DaskExecutor:
    """Steps on a Dask cluster: ``scheduler`` address, or a LocalCluster of ``jobs`` single-threaded workers."""

    name = "dask"

    def __init__(self, jobs: int, scheduler: str | None = None, preload: tuple = (), optional: tuple = ()):
        from distributed import Client, LocalCluster

        self.cluster = None
        if scheduler:
            self.client = Client(scheduler)
        else:
            self.cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                                        dashboard_address=None, silence_logs=40)
            self.client = Client(self.cluster)
        self.jobs = jobs
        self.preload = preload
        self.optional = optional

    def warm(self, kernel_name: str, count: int) -> None:
        workers = max(1, len(self.client.scheduler_info().get("workers", {})))
        self.client.run(_warm_worker, kernel_name, self.preload, self.optional, -(-count // workers))

    def submit(self, task: StepTask):
        return self.client.submit(run_on_worker, task, pure=False)

    def wait_any(self, futures, timeout: float | None = None):
        from distributed import wait

        try:
            done, _ = wait(list(futures), timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return set()
        return done

    def kill_all(self) -> None:
        try:
            self.client.run(_close_worker_pool)
        except Exception:  # noqa: BLE001, S110 - best effort on a cluster that may be gone already
            pass

    def close(self) -> None:
        self.kill_all()
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _warm_worker(kernel_name: str, preload: tuple, optional: tuple, steps: int) -> None:
    worker_pool(1, preload, optional).expect(kernel_name, steps)


def _close_worker_pool() -> None:
    global _worker_pool
    with _worker_pool_lock:
        if _worker_pool is not None:
            _worker_pool.close()
            _worker_pool = None


def make_executor(kind: str, jobs: int | None, scheduler: str | None, preload: tuple, optional: tuple = ()):
    """``preload`` must import in every kernel; ``optional`` modules are imported where they can be."""
    jobs = jobs or os.cpu_count() or 1
    if kind == "dask":
        return DaskExecutor(jobs, scheduler, preload, optional)
    if kind == "local":
        return LocalExecutor(jobs, preload, optional)
    raise ValueError(f"unknown executor {kind!r}: use local or dask")
