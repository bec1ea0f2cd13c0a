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
