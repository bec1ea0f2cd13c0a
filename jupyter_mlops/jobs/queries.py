"""Schedules for REST handlers and views: plain functions taking plain values and returning JSON-able dicts.

The lab's Pipelines view (next fire time, last status, history, pause/resume/run-now) and its
"Schedule..." notebook command call these through thin handlers; the command line uses the same
modules underneath. Bad input raises :class:`~jupyter_mlops.exceptions.InvalidInputError` (a 4xx),
an unknown schedule :class:`~.schedules.ScheduleNotFoundError` (a 404); the actor is whoever the
server authenticated, never a field of the request.
"""
from __future__ import annotations

import time

from . import definitions, schedules


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def list_schedules(store=None) -> dict:
    """``{"schedules": [...]}``: each with next fire time (ISO, in its zone) and its newest occurrence."""
    return {"schedules": [s.to_dict() for s in schedules.list_schedules(store=store)]}


def schedule_detail(name: str, limit: int = 50, store=None) -> dict:
    """One schedule and its newest ``limit`` occurrences (time, status, attempt, duration, run, error)."""
    schedule = schedules.get_schedule(name, store=store)
    return {"schedule": schedule.to_dict(), "history": schedules.history(name, limit=limit, store=store)}


def schedules_of_pipeline(spec_path: str, store=None) -> dict:
    """The schedules running a given pipeline spec (for its row in the Pipelines view)."""
    wanted = schedules.pipeline_target(spec_path)["spec"]
    return {"schedules": [s.to_dict() for s in schedules.list_schedules(store=store)
                          if s.kind == "pipeline" and s.target.get("spec") == wanted]}


def pause(name: str, *, actor: str, store=None) -> dict:
    return {"schedule": schedules.set_paused(name, True, now_ms=_now_ms(), store=store).to_dict(), "by": actor}


def resume(name: str, *, actor: str, store=None) -> dict:
    return {"schedule": schedules.set_paused(name, False, now_ms=_now_ms(), store=store).to_dict(), "by": actor}


def run_now(name: str, *, actor: str, store=None) -> dict:
    """Queue an occurrence now; a running scheduler starts it. ``{"occurrence": id, "schedule": ...}``."""
    occurrence = schedules.run_now(name, now_ms=_now_ms(), by=actor, store=store)
    return {"occurrence": occurrence, "schedule": schedules.get_schedule(name, store=store).to_dict()}


def notebook_form(notebook: str) -> dict:
    """What the "Schedule..." dialog shows for a notebook: its parameters (name -> default as written)
    and the choices of each policy."""
    from ..pipeline.notebook_params import parameters_cell
    from ..pipeline.schedule_block import CATCHUP, DEFAULTS, EVENTS, OVERLAP, TEMPLATE_NAMES

    target = schedules.notebook_target(notebook)
    declared, has_cell = parameters_cell(target["notebook"])
    return {"notebook": target["notebook"], "has_parameters_cell": has_cell, "parameters": dict(declared),
            "defaults": DEFAULTS, "overlap": list(OVERLAP), "catchup": list(CATCHUP), "events": list(EVENTS),
            "placeholders": [f"{{{n}}}" for n in TEMPLATE_NAMES]}


def add_notebook_schedule(notebook: str, options: dict, *, actor: str, name: str | None = None,
                          replace: bool = False, store=None) -> dict:
    """Create a one-step schedule from a notebook. ``options``: the fields of a ``schedule:`` block
    (``cron`` required; ``parameters`` as templates such as ``{"day": "{date}"}``)."""
    schedule = definitions.define_notebook(notebook, dict(options or {}), by=actor, now_ms=_now_ms(), name=name,
                                           replace=replace, store=store)
    return {"schedule": schedule.to_dict()}


def remove(name: str, *, actor: str, force: bool = False, store=None) -> dict:
    return {"removed": name, "occurrences": schedules.remove_schedule(name, force=force, store=store), "by": actor}
