"""Loopback ports and server processes, one copy for the tests and the benchmarks.

``free_port()`` asks the kernel for a port nothing listens on (free when asked; a server bound to
it a moment later gets it in practice). ``ServerProcess`` starts a command that listens on such a
port, its output in a log file, and polls an HTTP path until it answers; ``wait_for_port`` does the
same for a server that speaks something other than HTTP. A poll fails at once, with the tail of the
log, when the process has exited, and otherwise only after a generous ceiling: a slow machine makes
a start slower, never a failure.

Benchmarks import this by path (``sys.path.insert(0, <repository root>)``), so it uses the standard
library only (and the poll of tests/helpers/waiting.py, which does too).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from .waiting import WaitTimeout, wait_until

if TYPE_CHECKING:
    from typing_extensions import Self

# Loopback requests never go through a proxy, whatever http_proxy says.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ServerNotReady(RuntimeError):
    """The server process exited, or did not answer within the ceiling."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, *, proc: subprocess.Popen | None = None, log: Path | None = None,
                  timeout: float = 120, every: float = 0.2) -> None:
    """Return once ``url`` answers with a 2xx status (an error status means "not ready yet")."""

    def answers() -> bool:
        try:
            with _OPENER.open(url, timeout=5):
                return True
        except OSError:  # refused, reset, timed out, or an HTTP error status
            return False

    _poll(answers, url, proc, log, timeout, every)


def wait_for_port(port: int, *, proc: subprocess.Popen | None = None, log: Path | None = None,
                  timeout: float = 60, every: float = 0.1) -> None:
    """Return once something accepts TCP connections on 127.0.0.1:``port``."""

    def accepts() -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    _poll(accepts, f"127.0.0.1:{port}", proc, log, timeout, every)


def _poll(ready, what: str, proc, log, timeout: float, every: float) -> None:
    def ready_or_exited() -> bool:
        if proc is not None and proc.poll() is not None:
            raise ServerNotReady(f"{_name(proc)} exited with status {proc.returncode} before {what} answered"
                                 + _tail(log))
        return ready()

    try:
        wait_until(ready_or_exited, what, timeout=timeout, every=every)
    except WaitTimeout:
        raise ServerNotReady(f"{what} did not answer within {timeout:g} s" + _tail(log)) from None


def _name(proc: subprocess.Popen) -> str:
    args = proc.args if isinstance(proc.args, (list, tuple)) else [proc.args]
    return " ".join(str(a) for a in args[:3])


def _tail(log: Path | None, chars: int = 3000) -> str:
    if log is None:
        return ""
    try:
        text = Path(log).read_text(errors="replace")
    except OSError:
        return f"; no log at {log}"
    return f"; last lines of {log}:\n{text[-chars:]}"


class ServerProcess:
    """A server command on a free loopback port, ready once ``ready`` (a path) answers 2xx.

    ``{port}`` in ``argv`` is replaced by the port. The start's ceiling is longer than other waits': on
    a 2-core machine running four test workers (load average 25), MLflow's server took over 120 s
    to answer its first request. The output goes to ``log``, opened for appending
    so that a reader may truncate it while the server writes. The process leads its own session, so
    ``stop()`` also ends the workers it forked (uvicorn's, MLflow's). Use as a context manager, or
    call ``start()`` and ``stop()``.
    """

    def __init__(self, argv: list[str], ready: str, log: Path, *, cwd: Path | None = None, env: dict | None = None,
                 port: int | None = None, timeout: float = 180):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.argv = [str(a).replace("{port}", str(self.port)) for a in argv]
        self.ready, self.log, self.cwd, self.env, self.timeout = ready, Path(log), cwd, env, timeout
        self.proc: subprocess.Popen | None = None
        self._stopped = False

    def start(self) -> Self:
        with open(self.log, "ab") as out:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_for_http(self.url + self.ready, proc=self.proc, log=self.log, timeout=self.timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def read_log(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, grace: float = 15) -> None:
        """SIGTERM to the whole process group (workers outlive a leader that died), SIGKILL after
        ``grace`` seconds. Stopping twice does nothing."""
        if self.proc is None or self._stopped:
            return
        self._stopped = True
        self._signal(signal.SIGTERM)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.proc.wait()

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:  # the group is gone already
            pass

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
