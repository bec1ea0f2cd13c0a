"""Schedules fire at the right times under a clock the test moves: across DST changes, after
downtime per catch-up policy, and with the overlap policies; retries and timeouts; the store's
record of each occurrence (SQLite and PostgreSQL)."""
from __future__ import annotations

import itertools
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from jupyter_mlops.exceptions import SpecError
from jupyter_mlops.jobs import claims, cron, schedules
from jupyter_mlops.jobs.scheduler import Scheduler
from jupyter_mlops.pipeline.schedule_block import ScheduleBlock
from jupyter_mlops.tracking.store import open_store

from .helpers.jobs import Clock, Launcher

BERLIN = ZoneInfo("Europe/Berlin")


def add(name: str, cron_text: str, clock: Clock, **options) -> schedules.Schedule:
    block = ScheduleBlock(cron=cron_text, **options)
    return schedules.add_schedule(name, "notebook", {"notebook": "/nowhere/x.ipynb"}, block, by="test",
                                  now_ms=cron.to_ms(clock.now()))


def run_clock(scheduler: Scheduler, clock: Clock, until: datetime, **step) -> None:
    while clock.now() < until:
        clock.advance(**step)
        scheduler.tick()


def local(ms: int) -> str:
    return cron.to_datetime(ms, "Europe/Berlin").isoformat(timespec="minutes")


def test_daily_schedule_keeps_local_time_across_both_dst_changes(project):
    clock = Clock(datetime(2024, 3, 29, 12, 0, tzinfo=BERLIN))
    add("morning", "0 6 * * *", clock, timezone="Europe/Berlin")
    add("night", "30 2 * * *", clock, timezone="Europe/Berlin")
    add("quarter", "*/15 * * * *", clock, timezone="Europe/Berlin")
    launcher = Launcher(clock)
    scheduler = Scheduler(now=clock.now, launcher=launcher)
    run_clock(scheduler, clock, datetime(2024, 4, 2, 0, 0, tzinfo=BERLIN), minutes=5)

    fired = {}
    for entry in launcher.started:
        fired.setdefault(entry["schedule"], []).append(entry)
    assert [local(e["scheduled_time"]) for e in fired["morning"]] == [
        "2024-03-30T06:00+01:00", "2024-03-31T06:00+02:00", "2024-04-01T06:00+02:00"]
    # 02:30 does not exist on 31 March: like Debian cron, it runs at the first minute after the jump.
    assert [local(e["scheduled_time"]) for e in fired["night"]] == [
        "2024-03-30T02:30+01:00", "2024-03-31T03:00+02:00", "2024-04-01T02:30+02:00"]
    # Elapsed-time expressions tick through the jump: 4 per real hour, none lost, none doubled.
    quarters = [e["scheduled_time"] for e in fired["quarter"]]
    assert len(quarters) == len(set(quarters)) == (3 * 24 + 12 - 1) * 4
    assert all(b - a == 15 * 60_000 for a, b in itertools.pairwise(quarters))
    # Each started at the first tick after its time (ticks are 5 minutes apart).
    for entry in launcher.started:
        late = cron.to_ms(entry["at"]) - entry["scheduled_time"]
        assert 0 <= late < 5 * 60_000

    clock.set(datetime(2024, 10, 25, 12, 0, tzinfo=BERLIN))
    for name in ("morning", "night"):
        schedules.set_paused(name, True, now_ms=cron.to_ms(clock.now()))
        schedules.set_paused(name, False, now_ms=cron.to_ms(clock.now()))
    schedules.remove_schedule("quarter")
    launcher.started.clear()
    run_clock(scheduler, clock, datetime(2024, 10, 29, 0, 0, tzinfo=BERLIN), minutes=5)
    night = [local(e["scheduled_time"]) for e in launcher.started if e["schedule"] == "night"]
    # 02:30 happens twice on 27 October: it runs once, at the first of them.
    assert night == ["2024-10-26T02:30+02:00", "2024-10-27T02:30+02:00", "2024-10-28T02:30+01:00"]
    morning = [e["scheduled_time"] for e in launcher.started if e["schedule"] == "morning"]
    assert [cron.iso(t) for t in morning] == ["2024-10-26T04:00:00+00:00", "2024-10-27T05:00:00+00:00",
                                              "2024-10-28T05:00:00+00:00"]


@pytest.mark.parametrize("policy, expected_runs, expected_note", [
    ("all", 6, None),
    ("latest", 1, "caught up (catchup: latest): 5 earlier missed occurrences"),
    ("none", 0, "missed (catchup: none): 6 occurrences"),
])
def test_downtime_is_caught_up_per_policy(backend, policy, expected_runs, expected_note):
    clock = Clock(datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc))
    add("hourly", "0 * * * *", clock, catchup=policy)
    launcher = Launcher(clock)
    first = Scheduler(now=clock.now, launcher=launcher)
    run_clock(first, clock, datetime(2024, 5, 1, 10, 1, tzinfo=timezone.utc), minutes=1)
    assert [cron.iso(e["scheduled_time"]) for e in launcher.started] == ["2024-05-01T09:00:00+00:00",
                                                                         "2024-05-01T10:00:00+00:00"]
    # No scheduler runs from 10:01 to 16:30 (six hourly times pass), then a new one starts.
    clock.set(datetime(2024, 5, 1, 16, 30, tzinfo=timezone.utc))
    launcher.started.clear()
    second = Scheduler(now=clock.now, launcher=launcher)
    for _ in range(8):  # under overlap: skip a backlog runs one occurrence after another
        second.tick()
    assert len(launcher.started) == expected_runs
    if policy == "all":
        assert [cron.iso(e["scheduled_time"])[11:16] for e in launcher.started] == [
            "11:00", "12:00", "13:00", "14:00", "15:00", "16:00"]
    if policy == "latest":
        assert cron.iso(launcher.started[0]["scheduled_time"]) == "2024-05-01T16:00:00+00:00"
    rows = schedules.history("hourly")
    assert rows[0]["scheduled"] == "2024-05-01T16:00:00+00:00"
    assert rows[0]["state"] == ("SKIPPED" if policy == "none" else "FINISHED")
    if expected_note:
        assert expected_note in rows[0]["note"]
    # Catch-up never re-fires the past: the next fire time is after now.
    assert schedules.get_schedule("hourly").next_fire_at == cron.to_ms(datetime(2024, 5, 1, 17, 0, tzinfo=timezone.utc))


def test_overlap_policies(backend):
    clock = Clock(datetime(2024, 5, 1, 8, 0, 30, tzinfo=timezone.utc))
    for policy in ("skip", "queue", "allow"):
        add(f"every-minute-{policy}", "* * * * *", clock, overlap=policy)
    launcher = Launcher(clock, instant=False)
    scheduler = Scheduler(now=clock.now, launcher=launcher, capacity=20)
    for _ in range(3):  # 08:01, 08:02, 08:03 fall due while the first job of each still runs
        clock.advance(minutes=1)
        scheduler.tick()
    started = {p: [cron.iso(e["scheduled_time"])[11:16] for e in launcher.started
                   if e["schedule"] == f"every-minute-{p}"] for p in ("skip", "queue", "allow")}
    assert started == {"skip": ["08:01"], "queue": ["08:01"], "allow": ["08:01", "08:02", "08:03"]}
    states = {p: [(r["scheduled"][11:16], r["state"]) for r in reversed(schedules.history(f"every-minute-{p}"))]
              for p in ("skip", "queue")}
    assert states["skip"] == [("08:01", "RUNNING"), ("08:02", "SKIPPED"), ("08:03", "SKIPPED")]
    assert states["queue"] == [("08:01", "RUNNING"), ("08:02", "PENDING"), ("08:03", "PENDING")]

    for entry in list(launcher.started):
        launcher.finish(entry["id"])
    scheduler.tick()  # reaps the finished ones; the queue's next starts on the following tick
    scheduler.tick()
    queue = [(r["scheduled"][11:16], r["state"]) for r in reversed(schedules.history("every-minute-queue"))]
    assert queue == [("08:01", "FINISHED"), ("08:02", "RUNNING"), ("08:03", "PENDING")]
    skipped = schedules.history("every-minute-skip")[0]
    assert "overlap: skip" in skipped["note"]


def test_failed_attempt_is_retried_then_given_up_and_timeout_kills(project, monkeypatch):
    monkeypatch.setenv("MLOPS_SCHEDULE_RETRY_DELAY", "60")
    clock = Clock(datetime(2024, 5, 1, 8, 0, 30, tzinfo=timezone.utc))
    add("flaky", "0 9 * * *", clock, retries=2, timeout=600)
    launcher = Launcher(clock, instant=False)
    scheduler = Scheduler(now=clock.now, launcher=launcher)
    clock.set(datetime(2024, 5, 1, 9, 0, 5, tzinfo=timezone.utc))
    scheduler.tick()
    launcher.finish(launcher.started[-1]["id"], "FAILED", error="ValueError: bad row")
    scheduler.tick()
    row = schedules.history("flaky")[0]
    assert (row["state"], row["attempt"], row["error"]) == ("PENDING", 1, "ValueError: bad row")
    clock.advance(seconds=30)
    scheduler.tick()
    assert len(launcher.started) == 1  # the retry waits 60 s
    clock.advance(seconds=31)
    scheduler.tick()
    assert [e["attempt"] for e in launcher.started] == [1, 2]
    # The second attempt runs past the 600 s timeout: stopped and recorded KILLED, then retried.
    clock.advance(seconds=601)
    scheduler.tick()
    assert launcher.terminated == [launcher.started[-1]["id"]]
    scheduler.tick()
    row = schedules.history("flaky")[0]
    assert row["state"] == "PENDING" and row["error"].startswith("timed out after 600 s")
    clock.advance(seconds=121)  # 60 s, doubled
    scheduler.tick()
    launcher.finish(launcher.started[-1]["id"], "FAILED", error="ValueError: still bad")
    scheduler.tick()
    row = schedules.history("flaky")[0]
    assert (row["state"], row["attempt"], row["error"]) == ("FAILED", 3, "ValueError: still bad")
    assert row["duration_s"] == 0.0  # the third attempt ended in the tick it started in (fake clock)


def test_run_now_pause_resume_remove(backend):
    clock = Clock(datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc))
    add("daily", "0 6 * * *", clock, overlap="skip")
    launcher = Launcher(clock, instant=False)
    scheduler = Scheduler(now=clock.now, launcher=launcher)
    first = schedules.run_now("daily", now_ms=cron.to_ms(clock.now()), by="ana")
    second = schedules.run_now("daily", now_ms=cron.to_ms(clock.now()), by="bo")
    assert second != first
    scheduler.tick()
    # A manual run is never skipped by overlap: the second waits for the first.
    assert [e["id"] for e in launcher.started] == [first]
    launcher.finish(first)
    scheduler.tick()
    scheduler.tick()
    assert [e["id"] for e in launcher.started] == [first, second]
    with pytest.raises(Exception, match="running"):
        schedules.remove_schedule("daily")
    launcher.finish(second)
    scheduler.tick()

    paused = schedules.set_paused("daily", True, now_ms=cron.to_ms(clock.now()))
    assert paused.paused and paused.next_fire_at is None
    clock.set(datetime(2024, 5, 3, 7, 0, tzinfo=timezone.utc))
    scheduler.tick()
    assert len(launcher.started) == 2  # nothing fires while paused, nor is caught up after
    resumed = schedules.set_paused("daily", False, now_ms=cron.to_ms(clock.now()))
    assert cron.iso(resumed.next_fire_at) == "2024-05-04T06:00:00+00:00"
    assert schedules.remove_schedule("daily") == 2
    with pytest.raises(schedules.ScheduleNotFoundError, match="no schedule named 'daily'"):
        schedules.history("daily")


def test_a_scheduler_that_vanished_is_taken_over(backend):
    clock = Clock(datetime(2024, 5, 1, 8, 59, tzinfo=timezone.utc))
    add("hourly", "0 * * * *", clock, retries=1)
    launcher = Launcher(clock, instant=False)
    gone = Scheduler(now=clock.now, launcher=launcher, lease_s=60)
    clock.advance(minutes=1)
    gone.tick()  # started 09:00, then this scheduler is never heard of again
    assert schedules.history("hourly")[0]["state"] == "RUNNING"
    other_launcher = Launcher(clock)
    other = Scheduler(now=clock.now, launcher=other_launcher, lease_s=60)
    clock.advance(seconds=30)
    other.tick()
    assert other_launcher.started == []  # the lease still holds
    clock.advance(seconds=31)
    other.tick()  # expired: the attempt counts as failed and is retried after the delay
    row = schedules.history("hourly")[0]
    assert row["state"] == "PENDING" and "stopped: its lease expired" in row["error"]
    clock.advance(seconds=claims.retry_delay_ms(1) / 1000)
    other.tick()
    assert [(e["scheduled_time"], e["attempt"]) for e in other_launcher.started] == [(row["scheduled_time"], 2)]
    assert schedules.history("hourly")[0]["state"] == "FINISHED"
    # The vanished scheduler's late report changes nothing.
    launcher.finish(launcher.started[0]["id"], "FAILED", error="late")
    gone.reap()
    assert schedules.history("hourly")[0]["state"] == "FINISHED"


def test_schedule_block_errors_name_file_line_and_field(project):
    from jupyter_mlops.pipeline.spec import load_spec

    notebook = project / "nb.ipynb"
    notebook.write_text('{"cells": [{"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": "day = 0",'
                        ' "outputs": [], "execution_count": null}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    base = "steps:\n  one: {notebook: nb.ipynb}\nschedule:\n"
    cases = [
        ("  cron: '0 6 * *'\n", "pipeline.yaml:4: schedule.cron: expected five fields"),
        ("  cron: '0 6 * * *'\n  timezone: Mars/Olympus\n", "pipeline.yaml:5: schedule.timezone: unknown time zone"),
        ("  cron: '0 6 * * *'\n  overlap: sometimes\n", "pipeline.yaml:5: schedule.overlap: expected one of skip"),
        ("  cron: '0 6 * * *'\n  parameters: {dya: '{date}'}\n",
         "pipeline.yaml:5: schedule.parameters.dya: no step declares a parameter 'dya'; did you mean 'day'?"),
        ("  cron: '0 6 * * *'\n  parameters: {day: '{today}'}\n",
         "pipeline.yaml:5: schedule.parameters.day: unknown placeholder {today}"),
        ("  cron: '0 6 * * *'\n  notify: {on: [failure], webhook: 'http://u:p@example.com/x'}\n",
         "pipeline.yaml:5: schedule.notify.webhook: credentials do not belong in the spec"),
        ("  cron: '0 6 * * *'\n  retries: -1\n", "pipeline.yaml:5: schedule.retries: expected a whole number"),
        ("  cron: '0 6 * * *'\n  when: daily\n", "pipeline.yaml:5: schedule.when: unknown field"),
    ]
    for text, expected in cases:
        (project / "pipeline.yaml").write_text(base + text)
        with pytest.raises(SpecError) as info:
            load_spec("pipeline.yaml")
        assert str(info.value).startswith(expected), (text, str(info.value))
    (project / "pipeline.yaml").write_text(base + "  cron: '0 6 * * *'\n  timezone: Europe/Berlin\n"
                                           "  parameters: {day: '{date}'}\n  notify: {webhook: 'env:HOOK'}\n")
    block = load_spec("pipeline.yaml").schedule
    assert (block.cron, block.timezone, block.parameters, block.notify) == (
        "0 6 * * *", "Europe/Berlin", {"day": "{date}"}, {"on": ["failure"], "webhook": "env:HOOK"})


def test_occurrences_are_unique_per_time_in_the_store(backend):
    clock = Clock(datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc))
    schedule = add("hourly", "0 * * * *", clock)
    store = open_store()
    clock.set(datetime(2024, 5, 1, 9, 0, 1, tzinfo=timezone.utc))
    assert claims.plan_due(store, cron.to_ms(clock.now())) == 1
    # Planning again (another scheduler, the same instant) finds nothing due and inserts nothing.
    assert claims.plan_due(store, cron.to_ms(clock.now())) == 0
    with store.writing() as conn:  # even a direct second insert of the same time is refused quietly
        from jupyter_mlops.tracking import schema as s

        row = {"schedule_id": schedule.id, "scheduled_time": cron.to_ms(datetime(2024, 5, 1, 9, tzinfo=timezone.utc)),
               "state": "PENDING", "attempt": 0, "not_before": 0, "created_at": 0}
        assert store.insert_if_absent(conn, s.schedule_occurrences, row, ("schedule_id", "scheduled_time")) is False


def test_rest_ready_queries_return_json(project):
    import json

    from jupyter_mlops.exceptions import InvalidInputError
    from jupyter_mlops.jobs import queries

    (project / "nb.ipynb").write_text(json.dumps({"cells": [
        {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": "day = 'x'\nn = 3", "outputs": [],
         "execution_count": None}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    form = queries.notebook_form("nb.ipynb")
    assert form["parameters"] == {"day": "'x'", "n": "3"} and form["overlap"] == ["skip", "queue", "allow"]
    added = queries.add_notebook_schedule("nb.ipynb", {"cron": "0 6 * * *", "parameters": {"day": "{date}"}},
                                          actor="ana")
    assert added["schedule"]["name"] == "nb" and added["schedule"]["created_by"] == "ana"
    with pytest.raises(InvalidInputError, match="declares no parameter 'dya'"):
        queries.add_notebook_schedule("nb.ipynb", {"cron": "0 6 * * *", "parameters": {"dya": 1}}, actor="ana",
                                      name="other")
    assert queries.pause("nb", actor="ana")["schedule"]["paused"] is True
    assert queries.resume("nb", actor="ana")["schedule"]["next_fire_time"].endswith("T06:00:00+00:00")
    occurrence = queries.run_now("nb", actor="bo")["occurrence"]
    detail = queries.schedule_detail("nb")
    assert [h["id"] for h in detail["history"]] == [occurrence] and detail["history"][0]["note"] == "run-now by bo"
    listed = queries.list_schedules()["schedules"]
    assert [(s["name"], s["last"]["state"]) for s in listed] == [("nb", "PENDING")]
    json.dumps([form, added, detail, listed])  # all of it JSON-able as it is
    with pytest.raises(schedules.ScheduleNotFoundError):
        queries.schedule_detail("nope")
    assert queries.remove("nb", actor="ana")["occurrences"] == 1
