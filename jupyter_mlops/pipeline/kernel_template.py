"""The kernel template: a process that imports ipykernel and a pipeline's modules once, then
forks a fresh kernel for each step.

A kernel started the usual way pays ~0.2 s for ipykernel and ~1 s for scikit-learn and pandas
before a step's first cell; on two cores that start-up, repeated for every step, outweighs a
short step itself. Forking a process that already holds those modules gives each step a new
interpreter (nothing leaks from one step to the next: every kernel is a child of the untouched
template, never of a previous step) in a few milliseconds, plus the kernel's own set-up.

Runs as ``python -c "...kernel_template import main; main()" CONFIG`` with the kernel's Python.
It speaks JSON lines: stdout says ``{"ready": ...}`` once the imports are done, then answers each
fork request read from stdin with ``{"pid": N}``. When stdin closes (the runner exited, however it
ended) it kills every kernel it forked and exits, so no kernel outlives the runner. This module is
imported before the template's own imports: it must stay light and start no thread, since only
the forking thread survives a fork.
"""
from __future__ import annotations

import json
import os
import signal
import sys

_MATPLOTLIB_INLINE = "module://matplotlib_inline.backend_inline"


def _import_all(modules: list[str], required: bool) -> dict[str, str]:
    """Import ``modules``; the failures as ``{module: "Error: message"}``.

    Optional modules are imported from installed packages only: the template does not sit in any
    step's folder, and a notebook's own ``helpers.py`` must come from that step's folder.
    """
    import importlib

    failed = {}
    path = list(sys.path)
    if required:  # as in a kernel started in this folder, which IPython puts first on the path
        sys.path.insert(0, os.getcwd())
    else:
        sys.path[:] = [p for p in path if p not in ("", ".", os.getcwd())]
    try:
        for name in modules:
            try:
                importlib.import_module(name)
            except (Exception, SystemExit) as exc:  # noqa: BLE001  (reported; the step imports it itself)
                failed[name] = f"{type(exc).__name__}: {exc}"
    finally:
        sys.path[:] = path
    return failed


def _reply(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _become_kernel(request: dict, template_pid: int) -> None:
    """In the forked child: detach, take the step's environment and run an IPython kernel."""
    os.setsid()  # its own process group: killing the kernel kills what it started too
    for signum in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(signum, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # never write into the template's answer pipe
    os.close(devnull)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    numpy = sys.modules.get("numpy")
    if numpy is not None:  # seeded once at import in the template: every kernel would draw alike
        numpy.random.seed()
    from ipykernel.kernelapp import IPKernelApp

    sys.argv = [sys.executable, "-m", "ipykernel_launcher", "-f", request["connection_file"]]
    IPKernelApp.launch_instance(argv=["-f", request["connection_file"],
                                      f"--IPKernelApp.parent_handle={template_pid}"])


def main() -> None:
    config = json.loads(sys.argv[1])
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]  # as ipykernel_launcher does; IPython puts the step's folder back
    os.environ.setdefault("MPLBACKEND", _MATPLOTLIB_INLINE)  # what ipykernel sets before any import
    failed = _import_all(["ipykernel.kernelapp", *config.get("preload", []), "jupyter_mlops.api"], required=True)
    _import_all(config.get("optional", []), required=False)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # kernels are reaped as they exit: no zombies
    threads = sys.modules["threading"].active_count() if "threading" in sys.modules else 1
    _reply({"ready": True, "failed": failed, "threads": threads})

    template_pid = os.getpid()
    children: list[int] = []
    for line in sys.stdin:
        request = json.loads(line)
        try:
            pid = os.fork()
        except OSError as exc:
            _reply({"error": f"fork failed: {exc}"})
            continue
        if pid == 0:
            code = 0
            try:
                _become_kernel(request, template_pid)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:  # noqa: BLE001  (a kernel's end must never return into the template loop)
                import traceback

                traceback.print_exc()
                code = 1
            finally:
                os._exit(code)
        children = [p for p in children if _is_child(p, template_pid)] + [pid]  # the ended ones go
        _wait_for_own_group(pid)
        _reply({"pid": pid})
    for pid in children:  # the runner is gone: so are its kernels
        if _is_child(pid, template_pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass


def _wait_for_own_group(pid: int) -> None:
    """Answer only once the kernel leads its own process group, so that a kill sent to the group at
    once (a timeout, SIGTERM to the runner) cannot miss it."""
    import time

    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        try:
            if os.getpgid(pid) == pid:
                return
        except OSError:  # it has already ended
            return
        time.sleep(0.001)


def _is_child(pid: int, parent: int) -> bool:
    """Whether ``pid`` is still a process of ``parent`` (a finished kernel's pid may be reused)."""
    if not os.path.isdir("/proc/self"):  # no /proc here: whether the pid is alive must do
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1]) == parent
    except (OSError, ValueError, IndexError):
        return False
