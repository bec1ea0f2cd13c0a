"""``search_runs``: runs matching a filter as a pandas DataFrame, one row per run.

Columns: run attributes, then ``params.*``, ``metrics.*`` (latest value) and ``tags.*``.
The filter and the ordering run in SQL; params, metrics and tags of the selected runs are
fetched in three flat queries and pivoted in Python, which stays fast at 10k+ runs.
"""
from __future__ import annotations

from sqlalchemy import select

from . import schema as s
from .filters import parse_filter, parse_order_by, status_expression

ATTRIBUTE_COLUMNS = ["run_id", "name", "experiment", "status", "start_time", "end_time", "parent_id", "user", "source"]
DEFAULT_MAX_RESULTS = 100_000


def select_runs(store, experiment=None, filter=None, order_by=None, max_results=None, offset=0):
    """The SELECT of matching runs' attributes, in order (shared by search, CLI and REST)."""
    dialect = store.engine.dialect.name
    r, e = s.runs, s.experiments
    stmt = select(
        r.c.uuid.label("run_id"),
        r.c.name,
        e.c.name.label("experiment"),
        status_expression().label("status"),
        r.c.start_time,
        r.c.end_time,
        r.c.parent_uuid.label("parent_id"),
        r.c.user,
        r.c.source_path.label("source"),
    ).join(e, e.c.id == r.c.experiment_id)
    if experiment is not None:
        names = [experiment] if isinstance(experiment, str) else list(experiment)
        stmt = stmt.where(e.c.name.in_(names))
    condition = parse_filter(filter, dialect)
    if condition is not None:
        stmt = stmt.where(condition)
    order = parse_order_by(order_by, dialect) + [r.c.start_time.desc(), r.c.uuid]
    stmt = stmt.order_by(*order)
    if max_results is not None:
        stmt = stmt.limit(int(max_results))
    if offset:
        stmt = stmt.offset(int(offset))
    return stmt


def search_runs(store, experiment=None, filter=None, order_by=None, max_results=DEFAULT_MAX_RESULTS):
    import pandas as pd

    stmt = select_runs(store, experiment, filter, order_by, max_results)
    with store.engine.connect() as conn:
        runs = conn.execute(stmt).all()
        ids = {row[0]: i for i, row in enumerate(runs)}
        frame = {name: [row[j] for row in runs] for j, name in enumerate(ATTRIBUTE_COLUMNS)}
        if runs:
            chosen = stmt.with_only_columns(s.runs.c.uuid).order_by(None).limit(None).offset(None)
            if max_results is not None and len(runs) >= int(max_results):
                # A LIMIT must stay inside the sub-select, so keep the ordered, limited one.
                chosen = stmt.with_only_columns(s.runs.c.uuid)
            chosen = chosen.subquery()
            for prefix, table in (("params.", s.params), ("metrics.", s.latest_metrics), ("tags.", s.tags)):
                rows = conn.execute(
                    select(table.c.run_uuid, table.c.key, table.c.value).join(chosen, chosen.c.uuid == table.c.run_uuid)
                ).all()
                _pivot_into(frame, prefix, rows, ids, len(runs), is_metric=prefix == "metrics.")
    df = pd.DataFrame(frame)
    for col in ("start_time", "end_time"):
        df[col] = pd.to_datetime(df[col], unit="ms", utc=True)
    return df


def _pivot_into(frame: dict, prefix: str, rows, ids: dict, n: int, is_metric: bool) -> None:
    columns: dict[str, list] = {}
    missing = float("nan") if is_metric else None
    for run_id, key, value in rows:
        col = columns.get(key)
        if col is None:
            col = columns[key] = [missing] * n
        col[ids[run_id]] = missing if value is None else value
    for key in sorted(columns):
        frame[prefix + key] = columns[key]
