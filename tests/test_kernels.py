"""The kernel pool: every step gets a kernel, none is started beyond need, none outlives the pool."""
from __future__ import annotations

import concurrent.futures as cf

import pytest
from jupyter_core.utils import run_sync

from jupyter_mlops.pipeline.kernels import KernelPool, KernelStartError

from .helpers.waiting import wait_until


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


def kernel_eval(km, **expressions: str) -> dict:
    """``expressions`` evaluated in the kernel, as the repr strings it sends back."""
    from jupyter_mlops.pipeline.kernels import _blocking_client

    kc = _blocking_client(km)
    kc.start_channels()
    try:
        reply = kc.execute_interactive("", user_expressions=expressions, timeout=60, output_hook=lambda msg: None)
    finally:
        kc.stop_channels()
    return {n: v["data"]["text/plain"] for n, v in reply["content"]["user_expressions"].items()}


def kernel_run(km, code: str) -> None:
    from jupyter_mlops.pipeline.kernels import _blocking_client

    kc = _blocking_client(km)
    kc.start_channels()
    try:
        reply = kc.execute_interactive(code, timeout=60, output_hook=lambda msg: None)
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        kc.stop_channels()


def test_kernels_forked_from_the_template_share_nothing_and_draw_their_own_random_numbers():
    pool = KernelPool(size=2, preload=("numpy",))
    pool.expect("python3", 2)
    first, second = pool.take("python3"), pool.take("python3")
    try:
        template = pool._templates["python3"]
        assert template is not None
        for km in (first, second):  # forked from the template, with numpy already there
            assert kernel_eval(km, ppid="__import__('os').getppid()", numpy="'numpy' in __import__('sys').modules") == {
                "ppid": str(template.pid), "numpy": "True"}
        kernel_run(first, "leak = 1\nimport colorsys\nimport numpy as np\nm = np.ones((300, 300)) @ np.ones((300, 300))")
        assert kernel_eval(second, leak="'leak' in globals()", colorsys="'colorsys' in __import__('sys').modules") == {
            "leak": "False", "colorsys": "False"}
        draws = [kernel_eval(km, r="__import__('numpy').random.rand()")["r"] for km in (first, second)]
        assert draws[0] != draws[1]
    finally:
        pool.release(first)
        pool.release(second)
        pool.close()
    assert not alive(first) and not alive(second)
    assert template.proc.poll() is not None  # the template ended with its pool


def assert_started_plainly_with(module: str) -> None:
    """A pool preloading ``module`` starts its kernel as our own child (no template), module imported."""
    import os

    pool = KernelPool(size=1, preload=(module,))
    pool.expect("python3", 1)
    km = pool.take("python3")
    try:
        assert pool._templates["python3"] is None
        assert kernel_eval(km, ppid="__import__('os').getppid()", mod=f"{module!r} in __import__('sys').modules") == {
            "ppid": str(os.getpid()), "mod": "True"}
    finally:
        pool.release(km)
        pool.close()


def test_without_the_template_kernels_start_as_processes_of_their_own(monkeypatch):
    monkeypatch.setenv("MLOPS_KERNEL_TEMPLATE", "0")
    assert_started_plainly_with("json")


def test_a_preload_that_does_not_import_fails_the_kernel_naming_it():
    pool = KernelPool(size=1, preload=("no_such_module_xyz",))
    try:
        with pytest.raises(KernelStartError, match="no_such_module_xyz"):
            pool.take("python3")
    finally:
        pool.close()


@pytest.mark.parametrize(("argv", "language", "forked"), [
    (["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"], "python", True),
    (["/usr/bin/python3", "-m", "ipykernel", "-f", "{connection_file}"], "python", True),
    (["python", "-m", "ipykernel_launcher", "-f", "{connection_file}", "--matplotlib=inline"], "python", False),
    (["python", "-m", "my_wrapper", "-f", "{connection_file}"], "python", False),
    (["R", "--slave", "-e", "IRkernel::main()", "--args", "{connection_file}"], "R", False),
])
def test_only_standard_ipykernel_specs_are_forked(argv, language, forked):
    from types import SimpleNamespace

    from jupyter_mlops.pipeline.forked_kernels import template_python

    assert (template_python(SimpleNamespace(argv=argv, language=language)) is not None) is forked


KILLED_RUNNER = """
import sys, time
from jupyter_mlops.pipeline.kernels import KernelPool
pool = KernelPool(size=1)
pool.expect("python3", 1)
km = pool.take("python3")
print(pool._templates["python3"].pid, km.provisioner.pid, flush=True)
time.sleep(600)
"""


def test_a_runner_killed_outright_takes_its_template_and_kernels_with_it(tmp_path):
    """SIGKILL leaves the runner no chance to clean up: the template sees its stdin close and ends its kernels."""
    import subprocess
    import sys

    runner = subprocess.Popen([sys.executable, "-c", KILLED_RUNNER], stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    pids = [int(p) for p in runner.stdout.readline().split()]
    assert len(pids) == 2 and all(is_running(p) for p in pids)
    runner.kill()
    runner.wait()
    wait_until(lambda: not any(is_running(p) for p in pids), "the template and its kernel ending",
               details=lambda: f"still running: {[p for p in pids if is_running(p)]}")


def is_running(pid: int) -> bool:
    """Alive and not a zombie waiting for its parent."""
    from pathlib import Path

    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_preloads_that_start_threads_are_not_forked_from(tmp_path, monkeypatch):
    """Forking copies one thread and every lock the others held: such a template is refused and
    kernels start the plain way, with the module imported in them."""
    (tmp_path / "threaded_mod.py").write_text(
        "import threading, time\nthreading.Thread(target=time.sleep, args=(600,), daemon=True).start()\n")
    monkeypatch.chdir(tmp_path)  # a required preload imports from the runner's folder, as before
    assert_started_plainly_with("threaded_mod")


def test_a_template_that_dies_leaves_the_pool_starting_kernels_the_plain_way():
    """Its ready kernels die with it (their parent poller); the next steps get plain kernels."""
    import os

    pool = KernelPool(size=1)
    pool.expect("python3", 3)
    first = pool.take("python3")
    try:
        template = pool._templates["python3"]
        template.proc.kill()
        template.proc.wait()
        # Forked kernels poll their parent and end once it is gone.
        wait_until(lambda: not alive(first), "the forked kernel ending with its template")
        for _ in range(2):
            km = pool.take("python3")
            assert kernel_eval(km, ppid="__import__('os').getppid()") == {"ppid": str(os.getpid())}
            pool.release(km)
        assert pool._templates["python3"] is None
    finally:
        pool.release(first)
        pool.close()


def test_a_preload_that_hangs_fails_the_kernel_start_in_time(tmp_path, monkeypatch):
    from jupyter_mlops.pipeline import forked_kernels, kernels

    (tmp_path / "hang_mod.py").write_text("import time\ntime.sleep(600)\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(forked_kernels, "START_TIMEOUT", 3)
    monkeypatch.setattr(kernels, "START_TIMEOUT", 3)
    pool = KernelPool(size=1, preload=("hang_mod",))
    try:
        with pytest.raises(KernelStartError, match="did not start"):
            pool.take("python3")
        assert pool._templates["python3"] is None  # the template was given up (and killed)
    finally:
        pool.close()


def test_a_process_holding_over_1024_descriptors_still_starts_forked_kernels():
    """A long-lived server or test worker passes descriptor 1024; ``select.select`` refused those (seen in CI)."""
    import os
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        if hard != resource.RLIM_INFINITY and hard < 1200:
            pytest.fail(f"this machine allows only {hard} open files; the test needs 1200")
        resource.setrlimit(resource.RLIMIT_NOFILE, (1200, hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    pool = KernelPool(size=1)
    try:
        pool.expect("python3", 1)
        km = pool.take("python3")
        assert pool._templates["python3"] is not None and pool._templates["python3"].proc.stdout.fileno() >= 1024
        assert alive(km)
        pool.release(km)
    finally:
        pool.close()
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_clients_stopped_as_soon_as_started_leave_no_thread_opening_sockets():
    """jupyter_client's heartbeat thread, stopped before it began, loops opening sockets until zmq
    says "Too many open files" (a warning in -n 4 passes). The pool's clients ask the manager
    whether the kernel lives and start no heartbeat; their other channels still work."""
    import threading

    from jupyter_mlops.pipeline.kernels import _blocking_client

    pool = KernelPool(size=1)
    pool.expect("python3", 1)
    km = pool.take("python3")
    failures: list[BaseException] = []
    previous, threading.excepthook = threading.excepthook, lambda args: failures.append(args.exc_value)
    try:
        for _ in range(10):
            for kc in (_blocking_client(km), km.client()):  # the pool's own client, and nbclient's
                kc.start_channels()
                heartbeat = kc._hb_channel
                kc.stop_channels()
                assert heartbeat is None
        kc = _blocking_client(km)
        kc.start_channels()
        try:
            assert kc.execute_interactive("40 + 2", timeout=60)["content"]["status"] == "ok" and kc.is_alive()
        finally:
            kc.stop_channels()
    finally:
        threading.excepthook = previous
        pool.release(km)
        pool.close()
    assert failures == []


def _open_zmq() -> tuple[int, int]:
    """Open zmq contexts and sockets of this process."""
    import gc

    import zmq

    objects = gc.get_objects()
    return (sum(1 for o in objects if isinstance(o, zmq.Context) and not o.closed),
            sum(1 for o in objects if isinstance(o, zmq.Socket) and not o.closed))


def _descriptors() -> dict[str, int]:
    """This process's open descriptors by kind: socket, pipe, anon_inode (eventfd, epoll), or a path."""
    import collections
    import os

    kinds = collections.Counter()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the listing's own descriptor, closed by now
            continue
        kinds[target.split(":")[0] if target.startswith(("socket:", "pipe:", "anon_inode:")) else target] += 1
    return dict(kinds)


def test_pipelines_run_in_process_leave_no_kernel_client_open(project):
    """nbclient leaves open the client of a kernel it was handed; a Jupyter server running scheduled
    pipelines (or a test worker) ran out of descriptors after some hundred steps (CI)."""
    import gc
    import threading

    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    from jupyter_mlops.cli import main

    nbformat.write(new_notebook(cells=[new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
                                       new_code_cell("import jupyter_mlops as mlops\nmlops.log_metric('x', x)")],
                                metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                         "language": "python"}}), project / "step.ipynb")

    def run(x: int) -> None:
        (project / "pipeline.yaml").write_text(f"name: leak\nsteps:\n  a: {{notebook: step.ipynb, parameters: {{x: {x}}}}}\n"
                                               f"  b: {{notebook: step.ipynb, parameters: {{x: {x + 100}}}}}\n")
        assert main(["run", "pipeline.yaml"]) in (0, None)

    def settled() -> tuple:
        gc.collect()  # event loops of ended step threads close when collected: not a leak
        return _open_zmq(), threading.active_count(), _descriptors()

    run(0)  # the first run starts what stays: the metric writer, imports, the store
    zmq_before, threads, before = settled()
    for x in (1, 2, 3):  # six steps, each on a fresh kernel (new parameters: nothing cached)
        run(x)
    zmq_after, threads_after, after = settled()
    assert zmq_after == zmq_before and threads_after <= threads
    # Each step used to leave about sixteen (a zmq context's eventfds and epoll, five sockets); the
    # store's connection pool may hold a connection more than after the first run.
    grown = {kind: (before.get(kind, 0), after.get(kind, 0)) for kind in ("socket", "anon_inode", "pipe")}
    assert sum(now - then for then, now in grown.values()) < 10, grown
