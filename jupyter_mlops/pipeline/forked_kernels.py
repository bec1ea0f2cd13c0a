"""Kernels forked from a kernel template process, seen by jupyter_client as any other kernel.

:class:`KernelTemplate` runs :mod:`.kernel_template` with the kernel's own Python and asks it for
a fresh kernel per step; :class:`ForkedProvisioner` is the jupyter_client provisioner that does
the asking, so papermill, nbclient and the pool start, poll, interrupt and kill these kernels
through the usual ``KernelManager`` calls. Only kernelspecs that run ``ipykernel`` the standard
way are forked; any other kernel starts as a process of its own.
"""
from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time

from jupyter_client.provisioning import LocalProvisioner

_TEMPLATE_CODE = "from jupyter_mlops.pipeline.kernel_template import main; main()"
START_TIMEOUT = 120  # seconds for the template's imports, as for a kernel's start


class TemplateError(RuntimeError):
    pass


def enabled() -> bool:
    """``MLOPS_KERNEL_TEMPLATE=0`` starts every kernel as a process of its own (the slower, plain way)."""
    if not hasattr(os, "fork"):
        return False
    return os.environ.get("MLOPS_KERNEL_TEMPLATE", "1").strip().lower() not in ("0", "false", "no", "off")


def template_python(kernel_spec) -> str | None:
    """The Python of a kernelspec that launches ``ipykernel`` the standard way, or None."""
    argv = list(getattr(kernel_spec, "argv", []) or [])
    if (getattr(kernel_spec, "language", "") or "").lower() != "python" or len(argv) != 5:
        return None
    if argv[1:3] not in (["-m", "ipykernel_launcher"], ["-m", "ipykernel"]) or argv[3:] != ["-f", "{connection_file}"]:
        return None
    if argv[0] in ("python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])):
        return sys.executable  # as jupyter_client resolves a bare "python"
    return shutil.which(argv[0])


def _readable_within(stream, timeout: float) -> bool:
    """Whether ``stream`` has something to read within ``timeout`` seconds.

    ``select.select`` refuses descriptors numbered 1024 or more, which a long-lived process
    (a Jupyter server, a test worker) reaches; a selector (epoll/kqueue/poll) has no such limit.
    """
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        return bool(selector.select(timeout))


class KernelTemplate:
    """One template process: imports once, then forks a kernel per :meth:`fork` call."""

    def __init__(self, python: str, preload: tuple = (), optional: tuple = (), env: dict | None = None):
        config = json.dumps({"preload": list(preload), "optional": list(optional)})
        self.proc = subprocess.Popen(
            [python, "-c", _TEMPLATE_CODE, config], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env={**os.environ, **(env or {})}, text=True, bufsize=1,
            start_new_session=True,  # Ctrl-C in the terminal reaches the runner, which ends this itself
        )
        self.pid = self.proc.pid
        self._lock = threading.Lock()
        if not _readable_within(self.proc.stdout, START_TIMEOUT):  # an import that hangs
            self.close(wait=0)
            raise TemplateError(f"the kernel template did not finish its imports within {START_TIMEOUT} s")
        ready = self._answer()
        if not ready.get("ready"):
            self.close()
            raise TemplateError(f"the kernel template did not start: {ready}")
        self.failed: dict[str, str] = ready.get("failed", {})
        essential = {m: e for m, e in self.failed.items() if m in ("ipykernel.kernelapp", "jupyter_mlops.api")}
        if essential:  # a kernel started the plain way reports this to its step
            self.close()
            raise TemplateError(f"the kernel template cannot import {', '.join(essential)}: {essential}")
        if ready.get("threads", 1) > 1:  # a fork copies only one thread, and any lock the others held
            self.close()
            raise TemplateError(f"the preloaded modules started {ready['threads'] - 1} thread(s): "
                                "a kernel forked from them could deadlock")

    def _answer(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            raise TemplateError(f"the kernel template exited (code {code})")
        return json.loads(line)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def fork(self, connection_file: str, env: dict, cwd: str) -> int:
        """A new kernel reading ``connection_file``; its pid (also its process group)."""
        request = json.dumps({"connection_file": connection_file, "env": env, "cwd": cwd})
        with self._lock:
            try:
                self.proc.stdin.write(request + "\n")
                self.proc.stdin.flush()
                answer = self._answer()
            except (OSError, ValueError) as exc:  # the template died, or its pipe closed
                raise TemplateError(f"the kernel template is gone: {exc}") from exc
        if "pid" not in answer:
            raise TemplateError(answer.get("error", f"unexpected answer {answer}"))
        return int(answer["pid"])

    def provisioner_for(self, km) -> ForkedProvisioner:
        provisioner = ForkedProvisioner(kernel_id=km.kernel_id, kernel_spec=km.kernel_spec, parent=km)
        provisioner.template = self
        return provisioner

    def close(self, wait: float = 10) -> None:
        """Closing its stdin ends the template, which kills every kernel it forked first."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class ForkedProcess:
    """The part of ``subprocess.Popen`` jupyter_client uses, for a kernel that is the template's
    child, not ours (the template reaps it; we can only watch its pid)."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int, template_pid: int):
        self.pid, self.template_pid = pid, template_pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and not _is_child(self.pid, self.template_pid):
            self.returncode = -signal.SIGKILL  # how it ended is the template's to know; it has ended
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout)
            time.sleep(0.02)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _is_child(pid: int, parent: int) -> bool:
    from .kernel_template import _is_child as is_child

    return is_child(pid, parent)


class ForkedProvisioner(LocalProvisioner):
    """jupyter_client's local provisioner, launching by a fork of the template instead of a Popen."""

    template: KernelTemplate | None = None

    async def launch_kernel(self, cmd: list[str], **kwargs) -> dict:
        cwd = str(kwargs.get("cwd") or os.getcwd())
        env = dict(kwargs.get("env") or os.environ)
        pid = self.template.fork(self.parent.connection_file, env, cwd)
        self.process = ForkedProcess(pid, self.template.pid)
        self.pid = self.pgid = pid  # the kernel calls setsid(): it leads its own group
        self.cwd = cwd
        return self.connection_info
