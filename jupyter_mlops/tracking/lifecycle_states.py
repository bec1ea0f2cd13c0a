"""Where a run or an experiment is in its life: active, archived, or deleted.

Archived runs are kept as they are but left out of listings; deleted runs are soft-deleted: left
out too, restorable, until ``jupyter mlops gc`` purges their rows and collects their artifacts.
An experiment's state covers its runs without overwriting theirs, so restoring an experiment
gives every run back the state it had (a run deleted on its own stays deleted). A run's
*effective* state is therefore the further along of its own and its experiment's.

This module is the store part only; refusing to delete a run the registry keeps, and the audit
entries, are the domain's (``registry/run_lifecycle.py``), since tracking must not know the registry.
"""
from __future__ import annotations

from sqlalchemy import case, delete, inspect, or_, select, update

from . import schema as s

ACTIVE, ARCHIVED, DELETED = "active", "archived", "deleted"
LIFECYCLES = (ACTIVE, ARCHIVED, DELETED)
# Run ids per IN (...) list: well under every back end's bind-parameter limit.
IDS_PER_QUERY = 500


def add_lifecycle_columns(conn) -> None:
    """The migration: a ``lifecycle`` column on runs and experiments, ``active`` for what exists.
    A store created since has the columns from its first migration: adding is skipped then."""
    for table in ("runs", "experiments"):
        if "lifecycle" not in {c["name"] for c in inspect(conn).get_columns(table)}:
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN lifecycle VARCHAR(16) NOT NULL DEFAULT 'active'")


def lifecycle_expression():
    """A run's effective state in SQL (a query joining runs to experiments): deleted if it or its
    experiment is, else archived if either is, else active."""
    r, e = s.runs, s.experiments
    return case(
        (or_(r.c.lifecycle == DELETED, e.c.lifecycle == DELETED), DELETED),
        (or_(r.c.lifecycle == ARCHIVED, e.c.lifecycle == ARCHIVED), ARCHIVED),
        else_=ACTIVE,
    )


def effective(run_state: str, experiment_state: str) -> str:
    """The same rule as :func:`lifecycle_expression`, in Python."""
    for state in (DELETED, ARCHIVED):
        if state in (run_state, experiment_state):
            return state
    return ACTIVE


def only_active(stmt):
    """``stmt`` (over runs joined to experiments) narrowed to active runs of active experiments."""
    return stmt.where(s.runs.c.lifecycle == ACTIVE, s.experiments.c.lifecycle == ACTIVE)


def chunks(ids: list[str]):
    for start in range(0, len(ids), IDS_PER_QUERY):
        yield ids[start:start + IDS_PER_QUERY]


def with_descendants(conn, run_ids) -> list[str]:
    """``run_ids`` and every run below them (pipeline steps, nested runs), parents first."""
    found = list(dict.fromkeys(run_ids))
    seen = set(found)
    level = found
    while level:
        children = []
        for part in chunks(level):
            children += conn.execute(select(s.runs.c.uuid).where(s.runs.c.parent_uuid.in_(part))
                                     .order_by(s.runs.c.start_time, s.runs.c.uuid)).scalars().all()
        level = [c for c in children if c not in seen]
        seen.update(level)
        found += level
    return found


def run_states(conn, run_ids) -> dict[str, tuple[str, str, str]]:
    """Each run's ``(own state, experiment name, experiment state)``."""
    r, e = s.runs, s.experiments
    states = {}
    for part in chunks(list(run_ids)):
        rows = conn.execute(select(r.c.uuid, r.c.lifecycle, e.c.name, e.c.lifecycle.label("experiment_lifecycle"))
                            .join(e, e.c.id == r.c.experiment_id).where(r.c.uuid.in_(part)))
        states.update({uuid: (own, name, exp) for uuid, own, name, exp in rows})
    return states


def set_runs(conn, run_ids, state: str) -> list[str]:
    """Put the runs in ``state``; returns those whose own state changed."""
    _check(state)
    changed = [uuid for uuid, (own, _, _) in run_states(conn, run_ids).items() if own != state]
    for part in chunks(changed):
        conn.execute(update(s.runs).where(s.runs.c.uuid.in_(part)).values(lifecycle=state))
    return changed


def experiment_row(conn, name: str):
    """``(id, state)`` of experiment ``name``, or None."""
    e = s.experiments
    return conn.execute(select(e.c.id, e.c.lifecycle).where(e.c.name == name)).first()


def set_experiment(conn, experiment_id: int, state: str) -> None:
    _check(state)
    conn.execute(update(s.experiments).where(s.experiments.c.id == experiment_id).values(lifecycle=state))


def runs_of_experiment(conn, experiment_id: int) -> list[str]:
    r = s.runs
    return conn.execute(select(r.c.uuid).where(r.c.experiment_id == experiment_id)
                        .order_by(r.c.start_time, r.c.uuid)).scalars().all()


def deleted_runs(conn) -> list[str]:
    """Runs whose effective state is deleted (their own, or their experiment's), oldest first."""
    r, e = s.runs, s.experiments
    return conn.execute(select(r.c.uuid).join(e, e.c.id == r.c.experiment_id)
                        .where(or_(r.c.lifecycle == DELETED, e.c.lifecycle == DELETED))
                        .order_by(r.c.start_time, r.c.uuid)).scalars().all()


def tables_holding_runs() -> list:
    """Every table with a foreign key to ``runs.uuid`` (other than runs' own parent link): what a
    purged run's rows are in. Read from the schema, so tables added by later migrations count.
    Not the registry's versions: a run with one is never purged, and should one appear meanwhile,
    the run's DELETE fails on it rather than take the version with it."""
    holding = []
    for table in s.metadata.sorted_tables:
        if table is s.runs or table is s.model_versions:
            continue
        columns = [fk.parent for fk in table.foreign_keys if fk.column is s.runs.c.uuid]
        if columns:
            holding.append((table, columns))
    return holding


def purge_runs(conn, run_ids) -> int:
    """Delete the runs' rows from every table, then the runs; returns how many runs went.
    The caller has checked that nothing that stays refers to them."""
    run_ids = list(run_ids)
    for table, columns in tables_holding_runs():
        for column in columns:
            for part in chunks(run_ids):
                conn.execute(delete(table).where(column.in_(part)))
    r = s.runs
    for part in chunks(run_ids):  # links among the purged runs go first, so their order does not matter
        conn.execute(update(r).where(r.c.uuid.in_(part)).values(parent_uuid=None))
    purged = 0
    for part in chunks(run_ids):
        purged += conn.execute(delete(r).where(r.c.uuid.in_(part))).rowcount or 0
    return purged


def purge_empty_deleted_experiments(conn) -> list[str]:
    """Deleted experiments that no longer hold any run: their rows go too; returns their names."""
    e, r = s.experiments, s.runs
    names = conn.execute(select(e.c.name).where(
        e.c.lifecycle == DELETED, ~select(r.c.uuid).where(r.c.experiment_id == e.c.id).exists())).scalars().all()
    if names:
        conn.execute(delete(e).where(e.c.name.in_(names)))
    return list(names)


def closed_experiment_message(name: str, state: str) -> str:
    how = f"mlops.restore_experiment({name!r}) or `jupyter mlops experiments restore {name}`"
    if state == DELETED:
        how += "; or purge it with `jupyter mlops gc --yes` to use the name afresh"
    return f"experiment {name!r} is {state} and takes no new runs: restore it first ({how})"


def _check(state: str) -> None:
    if state not in LIFECYCLES:
        raise ValueError(f"lifecycle {state!r} must be one of {', '.join(LIFECYCLES)}")
