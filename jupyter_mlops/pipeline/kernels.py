"""A pool of pre-started, warmed kernels, each used for exactly one pipeline step.

Starting a kernel (~0.7 s) and importing scikit-learn in it (~1-2 s) dominate short steps. The
pool starts kernels ahead of need, with the spec's ``preload`` modules and the ones the steps'
notebooks import already imported, and hands each out once: steps never share interpreter
state, but the next step's kernel is ready while the current one runs. Standard IPython kernels
are forked from a kernel template that did those imports once (:mod:`.forked_kernels`), so a
kernel costs a fork and the kernel's own set-up instead of a whole start; other kernels start
as processes of their own and import in place. Kernels listen on IPC sockets with a unique path
each, so kernels started at the same moment (from threads or processes) cannot collide on a port.
"""
from __future__ import annotations

import atexit
import logging
import os
import queue
import shutil
import tempfile
import threading
import time
import uuid

log = logging.getLogger("jupyter_mlops")

START_TIMEOUT = 120


class KernelStartError(RuntimeError):
    pass


def _socket_dir() -> str:
    # Unix socket paths are limited to ~100 bytes: keep the folder short.
    return tempfile.mkdtemp(prefix="mlk-", dir="/tmp" if os.path.isdir("/tmp") else None)


def start_kernel(kernel_name: str, preload: tuple[str, ...] = (), optional: tuple[str, ...] = (),
                 template=None):
    """Start one kernel on its own IPC sockets and import ``preload`` (plus jupyter_mlops) in it.

    ``optional`` modules (those the steps' notebooks import) are imported too when they can be:
    one that fails is left for the step itself to import and report. With a ``template`` (a
    :class:`~.forked_kernels.KernelTemplate` that imported all of them already) the kernel is
    forked from it instead, with nothing left to import.
    """
    from jupyter_core.utils import run_sync

    from .pooled_kernel import PooledKernelManager

    sockets = _socket_dir()
    km = PooledKernelManager(kernel_name=kernel_name, transport="ipc", ip=os.path.join(sockets, "k"))
    km.mlops_socket_dir = sockets
    try:
        if template is not None:
            km.kernel_id = uuid.uuid4().hex
            km.provisioner = template.provisioner_for(km)
        run_sync(km.start_kernel)()
        kc = _blocking_client(km)
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=START_TIMEOUT)
            if template is not None:
                return km
            imports = "; ".join(f"import {m}" for m in (*preload, "jupyter_mlops.api"))
            reply = kc.execute_interactive(imports, timeout=START_TIMEOUT, output_hook=lambda msg: None)
            if reply["content"]["status"] != "ok":
                content = reply["content"]
                raise KernelStartError(f"preloading {', '.join(preload)} failed: {content.get('ename')}: {content.get('evalue')}")
            if optional:
                kc.execute_interactive(_tolerant_imports(optional), timeout=START_TIMEOUT, store_history=False,
                                       output_hook=lambda msg: None)
        finally:
            kc.stop_channels()
    except BaseException:
        kill(km)
        raise
    return km


def _tolerant_imports(modules: tuple[str, ...]) -> str:
    """Code importing each module if it can, from installed packages only: the kernel does not yet
    sit in its step's folder, and a notebook's own ``helpers.py`` must come from that folder."""
    return (
        "import importlib as _il, os as _os, sys as _sys\n"
        "_path = list(_sys.path)\n"
        "_sys.path[:] = [p for p in _path if p not in ('', '.', _os.getcwd())]\n"
        f"for _m in {list(modules)!r}:\n"
        "    try:\n"
        "        _il.import_module(_m)\n"
        "    except (Exception, SystemExit):\n"
        "        pass\n"
        "_sys.path[:] = _path\n"
        "del _il, _os, _sys, _path, _m\n"
    )


def kill(km) -> None:
    """Tear a kernel down at once (a graceful shutdown stalls ~3 s in some runs) and drop its sockets."""
    from jupyter_core.utils import run_sync

    km.mlops_killed = True  # a set-up exchange waiting on this kernel gives up (prepare_for_step)
    try:
        if km.has_kernel:
            run_sync(km.shutdown_kernel)(now=True)
    except Exception as exc:  # noqa: BLE001 - already dead
        log.debug("kernel shutdown: %s", exc)
    finally:
        folder = getattr(km, "mlops_socket_dir", None)
        if folder:
            shutil.rmtree(folder, ignore_errors=True)


def _alive(km) -> bool:
    from jupyter_core.utils import run_sync

    return run_sync(km.is_alive)()


def _blocking_client(km):
    """A synchronous client of an async-managed kernel, for our own short set-up exchanges."""
    from .pooled_kernel import PooledBlockingKernelClient

    return PooledBlockingKernelClient(**km.get_connection_info(session=True), parent=km)


def prepare_for_step(km, cwd: str, env: dict[str, str]) -> None:
    """Point a pooled kernel at its step: working folder and environment (run ids, store)."""
    kc = _blocking_client(km)
    kc.start_channels()
    try:
        code = f"import os as _os\n_os.chdir({cwd!r})\n_os.environ.update({env!r})\ndel _os"
        reply = _reply_to(kc, km, kc.execute(code, store_history=False), timeout=60)
        if reply["content"]["status"] != "ok":
            raise KernelStartError(f"could not prepare the kernel: {reply['content'].get('evalue')}")
    finally:
        kc.stop_channels()


def _reply_to(kc, km, msg_id: str, timeout: float) -> dict:
    """The shell reply to ``msg_id``, waited for in short slices: a kernel killed meanwhile (SIGTERM
    reaching the runner) ends the wait at once instead of holding the step's thread for ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        if getattr(km, "mlops_killed", False):
            raise KernelStartError("the kernel was killed while being prepared for its step")
        try:
            reply = kc.get_shell_msg(timeout=0.5)
        except queue.Empty:
            if time.monotonic() > deadline:
                raise KernelStartError(f"the kernel did not answer within {timeout:g} s") from None
            continue
        if reply.get("parent_header", {}).get("msg_id") == msg_id:
            return reply


class KernelPool:
    """Keeps up to ``size`` warmed kernels ready per kernel name, never more than the steps still
    expected to need one; ``take`` hands one out for one step."""

    def __init__(self, size: int, preload: tuple[str, ...] = (), optional: tuple[str, ...] = ()):
        self.size = max(1, size)
        self.preload = tuple(preload)
        self.optional = tuple(m for m in optional if m not in self.preload)
        self._ready: dict[str, queue.Queue] = {}
        self._expected: dict[str, int] = {}  # steps that will still ask for a kernel
        self._waiting: dict[str, int] = {}  # steps asking right now
        self._starting: dict[str, int] = {}  # kernels being started
        self._leased: dict[str, object] = {}
        self._lock = threading.Lock()
        self._ready_changed = threading.Condition(self._lock)  # a kernel (or an error) was put in _ready
        self._closed = False
        self._starters: list[threading.Thread] = []
        self._templates: dict[str, object] = {}  # kernel name -> KernelTemplate, or None: start plainly
        self._template_lock = threading.Lock()
        atexit.register(self.close)

    def _template(self, kernel_name: str):
        """The template this pool forks ``kernel_name`` kernels from, started on first use; None when
        that kernel cannot be forked (not a standard ipykernel, or ``MLOPS_KERNEL_TEMPLATE=0``)."""
        from . import forked_kernels

        with self._template_lock:
            if kernel_name in self._templates:
                return self._templates[kernel_name]
            template = None
            if forked_kernels.enabled() and not self._closed:
                from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

                try:
                    spec = KernelSpecManager().get_kernel_spec(kernel_name)
                except NoSuchKernel:  # the plain start reports it to the step
                    spec = None
                python = spec and forked_kernels.template_python(spec)
                if python:
                    try:
                        template = forked_kernels.KernelTemplate(python, self.preload, self.optional, spec.env)
                    except (OSError, forked_kernels.TemplateError) as exc:
                        log.warning("kernels start one by one: the kernel template failed (%s)", exc)
            self._templates[kernel_name] = template
            return template

    def _start(self, kernel_name: str):
        """A warmed kernel: forked from the template when there is one, else started and warmed here."""
        template = self._template(kernel_name)
        if template is not None:
            missing = {m: e for m, e in template.failed.items() if m in self.preload}
            if missing:
                error = next(iter(missing.values()))
                raise KernelStartError(f"preloading {', '.join(self.preload)} failed: {error}")
            try:
                return start_kernel(kernel_name, template=template)
            except Exception as exc:
                if template.alive:  # the kernel itself failed: its step reports that
                    raise
                # The template died (its fork failed, or took the kernel down with it): this and
                # later kernels start the plain way.
                log.warning("the kernel template ended (%s): kernels start the plain way", exc)
                with self._template_lock:
                    if self._templates.get(kernel_name) is template:
                        self._templates[kernel_name] = None
                template.close()
        return start_kernel(kernel_name, self.preload, self.optional)

    def expect(self, kernel_name: str, steps: int) -> None:
        """``steps`` more steps will need a ``kernel_name`` kernel: never start more than that."""
        with self._lock:
            self._expected[kernel_name] = steps
        self.warm(kernel_name)

    def warm(self, kernel_name: str) -> None:
        """Start kernels in the background so that every waiting step gets one and up to ``size``
        more (no more than the steps still expected) are ready or coming."""
        with self._lock:
            ready = self._ready.setdefault(kernel_name, queue.Queue())
            ahead = self.size
            if kernel_name in self._expected:
                ahead = min(ahead, self._expected[kernel_name])
            target = self._waiting.get(kernel_name, 0) + ahead
            missing = target - ready.qsize() - self._starting.get(kernel_name, 0)
            for _ in range(max(0, missing)):
                self._starting[kernel_name] = self._starting.get(kernel_name, 0) + 1
                thread = threading.Thread(target=self._start_into, args=(kernel_name, ready), daemon=True)
                self._starters.append(thread)
                thread.start()

    def _start_into(self, kernel_name: str, ready: queue.Queue) -> None:
        try:
            item = self._start(kernel_name)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting taker, which re-raises it
            item = exc
        if self._closed and not isinstance(item, BaseException):
            kill(item)
        # Counted as ready the moment it stops being counted as starting: nobody waits on a gap.
        with self._lock:
            self._starting[kernel_name] -= 1
            ready.put(item)
            self._ready_changed.notify_all()

    def take(self, kernel_name: str):
        """A warmed kernel for one step (waits for one being started); a replacement starts at once."""
        if self._closed:
            raise KernelStartError("the kernel pool is closed")
        with self._lock:
            self._waiting[kernel_name] = self._waiting.get(kernel_name, 0) + 1
            if self._expected.get(kernel_name):
                self._expected[kernel_name] -= 1
        served = False
        try:
            self.warm(kernel_name)
            while True:
                item = self._next_ready(kernel_name)
                served = True
                if isinstance(item, BaseException) or self._closed or _alive(item):
                    break
                kill(item)  # it died while ready (its template ended): wait for the replacement
                with self._lock:
                    self._waiting[kernel_name] += 1
                served = False
                self.warm(kernel_name)
        finally:
            if not served:
                with self._lock:
                    self._waiting[kernel_name] -= 1
        if isinstance(item, BaseException):
            raise KernelStartError(f"kernel {kernel_name!r} did not start: {item}") from item
        if self._closed:  # closed while this step waited: the kernel must not outlive the pool
            kill(item)
            raise KernelStartError("the kernel pool was closed while the step waited for a kernel")
        lease = uuid.uuid4().hex
        with self._lock:
            self._leased[lease] = item
        item.mlops_lease = lease
        self.warm(kernel_name)
        return item

    def _next_ready(self, kernel_name: str):
        """The next ready kernel (or start error), counted out of the waiting steps in the same locked
        step as it leaves the queue: a warm() in between would see a served step still waiting and
        start a kernel nobody needs (seen under load: four kernels for three steps)."""
        ready = self._ready[kernel_name]
        deadline = time.monotonic() + START_TIMEOUT * 3  # a template's imports, then a plain start
        with self._ready_changed:
            while True:
                try:
                    item = ready.get_nowait()
                except queue.Empty:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        item = KernelStartError(f"no kernel was ready within {START_TIMEOUT * 3:g} s")
                    else:
                        self._ready_changed.wait(left)
                        continue
                self._waiting[kernel_name] -= 1
                return item

    def release(self, km) -> None:
        """A kernel is never reused: kill it, and close the clients its step used."""
        with self._lock:
            self._leased.pop(getattr(km, "mlops_lease", None), None)
        kill(km)
        km.close_clients()

    def close(self) -> None:
        """Kill every kernel of the pool, ready or leased."""
        self._closed = True
        with self._lock:
            leased = list(self._leased.values())
            self._leased.clear()
        for km in leased:
            kill(km)
        for thread in list(self._starters):
            thread.join(timeout=30)
        for ready in self._ready.values():
            while not ready.empty():
                item = ready.get_nowait()
                if not isinstance(item, BaseException):
                    kill(item)
        # Wake every step still waiting for a kernel; otherwise its thread (and interpreter exit) hangs.
        with self._lock:
            for name, ready in self._ready.items():
                for _ in range(self._waiting.get(name, 0)):
                    ready.put(KernelStartError("the kernel pool was closed while the step waited for a kernel"))
            self._ready_changed.notify_all()
        with self._template_lock:
            templates = [t for t in self._templates.values() if t is not None]
            self._templates = {name: None for name in self._templates}
        for template in templates:
            template.close()
