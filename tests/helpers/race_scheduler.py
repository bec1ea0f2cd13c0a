"""One of several scheduler processes racing on one store (tests/test_jobs_race.py).

``python race_scheduler.py URI GO_FILE LOG_FILE T0 SPEED END [LEASE_S]``: waits for GO_FILE (holding the
real epoch at which the simulated clock reads T0), then ticks a real Scheduler on a clock running
SPEED times faster than real time and stopping at END, until GO_FILE is removed. Each job it
starts appends ``schedule scheduled_time pid`` to LOG_FILE and ends at once: the race is about
who fires what.
"""
from __future__ import annotations

import os
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path


class AppendingLauncher:
    def __init__(self, log: Path):
        self.log = open(log, "a", buffering=1)  # noqa: SIM115 - open for the life of the process

    def start(self, claimed):
        self.log.write(f"{claimed.schedule.name} {claimed.scheduled_time} {os.getpid()}\n")
        return claimed.id

    def poll(self, handle):
        return {"status": "FINISHED"}

    def terminate(self, handle):
        pass

    kill = terminate


def main() -> int:
    uri, go_file, log_file, t0, speed, end = sys.argv[1:7]
    lease_s = float(sys.argv[7]) if len(sys.argv) > 7 else 3600.0
    from jupyter_mlops.jobs.scheduler import Scheduler
    from jupyter_mlops.tracking.store import open_store

    store = open_store(uri)
    start, speed, end = datetime.fromisoformat(t0), float(speed), datetime.fromisoformat(end)
    print("ready", flush=True)
    go = Path(go_file)
    while not go.exists() or not go.read_text().strip():
        time.sleep(0.01)
    real_start = float(go.read_text())

    def now() -> datetime:
        return min(end, start + timedelta(seconds=(time.time() - real_start) * speed))

    scheduler = Scheduler(store=store, now=now, launcher=AppendingLauncher(Path(log_file)), capacity=4,
                          lease_s=lease_s, poll_s=0.005)
    while go.exists():
        scheduler.tick()
        time.sleep(0.005)
    scheduler.shutdown(drain_s=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
