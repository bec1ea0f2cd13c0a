"""Deleting, archiving and restoring runs and experiments, and collecting the garbage: with the
registry's say and an audit entry for each change.

A run a registered model version was made from cannot be deleted, nor can its experiment: the
registry keeps that run, and so its artifacts, alive. A run's pipeline steps and nested runs go
with it (a pipeline run and its steps are one record). Each change is audited in the transaction
that makes it: ``delete`` / ``archive`` / ``restore`` with the run id as subject, or
``experiment:NAME`` for an experiment; ``gc`` for a collection.
"""
from __future__ import annotations

from sqlalchemy import select

from ..exceptions import InvalidInputError, RegistryError
from ..tracking import capture, garbage
from ..tracking import lifecycle_states as states
from ..tracking import schema as s
from ..tracking.store import open_store
from . import audit

# What each operation puts a run in, and which of a run's own states it changes.
_TARGETS = {
    "delete": (states.DELETED, (states.ACTIVE, states.ARCHIVED)),
    "archive": (states.ARCHIVED, (states.ACTIVE,)),  # a deleted step of an archived pipeline stays deleted
    "restore": (states.ACTIVE, (states.ARCHIVED, states.DELETED)),
}


def delete_runs(run_ids, by: str | None = None, store=None) -> list[str]:
    """Soft-delete the runs and their steps; returns the ids that changed. Refused, changing
    nothing, if a model version was made from any of them."""
    return _change_runs("delete", run_ids, by, store)


def archive_runs(run_ids, by: str | None = None, store=None) -> list[str]:
    return _change_runs("archive", run_ids, by, store)


def restore_runs(run_ids, by: str | None = None, store=None) -> list[str]:
    return _change_runs("restore", run_ids, by, store)


def _change_runs(action: str, run_ids, by, store) -> list[str]:
    store = store or open_store()
    if isinstance(run_ids, str) or not hasattr(run_ids, "__iter__"):
        run_ids = [run_ids]
    roots = list(dict.fromkeys(store.resolve_run_id(_id_of(run)) for run in run_ids))
    if not roots:
        raise InvalidInputError(f"{action}: give one or more runs")
    state, changes = _TARGETS[action]
    actor = by or capture.current_user() or "unknown"
    with store.writing() as conn:
        targets = states.with_descendants(conn, roots)
        current = states.run_states(conn, targets)
        if action == "delete":
            _refuse_if_registered(conn, targets, "run")
        if action == "restore":
            for run in roots:
                _, experiment, experiment_state = current[run]
                if experiment_state != states.ACTIVE:
                    raise InvalidInputError(f"run {run[:8]} is in experiment {experiment!r}, which is {experiment_state}: "
                                            f"{states.closed_experiment_message(experiment, experiment_state)}")
        changing = [run for run in targets if current[run][0] in changes]
        states.set_runs(conn, changing, state)
        for run in changing:
            extra = {} if run in roots else {"along_with": roots}  # a step or nested run of these
            audit.append(conn, actor, action, run, previous=current[run][0], **extra)
    return changing


def delete_experiment(name: str, by: str | None = None, store=None) -> int:
    """Soft-delete an experiment: its runs are left out with it; returns how many runs it holds."""
    return _change_experiment("delete", name, by, store)


def archive_experiment(name: str, by: str | None = None, store=None) -> int:
    return _change_experiment("archive", name, by, store)


def restore_experiment(name: str, by: str | None = None, store=None) -> int:
    """Bring an experiment back; each of its runs gets back the state it had on its own."""
    return _change_experiment("restore", name, by, store)


def _change_experiment(action: str, name: str, by, store) -> int:
    store = store or open_store()
    state, changes = _TARGETS[action]
    actor = by or capture.current_user() or "unknown"
    with store.writing() as conn:
        row = states.experiment_row(conn, str(name))
        if row is None:
            e = s.experiments
            known = ", ".join(conn.execute(select(e.c.name).order_by(e.c.name).limit(10)).scalars()) or "none"
            raise InvalidInputError(f"no experiment {name!r} (experiments: {known})")
        runs = states.runs_of_experiment(conn, row.id)
        if action == "delete":
            _refuse_if_registered(conn, runs, f"experiment {name!r}")
        if row.lifecycle in changes:
            states.set_experiment(conn, row.id, state)
            audit.append(conn, actor, action, f"experiment:{name}", previous=row.lifecycle, runs=len(runs))
    return len(runs)


def _refuse_if_registered(conn, run_ids: list[str], what: str) -> None:
    mv = s.model_versions
    for part in states.chunks(run_ids):
        found = conn.execute(select(mv.c.run_uuid, mv.c.name, mv.c.version).where(mv.c.run_uuid.in_(part))
                             .order_by(mv.c.name, mv.c.version).limit(1)).first()
        if found is not None:
            run, name, version = found
            raise RegistryError(f"{what} cannot be deleted: model {name} version {version} was made from run "
                                f"{run[:8]}, and the registry keeps that run and its artifacts (archive it instead)")


def registry_runs(store) -> dict[str, str]:
    """Runs the registry keeps alive, each with the first version made from it."""
    mv = s.model_versions
    with store.engine.connect() as conn:
        rows = conn.execute(select(mv.c.run_uuid, mv.c.name, mv.c.version).order_by(mv.c.name, mv.c.version)).all()
    kept: dict[str, str] = {}
    for run, name, version in rows:
        kept.setdefault(run, f"model {name} version {version} was made from it")
    return kept


def collect_garbage(yes: bool = False, grace_seconds: float = garbage.DEFAULT_GRACE_SECONDS,
                    by: str | None = None, store=None) -> garbage.Garbage:
    """What ``jupyter mlops gc`` takes: deleted runs' rows, and the blobs no run that stays refers
    to. A dry run unless ``yes``; runs with a registry version stay, and so do their blobs."""
    store = store or open_store()
    keep = registry_runs(store)
    found = garbage.find(store, keep, grace_seconds)
    if not yes:
        return found
    actor = by or capture.current_user() or "unknown"

    def purged(conn, done):  # in the transaction that purges the rows
        audit.append(conn, actor, "gc", "runs", runs=[r["run_id"] for r in done.runs], experiments=done.experiments)

    done = garbage.collect(store, found, registry_runs(store), audit=purged)
    audit.record(store, actor, "gc", "artifacts", blobs=len(done.blobs), bytes=done.bytes)
    return done


def _id_of(run) -> str:
    return run if isinstance(run, str) else getattr(run, "id", None) or run.run_id
