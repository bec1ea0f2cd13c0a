"""The scheduler: a loop that plans due occurrences, claims them, runs their jobs and records how they end.

Every decision is a transaction on the store (:mod:`.claims`), so any number of schedulers may
run against one store; none keeps state the others need. A tick:

1. hands back occurrences of schedulers that stopped renewing their leases;
2. records the occurrences due by now (catch-up policy) and advances each schedule;
3. claims what it has room for (overlap policy) and starts each job in a process of its own;
4. reaps jobs that ended (or ran past their timeout) and records their outcome, retrying or
   queueing notifications in the same transaction; renews the leases of what still runs.

``now`` is a callable returning an aware datetime, so tests drive the clock instead of sleeping.
SIGTERM or SIGINT stops claiming, lets running jobs finish for ``drain_s`` seconds, then stops
them and hands their occurrences back for another scheduler (or this one, restarted) to re-run.
"""
from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import func, select

from .. import config
from ..tracking import schema as s
from ..tracking.store import open_store
from . import claims, cron, notify

log = logging.getLogger(__name__)

DEFAULT_CAPACITY = 4
DEFAULT_LEASE_S = 60.0
DEFAULT_POLL_S = 1.0
DEFAULT_DRAIN_S = 30.0
STOP_WAIT_S = 20.0  # after SIGTERM to a job, before SIGKILL to its process group
LOG_TAIL_CHARS = 2000


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Running:
    """A job this scheduler started: its claim, its process, and when it must end."""

    claimed: claims.Claimed
    handle: object
    started_ms: int
    timed_out: bool = False
    stopping: bool = False
    terminated_at: float | None = None  # monotonic: when SIGTERM went out (SIGKILL follows after STOP_WAIT_S)


def job_log_folder(store_uri: str) -> Path:
    """Where a store's scheduled jobs leave their output and outcome: beside its artifact root."""
    return config.get_artifact_root(store_uri).parent / "job-logs"


def job_log(log_folder: Path, occurrence_id: int, attempt: int) -> Path:
    """The output of one attempt of an occurrence; its outcome is the same name with ``.json``."""
    return Path(log_folder) / f"{occurrence_id}-{attempt}.log"


class ProcessLauncher:
    """Runs each job as ``python -m jupyter_mlops.jobs.job`` in a session of its own, its output in a log file."""

    def __init__(self, store_uri: str, log_folder: Path):
        self.store_uri = store_uri
        self.log_folder = Path(log_folder)

    def start(self, claimed: claims.Claimed) -> dict:
        self.log_folder.mkdir(parents=True, exist_ok=True)
        log = job_log(self.log_folder, claimed.id, claimed.attempt)
        result = log.with_suffix(".json")
        result.unlink(missing_ok=True)
        env = dict(os.environ, **{config.ENV_URI: self.store_uri})
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "jupyter_mlops.jobs.job", str(claimed.id), str(claimed.attempt), str(result)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=_job_folder(claimed),
                start_new_session=True)  # its kernels are in its group: a stop reaches them all
        return {"process": process, "result": result, "log": log}

    def poll(self, handle: dict) -> dict | None:
        code = handle["process"].poll()
        if code is None:
            return None
        try:
            import json

            return json.loads(handle["result"].read_text())
        except (OSError, ValueError):
            return {"status": "FAILED", "error": f"the job process exited with code {code} without an outcome: "
                                                 f"{_tail(handle['log'])}"}

    def terminate(self, handle: dict) -> None:
        """SIGTERM: the job stops its kernels and records its run KILLED."""
        _signal(handle["process"], signal.SIGTERM, group=False)

    def kill(self, handle: dict) -> None:
        _signal(handle["process"], signal.SIGKILL, group=True)


def _job_folder(claimed: claims.Claimed) -> str:
    target = claimed.schedule.target
    for key in ("spec", "notebook"):
        if target.get(key) and Path(target[key]).parent.is_dir():
            return str(Path(target[key]).parent)
    if target.get("project") and Path(target["project"]).is_dir():
        return target["project"]
    return os.getcwd()


def _signal(process, signum, group: bool) -> None:
    try:
        if group:
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)
    except (ProcessLookupError, PermissionError):
        pass


def _tail(path: Path) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return "(no log)"
    text = text.strip()[-LOG_TAIL_CHARS:]
    return text.splitlines()[-1] if text else "(empty log)"


@dataclass
class Scheduler:
    """One scheduler on one store. ``tick()`` does one pass; ``run()`` loops until stopped."""

    store: object = None
    now: Callable[[], datetime] = utc_now
    launcher: object = None
    name: str = ""
    capacity: int = DEFAULT_CAPACITY
    lease_s: float = DEFAULT_LEASE_S
    poll_s: float = DEFAULT_POLL_S
    grace_ms: int = claims.MISFIRE_GRACE_MS
    running: dict = field(default_factory=dict)  # occurrence id -> Running
    stopping: bool = False

    def __post_init__(self):
        self.store = self.store or open_store()
        self.name = self.name or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        if self.launcher is None:
            self.launcher = ProcessLauncher(self.store.uri, job_log_folder(self.store.uri))
        self._last_renew = None
        self._wake = threading.Event()

    @property
    def lease_ms(self) -> int:
        return int(self.lease_s * 1000)

    def now_ms(self) -> int:
        return cron.to_ms(self.now())

    # -- one pass ------------------------------------------------------------------------------
    def tick(self) -> dict:
        """Recover, plan, claim and start, reap, renew; what happened, as counts."""
        now = self.now_ms()
        self._renew(now)  # first: our own leases are never the expired ones
        report = {"recovered": claims.recover_expired(self.store, now, notify.enqueue), "planned": 0, "started": 0}
        if not self.stopping and claims.anything_due(self.store, now):
            report["planned"] = claims.plan_due(self.store, now, self.grace_ms)
            for claimed in claims.claim(self.store, self.name, now, self.lease_ms, self.capacity - len(self.running)):
                report["started"] += self._start(claimed)
        report["ended"] = self.reap()
        return report

    def _renew(self, now: int) -> None:
        if self.running and (self._last_renew is None or now - self._last_renew >= self.lease_ms / 3):
            claims.renew(self.store, self.name, now, self.lease_ms)
            self._last_renew = now

    def _start(self, claimed: claims.Claimed) -> int:
        now = self.now_ms()
        if not claims.mark_running(self.store, claimed, self.name, now, self.lease_ms):
            return 0
        try:
            handle = self.launcher.start(claimed)
        except Exception as exc:  # cannot even start: the attempt failed, retried by its policy
            log.exception("could not start the job of schedule %s", claimed.schedule.name)
            claims.finish(self.store, claimed.id, self.name, claimed.attempt,
                          {"status": "FAILED", "error": f"could not start the job: {exc}"}, now, notify.enqueue)
            return 0
        self.running[claimed.id] = Running(claimed, handle, now)
        log.info("started %s (scheduled %s, attempt %d)", claimed.schedule.name,
                 cron.iso(claimed.scheduled_time, claimed.schedule.timezone), claimed.attempt)
        return 1

    def reap(self) -> int:
        """Record the jobs that ended; stop those past their timeout."""
        ended = 0
        now = self.now_ms()
        for occurrence_id, job in list(self.running.items()):
            outcome = self.launcher.poll(job.handle)
            if outcome is None:
                timeout = job.claimed.schedule.timeout
                if timeout is not None and not job.timed_out and now - job.started_ms > timeout * 1000:
                    job.timed_out, job.terminated_at = True, time.monotonic()
                    log.warning("%s ran past its timeout of %s s; stopping it", job.claimed.schedule.name, timeout)
                    self.launcher.terminate(job.handle)
                elif job.terminated_at is not None and time.monotonic() - job.terminated_at > STOP_WAIT_S:
                    self.launcher.kill(job.handle)  # it did not stop on SIGTERM: its whole process group goes
                    job.terminated_at = time.monotonic()
                continue
            del self.running[occurrence_id]
            ended += 1
            if job.stopping:  # stopped because this scheduler is stopping: handed back, not failed
                claims.hand_back(self.store, self.name, [occurrence_id],
                                 f"handed back by {self.name} (stopping) at {cron.iso(now)}")
                continue
            if job.timed_out:
                outcome = dict(outcome, status="KILLED",
                               error=f"timed out after {job.claimed.schedule.timeout:g} s" +
                                     (f" ({outcome['error']})" if outcome.get("error") else ""))
            state = claims.finish(self.store, occurrence_id, self.name, job.claimed.attempt, outcome, now,
                                  notify.enqueue)
            log.info("%s (scheduled %s) ended %s", job.claimed.schedule.name,
                     cron.iso(job.claimed.scheduled_time, job.claimed.schedule.timezone), state or "(taken over)")
        return ended

    def deliver(self) -> dict:
        """Send the notifications that are due (any scheduler may)."""
        return notify.deliver_due(self.store, self.name, self.now_ms())

    # -- the loop ------------------------------------------------------------------------------
    def run(self, stop: threading.Event | None = None, drain_s: float = DEFAULT_DRAIN_S,
            install_signals: bool = True) -> int:
        """Tick until ``stop`` is set or SIGTERM/SIGINT arrives; then drain (see :meth:`shutdown`). Returns 0."""
        stop = stop or threading.Event()
        hurry = threading.Event()
        previous = {}
        if install_signals and threading.current_thread() is threading.main_thread():
            def on_signal(signum, frame):
                if stop.is_set():
                    hurry.set()  # a second signal: do not wait for running jobs
                stop.set()
                self._wake.set()
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, on_signal)
        delivery = threading.Thread(target=self._deliver_loop, args=(stop,), name="mlops-notify", daemon=True)
        delivery.start()
        try:
            while not stop.is_set():
                try:
                    self.tick()
                except Exception:  # a store hiccup must not end the scheduler: log it, try again
                    log.exception("scheduler tick failed; retrying")
                self._wake.wait(self._sleep_s())
                self._wake.clear()
            self.shutdown(drain_s, hurry)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        delivery.join(timeout=notify.SEND_TIMEOUT_S + 1)
        return 0

    def _sleep_s(self) -> float:
        """Until the next fire time, at most ``poll_s`` (so run-now and retries are seen soon)."""
        t = s.schedules
        try:
            with self.store.engine.connect() as conn:
                upcoming = conn.execute(select(func.min(t.c.next_fire_at)).where(t.c.paused.is_(False))).scalar()
        except Exception:  # noqa: BLE001 - the store is down: poll again soon, the tick reports it
            return self.poll_s
        if upcoming is None:
            return self.poll_s
        return max(0.0, min(self.poll_s, (upcoming - self.now_ms()) / 1000))

    def _deliver_loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.deliver()
            except Exception:
                log.exception("delivering notifications failed; retrying")
            stop.wait(self.poll_s)

    def shutdown(self, drain_s: float = DEFAULT_DRAIN_S, hurry: threading.Event | None = None) -> None:
        """Stop claiming; give running jobs ``drain_s`` seconds to finish (recorded as usual), then stop
        them and hand their occurrences back; hand back anything claimed but not started."""
        self.stopping = True
        hurry = hurry or threading.Event()
        deadline = time.monotonic() + drain_s
        while self.running and time.monotonic() < deadline and not hurry.is_set():
            self.tick()
            hurry.wait(min(0.2, self.poll_s))
        for job in self.running.values():
            job.stopping = True
            self.launcher.terminate(job.handle)
        deadline = time.monotonic() + STOP_WAIT_S
        while self.running and time.monotonic() < deadline:
            self.reap()
            time.sleep(0.05)
        for occurrence_id, job in list(self.running.items()):  # did not stop: kill the whole group
            self.launcher.kill(job.handle)
            del self.running[occurrence_id]
        claims.hand_back(self.store, self.name, reason=f"handed back by {self.name} (stopping)")

    def wake(self) -> None:
        """End the current wait at once (a stop was asked for, or a schedule changed)."""
        self._wake.set()

    def start_in_thread(self, drain_s: float = DEFAULT_DRAIN_S) -> tuple[threading.Thread, threading.Event]:
        """Run in a background thread (e.g. inside Jupyter Server); set the event to stop it."""
        stop = threading.Event()
        thread = threading.Thread(target=self.run, kwargs={"stop": stop, "drain_s": drain_s, "install_signals": False},
                                  name="mlops-scheduler", daemon=True)
        thread.start()
        return thread, stop
