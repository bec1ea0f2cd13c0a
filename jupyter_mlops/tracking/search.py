"""``search_runs``: runs matching a filter as a pandas DataFrame, one row per run.

Columns: run attributes, then ``params.*``, ``metrics.*`` (latest value) and ``tags.*``.
The filter and the ordering run in SQL; params, metrics and tags of the selected runs are
fetched in three flat queries and pivoted in Python, which stays fast at 10k+ runs.
"""
from __future__ import annotations

from sqlalchemy import Text, cast, literal, select, union_all

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
        runs = raw_rows(conn, stmt)
        pairs = raw_rows(conn, _values_of(stmt, max_results is not None and len(runs) >= int(max_results),
                                           store.engine.dialect.name)) \
            if runs else []
    df = pd.DataFrame.from_records(runs, columns=ATTRIBUTE_COLUMNS)
    for col in ("start_time", "end_time"):
        df[col] = pd.to_datetime(df[col], unit="ms", utc=True)
    if not pairs:
        return df
    long = pd.DataFrame.from_records(pairs, columns=["kind", "run_id", "key", "value"])
    blocks = [df]
    for kind in ("params.", "metrics.", "tags."):
        part = long[long["kind"] == kind]
        if part.empty:
            continue
        wide = part.pivot(index="run_id", columns="key", values="value").reindex(df["run_id"])
        wide = wide[sorted(wide.columns)]
        wide.columns = [kind + c for c in wide.columns]
        wide = wide.astype(float) if kind == "metrics." else wide.astype(object).where(wide.notna(), None)
        blocks.append(wide.reset_index(drop=True))
    return pd.concat(blocks, axis=1)


def _values_of(runs_stmt, limited: bool, dialect: str):
    """params, latest metrics and tags of the chosen runs in one query. The chosen ids are a CTE,
    so the filter is evaluated once; ordering only matters when LIMIT cut the list short."""
    chosen = runs_stmt.with_only_columns(s.runs.c.uuid)
    if not limited:
        chosen = chosen.order_by(None).limit(None)
    chosen = chosen.cte("chosen")
    def value(t):
        # PostgreSQL wants one type per UNION column; its float text round-trips exactly.
        return cast(t.c.value, Text).label("value") if dialect == "postgresql" and t is s.latest_metrics else t.c.value

    return union_all(*(
        select(literal(kind).label("kind"), t.c.run_uuid, t.c.key, value(t)).join(chosen, chosen.c.uuid == t.c.run_uuid)
        for kind, t in (("params.", s.params), ("metrics.", s.latest_metrics), ("tags.", s.tags))
    ))


def raw_rows(conn, stmt) -> list[tuple]:
    """Rows as plain tuples straight from the DBAPI cursor: no Row objects for 100k+ values."""
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.params
    if compiled.positional:
        params = tuple(params[name] for name in compiled.positiontup)
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.execute(str(compiled), params)
        return cursor.fetchall()
    finally:
        cursor.close()
