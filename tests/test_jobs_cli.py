"""``jupyter mlops schedule ...`` and ``jupyter mlops scheduler`` end to end: a real scheduler process runs
a scheduled notebook through papermill, tags its run, records its history; SIGTERM hands a running job
back and exits 0, and the next scheduler runs it."""
from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from jupyter_mlops.cli import main
from jupyter_mlops.jobs import cron, schedules
from jupyter_mlops.tracking.store import open_store

from .conftest import PYTHON, python_env
from .helpers.jobs import wait_until


def write_notebook(path: Path, *sources: str) -> Path:
    cells = [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "outputs": [], "source": src,
              "metadata": {"tags": ["parameters"]} if i == 0 else {}} for i, src in enumerate(sources)]
    path.write_text(json.dumps({"cells": cells, "metadata": {"kernelspec": {"name": "python3", "language": "python",
                                                                            "display_name": "Python 3"}},
                                "nbformat": 4, "nbformat_minor": 5}))
    return path


def start_scheduler(project: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([PYTHON, "-m", "jupyter_mlops", "scheduler", "--poll", "0.2", *extra], cwd=project,
                            env=python_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def state_of(name: str, occurrence: int) -> dict | None:
    return next((r for r in schedules.history(name, limit=100) if r["id"] == occurrence), None)


def test_scheduled_notebook_runs_tagged_and_its_history_shows(project, capsys):
    write_notebook(project / "daily.ipynb", "day = 'none'\nsize = 1",
                   "import pathlib\nimport jupyter_mlops as mlops\n"
                   "pathlib.Path(f'out-{day}.txt').write_text(str(size))\nmlops.log_metric('rows', size)")
    assert main(["schedule", "add", "daily.ipynb", "--cron", "0 6 * * *", "--timezone", "Europe/Berlin",
                 "-p", "day={date}", "-p", "size=3", "--notify-on", "failure", "--webhook", "env:HOOK"]) == 0
    out = capsys.readouterr().out
    assert "schedule daily (notebook): 0 6 * * * in Europe/Berlin (At 06:00 every day)" in out
    # Mistakes are one line naming the option, nothing stored.
    for argv, message in (
        (["--cron", "0 6 * *"], "--cron: expected five fields"),
        (["--cron", "0 6 * * *", "-p", "dya=1"], "-p dya: daily.ipynb declares no parameter 'dya' in its parameters cell; did you mean 'day'?"),
        (["--cron", "0 6 * * *", "--timezone", "Europe/Berln"], "--timezone: unknown time zone 'Europe/Berln'"),
        (["--cron", "0 6 * * *", "--webhook", "ftp://x"], "--notify-on/--webhook/--email: expected an http(s) URL"),
        (["--cron", "0 6 * * *"], "a schedule named 'daily' exists"),
    ):
        assert main(["schedule", "add", "daily.ipynb", *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("jupyter mlops schedule: error: ") and message in err and err.count("\n") == 1, err
    assert main(["schedule", "list", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(s["name"], s["parameters"], s["next_fire_time"][11:19]) for s in listed] == [
        ("daily", {"day": "{date}", "size": 3}, "06:00:00")]  # local time, with the zone's offset after it

    assert main(["schedule", "run-now", "daily"]) == 0
    occurrence = schedules.history("daily")[0]["id"]
    scheduler = start_scheduler(project)
    try:
        row = wait_until(lambda: (r := state_of("daily", occurrence)) and r["state"] in ("FINISHED", "FAILED") and r,
                         "the scheduled notebook ended")
        assert row["state"] == "FINISHED", row
        run = open_store().get_run(row["run_id"])
        assert run.tags["mlops.schedule"] == "daily" and run.tags["mlops.kind"] == "pipeline"
        assert run.tags["mlops.scheduled_time"] == cron.iso(row["scheduled_time"])  # UTC
        day = schedules.get_schedule("daily").template_values(row["scheduled_time"])["date"]
        assert (project / f"out-{day}.txt").read_text() == "3"  # the template filled in, the number a number
        scheduler.send_signal(signal.SIGTERM)
        assert scheduler.wait(timeout=60) == 0
        assert "stopped" in scheduler.stdout.read()
    finally:
        if scheduler.poll() is None:
            scheduler.kill()
    assert main(["schedule", "history", "daily"]) == 0
    table = capsys.readouterr().out
    assert "FINISHED" in table and row["run_id"] in table and "run-now by" in table
    assert main(["schedule", "history", "nope"]) == 2
    assert "no schedule named 'nope'; schedules: daily" in capsys.readouterr().err


def test_sigterm_hands_a_running_job_back_and_the_next_scheduler_runs_it(project, capsys):
    write_notebook(project / "slow.ipynb", "flag = 'release'",
                   "import pathlib, time\nwhile not pathlib.Path(flag).exists():\n    time.sleep(0.05)")
    assert main(["schedule", "add", "slow.ipynb", "--cron", "0 0 1 1 *"]) == 0
    assert main(["schedule", "run-now", "slow"]) == 0
    occurrence = schedules.history("slow")[0]["id"]
    first = start_scheduler(project, "--drain", "0")
    try:
        row = wait_until(lambda: (r := state_of("slow", occurrence)) and r["state"] == "RUNNING" and r["run_id"] and r,
                         "the job's run started")
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=90) == 0, first.stderr.read()
    finally:
        if first.poll() is None:
            first.kill()
    handed = state_of("slow", occurrence)
    assert handed["state"] == "PENDING" and handed["attempt"] == 0 and "handed back by" in handed["note"]
    assert open_store().get_run(row["run_id"]).status == "KILLED"  # the stopped attempt's run says so

    (project / "release").write_text("")
    second = start_scheduler(project)
    try:
        done = wait_until(lambda: (r := state_of("slow", occurrence)) and r["state"] == "FINISHED" and r,
                          "the handed-back job finished under the next scheduler")
        assert done["attempt"] == 1 and done["run_id"] != row["run_id"]
        second.send_signal(signal.SIGINT)
        assert second.wait(timeout=60) == 0
    finally:
        if second.poll() is None:
            second.kill()


@pytest.mark.parametrize("argv, message", [
    (["schedule", "add", "missing.yaml"], "cannot read the pipeline spec"),
    (["schedule", "add", "x.txt"], "expected a pipeline spec (.yaml) or a notebook (.ipynb)"),
    (["schedule", "add-monitor", "nope@production", "--data", "d/{date}.csv", "--cron", "0 6 * * *"], "nope"),
    (["schedule", "pause", "nope"], "no schedule named 'nope'"),
    (["scheduler", "--jobs", "0"], "--jobs must be at least 1"),
])
def test_bad_input_is_one_line(project, capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
