"""The opt-in scheduler inside Jupyter Server: schedules fire while JupyterLab runs, no other process.

Off by default (a laptop's JupyterLab should not start jobs nobody asked it to run); on with any of::

    jupyter lab --JupyterMlops.scheduler=True            # also: --JupyterMlops.scheduler_jobs=2
    c.JupyterMlops.scheduler = True                        # jupyter_server_config.py
    MLOPS_SCHEDULER=1 jupyter lab

It is the same :class:`~jupyter_mlops.jobs.scheduler.Scheduler` as ``jupyter mlops scheduler``, on
the server's store, in a background thread: claims in the store keep each occurrence to one
scheduler however many servers and foreground schedulers share the store. When the server
stops, running jobs get ``DRAIN_S`` seconds, then are stopped and handed back for the next
scheduler (as the foreground one does on SIGTERM).
"""
from __future__ import annotations

import atexit
import os

DRAIN_S = 5.0
DEFAULT_JOBS = 2
_TRUE = ("1", "true", "yes", "on")


def _setting(section, name: str, default):
    """A value of ``c.JupyterMlops.<name>``; on the command line it arrives as text (the class has
    no declared traits, so traitlets defers its conversion)."""
    value = section.get(name, default) if section is not None else default
    return value.get_value(None) if hasattr(value, "get_value") else value


def wanted(server_app) -> tuple[bool, int]:
    """Whether the server should run a scheduler, and how many jobs at once."""
    section = server_app.config.get("JupyterMlops")
    flag = _setting(section, "scheduler", os.environ.get("MLOPS_SCHEDULER", ""))
    jobs = _setting(section, "scheduler_jobs", DEFAULT_JOBS)
    on = flag if isinstance(flag, bool) else str(flag).strip().lower() in _TRUE
    try:
        jobs = int(jobs)
    except (TypeError, ValueError):
        raise ValueError(f"JupyterMlops.scheduler_jobs must be a whole number, got {jobs!r}") from None
    if jobs < 1:
        raise ValueError(f"JupyterMlops.scheduler_jobs must be at least 1, got {jobs}")
    return on, jobs


def start(server_app) -> object | None:
    """Start the scheduler thread when asked to; returns the Scheduler (None when off)."""
    on, jobs = wanted(server_app)
    if not on:
        return None
    from ..jobs.scheduler import Scheduler

    scheduler = Scheduler(capacity=jobs)
    thread, stop = scheduler.start_in_thread(drain_s=DRAIN_S)

    def stop_scheduler() -> None:
        stop.set()
        scheduler.wake()
        thread.join(DRAIN_S + 30)

    atexit.register(stop_scheduler)
    server_app.log.info("jupyter_mlops: scheduler %s runs in this server (up to %d jobs at once)",
                        scheduler.name, jobs)
    return scheduler
