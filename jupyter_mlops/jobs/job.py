"""One occurrence's job, in a process of its own: ``python -m jupyter_mlops.jobs.job ID ATTEMPT RESULT``.

The scheduler starts it and owns the occurrence's state; this process only runs the job, tags
the run it makes with the schedule (``mlops.schedule``, ``mlops.scheduled_time``,
``mlops.schedule_attempt``), links that run to the occurrence as soon as it exists, and writes
its outcome as JSON to RESULT. A process of its own means a job can be timed out and stopped
(its kernels with it) without touching the scheduler, and a crashing job cannot take it down.

If the scheduler that started it disappears, the job stops itself (as on SIGTERM), so an
occurrence never runs twice: another scheduler re-runs it once the claim's lease expires.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

from sqlalchemy import select

from ..exceptions import MlopsError
from ..tracking import schema as s
from ..tracking.store import open_store
from . import claims, cron
from .schedules import Schedule, notebook_spec_text

PARENT_CHECK_S = 1.0


def main(argv: list[str] | None = None) -> int:
    from ..pipeline.runner import _raise_stopped

    occurrence_id, attempt, result_path = (argv or sys.argv[1:])[:3]
    for sig in (signal.SIGTERM, signal.SIGINT):  # stopped anywhere, the outcome is still written
        signal.signal(sig, _raise_stopped)
    _stop_with_parent(os.getppid())
    outcome = run_occurrence(int(occurrence_id), int(attempt))
    tmp = Path(result_path).with_suffix(".partial")
    tmp.write_text(json.dumps(outcome, default=str))
    tmp.replace(result_path)
    return 0 if outcome["status"] == "FINISHED" else 1


def run_occurrence(occurrence_id: int, attempt: int, store=None) -> dict:
    """Run the job of one occurrence; its outcome: status, run_id, error, summary, drift."""
    from ..pipeline.runner import Stopped

    store = store or open_store()
    schedule, scheduled_time = _load(store, occurrence_id)
    tags = {"mlops.schedule": schedule.name, "mlops.scheduled_time": cron.iso(scheduled_time),
            "mlops.schedule_attempt": str(attempt)}
    context = {"occurrence": occurrence_id, "attempt": attempt, "tags": tags, "store": store,
               "scheduled_time": scheduled_time}
    try:
        return RUNNERS[schedule.kind](schedule, context)
    except Stopped as stop:
        result = stop.args[0] if stop.args and hasattr(stop.args[0], "run_id") else None
        return {"status": "KILLED", "run_id": result.run_id if result else None,
                "error": f"stopped by signal {int(stop.signum)}"}
    except MlopsError as exc:
        return {"status": "FAILED", "error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - any error of the job is its outcome, recorded
        traceback.print_exc()
        return {"status": "FAILED", "error": f"{type(exc).__name__}: {exc}"}


def _load(store, occurrence_id: int) -> tuple[Schedule, int]:
    o, t = s.schedule_occurrences, s.schedules
    with store.engine.connect() as conn:
        row = conn.execute(select(o.c.schedule_id, o.c.scheduled_time).where(o.c.id == occurrence_id)).first()
        if row is None:
            raise SystemExit(f"occurrence {occurrence_id} is not in the store")
        schedule = conn.execute(select(t).where(t.c.id == row.schedule_id)).mappings().one()
    return Schedule.from_row(schedule), row.scheduled_time


# -- pipelines and notebooks --------------------------------------------------------------------------

def run_pipeline_job(schedule: Schedule, context: dict) -> dict:
    from ..pipeline.spec import load_spec

    parameters = schedule.rendered_parameters(context["scheduled_time"])
    # JSON text is YAML, so a rendered "2024-03-10" stays text instead of becoming a date.
    spec = load_spec(schedule.target["spec"], [f"{k}={json.dumps(v)}" for k, v in parameters.items()])
    return _run_spec(spec, context, force=None)


def run_notebook_job(schedule: Schedule, context: dict) -> dict:
    """A one-step pipeline written for the notebook; it always executes (a notebook job means
    "run it", even when nothing it declares changed)."""
    from ..pipeline.spec import load_spec

    parameters = schedule.rendered_parameters(context["scheduled_time"])
    with tempfile.TemporaryDirectory(prefix="mlops-schedule-") as folder:
        path = Path(folder) / "pipeline.yaml"
        path.write_text(notebook_spec_text(schedule.name, schedule.target["notebook"], parameters))
        return _run_spec(load_spec(path), context, force=True)


def _run_spec(spec, context: dict, force) -> dict:
    from ..pipeline.records import PipelineRecords
    from ..pipeline.runner import PipelineRunner

    class ScheduledRecords(PipelineRecords):
        """The pipeline run carries the schedule's tags and is linked to the occurrence at once."""

        def create_pipeline_run(self, executor_kind: str) -> str:
            run_id = super().create_pipeline_run(executor_kind)
            self.store.set_tags(run_id, context["tags"])
            claims.set_run_id(context["store"], context["occurrence"], context["attempt"], run_id)
            return run_id

    runner = PipelineRunner(spec, force=force)
    runner.records = ScheduledRecords(runner.store, runner.writer, spec, runner.nodes)
    result = runner.run()
    counts: dict[str, int] = {}
    for state in result.states.values():
        counts[state.status] = counts.get(state.status, 0) + 1
    summary = f"pipeline {spec.name}: " + ", ".join(f"{n} {status.lower()}" for status, n in sorted(counts.items()))
    error = "\n\n".join(result.failures()) or (None if result.ok else f"pipeline ended {result.status}")
    return {"status": "FINISHED" if result.ok else "FAILED", "run_id": result.run_id, "summary": summary,
            "error": None if result.ok else error}


# -- monitors -----------------------------------------------------------------------------------------

def run_monitor_job(schedule: Schedule, context: dict) -> dict:
    """``monitor`` of the model on this occurrence's data; with ``retrain``, the retraining loop
    when the project's policy fires. Runs in the project folder the schedule was added from, whose
    pyproject.toml holds the policy."""
    from ..monitoring.monitor import monitor
    from ..pipeline.schedule_block import render

    target = schedule.target
    os.chdir(target["project"])
    data = render(target["data"], schedule.template_values(context["scheduled_time"]))
    current = current_data(data)
    result = monitor(target["reference"], current, target=target.get("target"))
    store = context["store"]
    if result.run_id:
        store.set_tags(result.run_id, context["tags"])
        claims.set_run_id(store, context["occurrence"], context["attempt"], result.run_id)
    drifted = result.dataset_drift
    share = result.drift_share
    summary = (f"{target['reference']} on {data}: {len(result.drifted_columns)} of {len(result.tested)} columns "
               f"drifted" + (f" (share {share:.2f})" if share is not None else "")
               + ("; dataset drift" if drifted else "; no dataset drift"))
    if result.missing_columns:
        summary += f"; FAILED CHECK: columns missing: {', '.join(result.missing_columns)}"
    outcome = {"status": "FINISHED", "run_id": result.run_id, "drift": bool(drifted), "summary": summary,
               "drifted_columns": result.drifted_columns}
    if target.get("retrain"):
        from .retrain import retrain_if_needed

        decision = retrain_if_needed(target["reference"], data, result)
        outcome["retrain"] = {"fired": decision.fired, "pipeline_run_id": decision.pipeline_run_id,
                              "candidate": (decision.candidate or {}).get("ref"), "promoted": decision.promoted}
        outcome["summary"] += "; " + decision.describe().replace("\n", "; ")
    return outcome


def current_data(data: str):
    """A file as it is; a folder or a glob as the stream of its CSV/Parquet files' chunks, in name order."""
    import glob

    from ..exceptions import InvalidInputError
    from ..monitoring.sources import iter_chunks

    if "://" in data:
        return data
    if any(ch in data for ch in "*?["):
        files = sorted(glob.glob(data))
    elif os.path.isdir(data):
        files = sorted(str(p) for p in Path(data).iterdir() if p.suffix.lower() in (".csv", ".parquet", ".pq"))
    else:
        if not os.path.exists(data):
            raise InvalidInputError(f"no data at {data} (is the day's data not there yet?)")
        return data
    if not files:
        raise InvalidInputError(f"no CSV or Parquet files at {data}")
    return (chunk for name in files for chunk in iter_chunks(name))


RUNNERS = {"pipeline": run_pipeline_job, "notebook": run_notebook_job, "monitor": run_monitor_job}


def _stop_with_parent(parent: int) -> None:
    """SIGTERM ourselves when the scheduler that started us is gone (we were re-parented)."""

    def watch():
        while True:
            time.sleep(PARENT_CHECK_S)
            if os.getppid() != parent:
                os.kill(os.getpid(), signal.SIGTERM)
                return

    threading.Thread(target=watch, name="mlops-parent-watch", daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
