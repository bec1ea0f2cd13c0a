"""What the scheduler tests share: a clock the test moves, and a launcher whose jobs end when told.

The launcher stands in for the job payload only (a process running a notebook); claims, the
store, the clock arithmetic and the scheduler's loop are the real ones. Tests that need the real
payload use the scheduler's own ProcessLauncher.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from .waiting import wait_until  # noqa: F401 - the scheduler tests import it from here


class Clock:
    """``now()`` for a scheduler: stands still until the test advances it."""

    def __init__(self, start: datetime):
        self.moment = start.astimezone(timezone.utc)

    def now(self) -> datetime:
        return self.moment

    def advance(self, **delta) -> datetime:
        self.moment += timedelta(**delta)
        return self.moment

    def set(self, moment: datetime) -> None:
        self.moment = moment.astimezone(timezone.utc)


class Launcher:
    """Records each start; a job ends when the test says (``finish``), or at once with ``instant``."""

    def __init__(self, clock: Clock | None = None, instant: bool = True, status: str = "FINISHED"):
        self.clock, self.instant, self.status = clock, instant, status
        self.started: list[dict] = []  # {"id", "schedule", "scheduled_time", "attempt", "at"}
        self.outcomes: dict[int, dict] = {}
        self.terminated: list[int] = []

    def start(self, claimed):
        entry = {"id": claimed.id, "schedule": claimed.schedule.name, "scheduled_time": claimed.scheduled_time,
                 "attempt": claimed.attempt, "at": self.clock.now() if self.clock else None}
        self.started.append(entry)
        if self.instant:
            self.outcomes[claimed.id] = {"status": self.status, "error": None if self.status == "FINISHED" else "boom"}
        return claimed.id

    def finish(self, occurrence_id: int, status: str = "FINISHED", **extra) -> None:
        self.outcomes[occurrence_id] = {"status": status, **extra}

    def poll(self, handle):
        return self.outcomes.pop(handle, None)

    def terminate(self, handle) -> None:
        self.terminated.append(handle)
        self.outcomes[handle] = {"status": "KILLED", "error": "terminated"}

    def kill(self, handle) -> None:
        self.terminate(handle)
