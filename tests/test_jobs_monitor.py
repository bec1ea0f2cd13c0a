"""A scheduled monitor (``schedule add-monitor ... --retrain``) fires the retraining loop: drifted data
for the occurrence's date, the policy fires, the candidate alias appears, and the drift is notified."""
from __future__ import annotations

import shutil

import pytest

from jupyter_mlops.cli import main
from jupyter_mlops.jobs import cron, schedules
from jupyter_mlops.jobs.scheduler import Scheduler
from jupyter_mlops.registry import versions
from jupyter_mlops.tracking.store import open_store

from .conftest import ROOT
from .helpers.jobs import Clock, wait_until
from .test_jobs_notify import Receiver
from .test_retrain_loop import shifted_cancer_data


@pytest.mark.timeout(900)
def test_scheduled_monitor_retrains_and_the_candidate_alias_appears(project, capsys):
    shutil.copytree(ROOT / "notebooks", project / "notebooks", ignore=shutil.ignore_patterns("build"))
    assert main(["demo"]) == 0
    (project / "events").mkdir()
    (project / "pyproject.toml").write_text(
        "[tool.jupyter_mlops.retrain]\n"
        'when = "drift_share >= 0.5"\n'
        'pipeline = "notebooks/pipeline.yaml"\n'
        'parameters = {"prepare.data" = "{current}"}\n')
    receiver = Receiver(failures=0)
    capsys.readouterr()
    try:
        assert main(["schedule", "add-monitor", "cancer-clf@production", "--data", "events/{date}.csv",
                     "--cron", "0 6 * * *", "--target", "target", "--retrain", "--notify-on", "drift",
                     "--webhook", receiver.url]) == 0
        assert "schedule monitor-cancer-clf (monitor)" in capsys.readouterr().out
        with pytest.raises(versions.ModelNotFoundError if hasattr(versions, "ModelNotFoundError") else Exception):
            versions.get_version("cancer-clf@candidate")

        schedule = schedules.get_schedule("monitor-cancer-clf")
        day = schedule.template_values(schedule.next_fire_at)["date"]  # tomorrow's data, as the job will read it
        shifted_cancer_data().to_csv(project / "events" / f"{day}.csv", index=False)
        clock = Clock(cron.to_datetime(schedule.next_fire_at + 2000))
        scheduler = Scheduler(now=clock.now)

        def ended():
            scheduler.tick()
            rows = schedules.history("monitor-cancer-clf")
            return rows and rows[0]["state"] not in ("PENDING", "CLAIMED", "RUNNING") and rows[0]

        row = wait_until(ended, "the scheduled monitor and its retraining ended", timeout=800)
        assert row["state"] == "FINISHED", row
        assert "dataset drift" in row["note"] and "policy fired" in row["note"]
        candidate = versions.get_version("cancer-clf@candidate")
        assert candidate["version"] == 2 and candidate["approval"]["actor"] == "retrain-policy"
        monitoring = open_store().get_run(row["run_id"])
        assert monitoring.tags["mlops.kind"] == "monitor"
        assert monitoring.tags["mlops.schedule"] == "monitor-cancer-clf"
        assert monitoring.tags["mlops.scheduled_time"] == cron.iso(schedule.next_fire_at)
        assert monitoring.params["current"].endswith(f"events/{day}.csv")

        assert scheduler.deliver()["sent"] == 1
        hook = receiver.bodies[0]
        assert hook["event"] == "drift" and hook["run_id"] == row["run_id"]
        assert hook["text"].startswith(f"monitor-cancer-clf: drift detected (scheduled {cron.iso(schedule.next_fire_at)})")
        assert "candidate cancer-clf/2" in hook["text"]
    finally:
        receiver.close()
