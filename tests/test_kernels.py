"""The kernel pool: every step gets a kernel, none is started beyond need, none outlives the pool."""
from __future__ import annotations

import concurrent.futures as cf

from jupyter_core.utils import run_sync

from jupyter_mlops.pipeline.kernels import KernelPool


def alive(km) -> bool:
    return run_sync(km.is_alive)()


def test_concurrent_takes_all_get_a_kernel_and_no_extra_is_started():
    pool = KernelPool(size=1)
    pool.expect("python3", 3)
    try:
        with cf.ThreadPoolExecutor(3) as threads:
            kernels = list(threads.map(lambda _: pool.take("python3"), range(3)))
        assert len({id(k) for k in kernels}) == 3 and all(alive(k) for k in kernels)
        assert pool._ready["python3"].qsize() + pool._starting["python3"] == 0  # three steps, three kernels
        for km in kernels:
            pool.release(km)
        assert not any(alive(k) for k in kernels)
    finally:
        pool.close()


def test_close_kills_ready_and_leased_kernels():
    pool = KernelPool(size=2)
    pool.expect("python3", 3)
    leased = pool.take("python3")
    pool.close()
    assert not alive(leased)
    assert pool._ready["python3"].empty()


def kernel_modules(km, *names: str) -> dict:
    """Which of ``names`` the kernel has imported, asked through its own sys.modules."""
    from jupyter_mlops.pipeline.kernels import _blocking_client

    kc = _blocking_client(km)
    kc.start_channels()
    try:
        reply = kc.execute_interactive("", user_expressions={n: f"{n!r} in __import__('sys').modules" for n in names},
                                       timeout=60, output_hook=lambda msg: None)
    finally:
        kc.stop_channels()
    return {n: v["data"]["text/plain"] == "True" for n, v in reply["content"]["user_expressions"].items()}


def test_optional_preload_imports_what_it_can_and_never_a_module_of_the_runner_folder(tmp_path, monkeypatch):
    """A module that does not import (or exists only in the folder the kernel starts in) is left for the step."""
    (tmp_path / "step_helpers.py").write_text("FOLDER = 'where the kernel started, not the step folder'\n")
    monkeypatch.chdir(tmp_path)  # kernels start in this process's folder
    pool = KernelPool(size=1, preload=("json",), optional=("colorsys", "no_such_module_xyz", "step_helpers"))
    pool.expect("python3", 1)
    km = pool.take("python3")
    try:
        assert kernel_modules(km, "json", "colorsys", "no_such_module_xyz", "step_helpers") == {
            "json": True, "colorsys": True, "no_such_module_xyz": False, "step_helpers": False}
    finally:
        pool.release(km)
        pool.close()
