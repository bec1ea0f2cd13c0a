"""Schedules in the store: what fires, when, with which policies; added, listed, paused, removed.

A schedule is one of three kinds, each a job the project already knows how to run:

- ``pipeline``: a ``pipeline.yaml``, its ``-p`` overrides rendered from templates per occurrence;
- ``notebook``: one notebook, run as a one-step pipeline made for it (so it is cached, recorded and
  shown like any pipeline run);
- ``monitor``: ``monitor`` of a registered model on data whose path is a template
  (``events/{date}/``), and with ``retrain`` the retraining loop when the policy fires.

Its next fire time is a column of its row, advanced in the same transaction that records the
occurrences due (see :mod:`.claims`), so schedulers never keep it in memory.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy import delete, insert, select, update

from ..exceptions import InvalidInputError, MlopsError
from ..pipeline.schedule_block import ScheduleBlock, render
from ..tracking import schema as s
from ..tracking.store import open_store
from . import cron

KINDS = ("pipeline", "notebook", "monitor")
ACTIVE = ("CLAIMED", "RUNNING")
DONE = ("FINISHED", "FAILED", "KILLED", "SKIPPED")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")


class ScheduleNotFoundError(MlopsError, LookupError):
    """No schedule has the given name."""


@dataclass
class Schedule:
    """One row of ``schedules``, its JSON columns read."""

    id: int
    name: str
    kind: str
    target: dict
    cron: str
    timezone: str
    parameters: dict
    overlap: str
    catchup: str
    retries: int
    timeout: float | None
    notify: dict
    paused: bool
    next_fire_at: int | None
    created_by: str
    created_at: int
    updated_at: int
    last: dict | None = field(default=None)  # the newest occurrence, when listed

    @classmethod
    def from_row(cls, row) -> Schedule:
        values = dict(row)
        for key in ("target", "parameters", "notify"):
            values[key] = json.loads(values[key] or "{}")
        values["paused"] = bool(values["paused"])
        return cls(**values)

    def template_values(self, scheduled_ms: int) -> dict:
        """What ``{date}``, ``{yesterday}``, ``{scheduled_time}`` and ``{schedule}`` stand for in one occurrence."""
        local = cron.to_datetime(scheduled_ms, self.timezone)
        return {"date": local.date().isoformat(), "yesterday": (local.date() - timedelta(days=1)).isoformat(),
                "scheduled_time": local.isoformat(timespec="seconds"), "schedule": self.name}

    def rendered_parameters(self, scheduled_ms: int) -> dict:
        values = self.template_values(scheduled_ms)
        return {k: render(v, values) for k, v in self.parameters.items()}

    def to_dict(self) -> dict:
        """JSON-able, times as ISO 8601 in the schedule's zone (and epoch ms beside them)."""
        return {
            "id": self.id, "name": self.name, "kind": self.kind, "target": self.target, "cron": self.cron,
            "description": cron.describe(self.cron), "timezone": self.timezone, "parameters": self.parameters,
            "overlap": self.overlap, "catchup": self.catchup, "retries": self.retries, "timeout": self.timeout,
            "notify": self.notify, "paused": self.paused, "next_fire_at": self.next_fire_at,
            "next_fire_time": cron.iso(self.next_fire_at, self.timezone), "created_by": self.created_by,
            "created_at": self.created_at, "updated_at": self.updated_at, "last": self.last,
        }


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise InvalidInputError(f"invalid schedule name {str(name)[:60]!r}: use 1-128 letters, digits, '.', '_' "
                                "or '-', starting with a letter or digit")
    return name


def add_schedule(name: str, kind: str, target: dict, block: ScheduleBlock, *, by: str, now_ms: int,
                 replace: bool = False, store=None) -> Schedule:
    """Store a new schedule (or replace one of that name with ``replace``); its first fire time is the
    first one after ``now_ms``."""
    store = store or open_store()
    check_name(name)
    if kind not in KINDS:
        raise InvalidInputError(f"unknown schedule kind {kind!r}; kinds: {', '.join(KINDS)}")
    row = {"name": name, "kind": kind, "target": json.dumps(target, sort_keys=True), "cron": block.cron,
           "timezone": block.timezone, "parameters": json.dumps(block.parameters, sort_keys=True, default=str),
           "overlap": block.overlap, "catchup": block.catchup, "retries": block.retries, "timeout": block.timeout,
           "notify": json.dumps(block.notify, sort_keys=True), "paused": False,
           "next_fire_at": cron.next_after(block.cron, block.timezone, now_ms), "created_by": by,
           "created_at": now_ms, "updated_at": now_ms}
    t = s.schedules
    with store.writing() as conn:
        existing = conn.execute(select(t.c.id).where(t.c.name == name)).scalar()
        if existing is not None and not replace:
            raise InvalidInputError(f"a schedule named {name!r} exists; remove it first or pass --replace")
        if existing is not None:
            conn.execute(update(t).where(t.c.id == existing).values(
                **{k: v for k, v in row.items() if k not in ("created_at", "created_by")}))
        else:
            conn.execute(insert(t).values(**row))
    return get_schedule(name, store=store)


def get_schedule(name: str, store=None) -> Schedule:
    store = store or open_store()
    t = s.schedules
    with store.engine.connect() as conn:
        row = conn.execute(select(t).where(t.c.name == name)).mappings().first()
        if row is None:
            names = conn.execute(select(t.c.name).order_by(t.c.name).limit(20)).scalars().all()
    if row is None:
        known = f"; schedules: {', '.join(names)}" if names else "; there are no schedules yet"
        raise ScheduleNotFoundError(f"no schedule named {str(name)[:60]!r}{known}")
    return Schedule.from_row(row)


def list_schedules(store=None) -> list[Schedule]:
    """Every schedule by name, each with its newest occurrence (``last``)."""
    store = store or open_store()
    t, o = s.schedules, s.schedule_occurrences
    with store.engine.connect() as conn:
        rows = conn.execute(select(t).order_by(t.c.name)).mappings().all()
        schedules = [Schedule.from_row(r) for r in rows]
        for schedule in schedules:
            last = conn.execute(select(o).where(o.c.schedule_id == schedule.id)
                                .order_by(o.c.scheduled_time.desc()).limit(1)).mappings().first()
            schedule.last = occurrence_dict(last, schedule.timezone) if last else None
    return schedules


def set_paused(name: str, paused: bool, *, now_ms: int, store=None) -> Schedule:
    """Pause: nothing more fires and waiting occurrences are skipped. Resume: fires from the next
    time after now; what fell due while paused is not caught up (pausing means "do not run")."""
    store = store or open_store()
    schedule = get_schedule(name, store=store)
    t, o = s.schedules, s.schedule_occurrences
    with store.writing() as conn:
        if paused:
            conn.execute(update(t).where(t.c.id == schedule.id).values(paused=True, next_fire_at=None,
                                                                           updated_at=now_ms))
            conn.execute(update(o).where(o.c.schedule_id == schedule.id, o.c.state == "PENDING")
                         .values(state="SKIPPED", ended_at=now_ms, note="the schedule was paused"))
        else:
            conn.execute(update(t).where(t.c.id == schedule.id, t.c.paused.is_(True)).values(
                paused=False, next_fire_at=cron.next_after(schedule.cron, schedule.timezone, now_ms),
                updated_at=now_ms))
    return get_schedule(name, store=store)


def remove_schedule(name: str, *, force: bool = False, store=None) -> int:
    """Delete the schedule, its occurrences and undelivered notifications; the runs it made stay.
    A running occurrence blocks this unless ``force`` (the job then finishes unrecorded here)."""
    store = store or open_store()
    schedule = get_schedule(name, store=store)
    t, o, n = s.schedules, s.schedule_occurrences, s.schedule_notifications
    with store.writing() as conn:
        running = conn.execute(select(o.c.scheduled_time).where(o.c.schedule_id == schedule.id,
                                                                o.c.state.in_(ACTIVE))).scalars().first()
        if running is not None and not force:
            raise InvalidInputError(f"schedule {name!r} has an occurrence running (scheduled "
                                    f"{cron.iso(running, schedule.timezone)}); pause it and wait, or pass --force")
        ids = select(o.c.id).where(o.c.schedule_id == schedule.id).scalar_subquery()
        conn.execute(delete(n).where(n.c.occurrence_id.in_(ids)))
        removed = conn.execute(delete(o).where(o.c.schedule_id == schedule.id)).rowcount
        conn.execute(delete(t).where(t.c.id == schedule.id))
    return removed or 0


def run_now(name: str, *, now_ms: int, by: str, store=None) -> int:
    """Queue an occurrence at ``now_ms`` outside the cron (any scheduler picks it up); its id."""
    store = store or open_store()
    schedule = get_schedule(name, store=store)
    o = s.schedule_occurrences
    with store.writing() as conn:
        at = now_ms
        # (schedule, time) is unique: a run-now in the same millisecond as another occurrence moves on by 1 ms.
        while conn.execute(select(o.c.id).where(o.c.schedule_id == schedule.id, o.c.scheduled_time == at)).first():
            at += 1
        return conn.execute(insert(o).values(
            schedule_id=schedule.id, scheduled_time=at, state="PENDING", attempt=0, not_before=now_ms,
            note=f"run-now by {by}", created_at=now_ms).returning(o.c.id)).scalar_one()


def history(name: str, limit: int = 50, store=None) -> list[dict]:
    """The newest ``limit`` occurrences of a schedule: time, state, attempts, run, duration, error."""
    store = store or open_store()
    schedule = get_schedule(name, store=store)
    o = s.schedule_occurrences
    with store.engine.connect() as conn:
        rows = conn.execute(select(o).where(o.c.schedule_id == schedule.id)
                            .order_by(o.c.scheduled_time.desc()).limit(int(limit))).mappings().all()
    return [occurrence_dict(r, schedule.timezone) for r in rows]


def occurrence_dict(row, tz: str = "UTC") -> dict:
    values = dict(row)
    started, ended = values.get("started_at"), values.get("ended_at")
    values["scheduled"] = cron.iso(values["scheduled_time"], tz)
    values["duration_s"] = round((ended - started) / 1000, 3) if started is not None and ended is not None else None
    return values


# -- what a schedule runs --------------------------------------------------------------------------------

def pipeline_target(spec_path) -> dict:
    return {"spec": os.path.abspath(os.fspath(spec_path))}


def notebook_target(notebook) -> dict:
    path = Path(os.path.abspath(os.fspath(notebook)))
    if path.suffix != ".ipynb":
        raise InvalidInputError(f"{notebook}: expected a Jupyter notebook (.ipynb) or a pipeline spec (.yaml)")
    if not path.is_file():
        raise InvalidInputError(f"notebook {notebook} not found")
    return {"notebook": str(path)}


def monitor_target(reference: str, data: str, *, target: str | None = None, retrain: bool = False,
                   project: str | os.PathLike | None = None) -> dict:
    """``data`` may be a path template (``events/{date}/``), made absolute here, or a URL (``s3://...``)."""
    if "://" not in data:
        data = os.path.abspath(data) + (os.sep if data.endswith(("/", os.sep)) else "")
    return {"reference": reference, "data": data, "target": target, "retrain": bool(retrain),
            "project": os.path.abspath(os.fspath(project or os.getcwd()))}


def notebook_spec_text(schedule_name: str, notebook: str, parameters: dict) -> str:
    """The one-step pipeline a notebook schedule runs: named after the schedule, working in the
    notebook's folder, its parameters given per occurrence as overrides."""
    import yaml

    step = re.sub(r"[^A-Za-z0-9_-]", "_", Path(notebook).stem) or "notebook"
    spec = {"name": schedule_name, "workdir": str(Path(notebook).parent),
            "steps": {step: {"notebook": notebook, "parameters": parameters or {}}}}
    return yaml.safe_dump(spec, sort_keys=False)
