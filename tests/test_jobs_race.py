"""Exactly once: three scheduler processes racing on one store fire each of 100 occurrences once,
and none is missed (SQLite and PostgreSQL). The processes are real and share the store only; their
clocks run 600 times faster than real time, so 100 minutes of schedule take ~10 s."""
from __future__ import annotations

import collections
import re
import signal
import subprocess
import time
from datetime import datetime, timedelta, timezone

import pytest

from jupyter_mlops import config
from jupyter_mlops.jobs import cron, schedules
from jupyter_mlops.pipeline.schedule_block import ScheduleBlock

from .conftest import PYTHON, ROOT, python_env
from .helpers.jobs import wait_until

HELPER = ROOT / "tests" / "helpers" / "race_scheduler.py"
SCHEDULERS = 3
OCCURRENCES = 100
SPEED = 600.0


def test_three_schedulers_fire_each_of_100_occurrences_exactly_once(backend, project):
    uri = config.get_tracking_uri()
    t0 = datetime(2024, 5, 1, 8, 0, 30, tzinfo=timezone.utc)
    end = t0 + timedelta(minutes=OCCURRENCES, seconds=20)
    # Two schedules, so the schedulers also race over which schedule to plan first.
    for name, overlap in (("every-minute", "allow"), ("every-minute-skip", "skip")):
        schedules.add_schedule(name, "notebook", {"notebook": "/nowhere/x.ipynb"},
                               ScheduleBlock(cron="* * * * *", catchup="all", overlap=overlap),
                               by="test", now_ms=cron.to_ms(t0))
    go = project / "go"
    go.write_text("")
    logs = [project / f"fired-{i}.log" for i in range(SCHEDULERS)]
    processes = [subprocess.Popen([PYTHON, str(HELPER), uri, str(go), str(log), t0.isoformat(), str(SPEED),
                                   end.isoformat()], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=python_env(), text=True) for log in logs]
    try:
        for process in processes:  # every scheduler is up before the clock starts
            assert process.stdout.readline().strip() == "ready", process.stderr.read()
        go.write_text(repr(time.time()))
        for name in ("every-minute", "every-minute-skip"):  # the clocks stop at `end`: nothing more falls due
            wait_until(lambda name=name: sum(r["state"] in ("FINISHED", "SKIPPED")
                                             for r in schedules.history(name, limit=500)) >= OCCURRENCES,
                       f"{name}: {OCCURRENCES} occurrences decided",
                       details=lambda name=name: str(collections.Counter(r["state"] for r in
                                                                         schedules.history(name, limit=500))))
        go.unlink()
        for process in processes:
            assert process.wait(timeout=60) == 0, process.stderr.read()
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()

    fired = [line.split() for log in logs if log.exists() for line in log.read_text().splitlines()]
    expected = {cron.to_ms(t0.replace(second=0) + timedelta(minutes=m)) for m in range(1, OCCURRENCES + 1)}
    for name in ("every-minute", "every-minute-skip"):
        times = [int(t) for n, t, _ in fired if n == name]
        duplicates = [t for t, n in collections.Counter(times).items() if n > 1]
        assert duplicates == [], f"{name}: fired twice: {[cron.iso(t) for t in duplicates]}"
        history = schedules.history(name, limit=500)
        assert len(history) == OCCURRENCES and {r["scheduled_time"] for r in history} == expected
        finished = {r["scheduled_time"] for r in history if r["state"] == "FINISHED"}
        assert set(times) == finished  # what was started is what the store says finished
        if name == "every-minute":  # overlap allow: every occurrence runs
            assert finished == expected, f"missed {sorted(cron.iso(t) for t in expected - finished)}"
        else:  # overlap skip may drop a time that fell due while the previous job ran, and says so
            assert all("overlap: skip" in r["note"] for r in history if r["state"] == "SKIPPED")
    # All three took part (the race was real, not one scheduler doing everything).
    assert len({pid for _, _, pid in fired}) == SCHEDULERS


@pytest.mark.parametrize("catchup", ["all", "latest", "none"])
def test_a_killed_scheduler_restarted_catches_up_per_policy(project, catchup):
    """SIGKILL a scheduler process, let five minutes of its clock pass, start another: what fell due
    meanwhile runs per catch-up policy. Clocks run 15x real time (the 60 s lateness grace is 4 s)."""
    speed = 15.0
    uri = config.get_tracking_uri()
    t0 = datetime(2024, 5, 1, 8, 0, 30, tzinfo=timezone.utc)
    end = t0 + timedelta(hours=2)
    schedules.add_schedule("minutely", "notebook", {"notebook": "/nowhere/x.ipynb"},
                           ScheduleBlock(cron="* * * * *", catchup=catchup, overlap="allow"), by="test",
                           now_ms=cron.to_ms(t0))
    go = project / "go"
    go.write_text("")
    log = project / "fired.log"

    def start():
        process = subprocess.Popen([PYTHON, str(HELPER), uri, str(go), str(log), t0.isoformat(), str(speed),
                                    end.isoformat(), "120"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env=python_env(), text=True)
        assert process.stdout.readline().strip() == "ready", process.stderr.read()
        return process

    def finished():
        return sorted(r["scheduled_time"] for r in schedules.history("minutely", limit=500) if r["state"] == "FINISHED")

    first = start()
    real_start = time.time()
    go.write_text(repr(real_start))

    def sim_now() -> int:
        return cron.to_ms(t0) + int((time.time() - real_start) * speed * 1000)

    second = None
    try:
        wait_until(lambda: len(finished()) >= 3, "three occurrences before the kill")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        killed_at = sim_now()
        wait_until(lambda: sim_now() >= killed_at + 5 * 60_000, "five minutes of schedule without a scheduler")
        second = start()
        restarted_at = sim_now()
        wait_until(lambda: any(t > restarted_at + 60_000 for t in finished()), "the restarted scheduler firing on time")
        go.unlink()
        assert second.wait(timeout=60) == 0, second.stderr.read()
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()

    history = sorted(schedules.history("minutely", limit=500), key=lambda r: r["scheduled_time"])
    times = [r["scheduled_time"] for r in history]
    fired = [int(line.split()[1]) for line in log.read_text().splitlines()]
    assert len(fired) == len(set(fired)), "an occurrence fired twice"
    minutes = range(times[0], times[-1] + 1, 60_000)
    missing = [t for t in minutes if t not in set(times)]
    # A job the kill caught between its start and its end is failed over once its lease expires.
    lost = [r["scheduled_time"] for r in history if r["state"] == "FAILED" and "lease expired" in r["error"]]
    assert len(lost) <= 1
    ran = sorted([r["scheduled_time"] for r in history if r["state"] == "FINISHED"] + lost)
    assert sorted(fired) == ran
    if catchup == "all":  # every minute, the downtime's too, ran once
        assert missing == [] and len(ran) == len(history)
        return
    marker = "caught up (catchup: latest)" if catchup == "latest" else "missed (catchup: none)"
    noted = [r for r in history if r["note"] and marker in r["note"] and r["scheduled_time"] > killed_at]
    assert len(noted) == 1, [(cron.iso(r["scheduled_time"]), r["state"], r["note"]) for r in history]
    count = int(re.search(r"(\d+) (earlier missed )?occurrence", noted[0]["note"]).group(1))
    assert count >= 4  # five minutes passed with no scheduler
    if catchup == "latest":  # the newest missed time ran; the ones before it left no row
        assert noted[0]["state"] == "FINISHED" and len(missing) == count
    else:  # none: nothing of the downtime ran; the newest missed time is recorded SKIPPED, saying so
        assert noted[0]["state"] == "SKIPPED" and len(missing) == count - 1
