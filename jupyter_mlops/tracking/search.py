"""``search_runs``: runs matching a filter as a pandas DataFrame, one row per run.

Columns: run attributes, then ``params.*``, ``metrics.*`` (latest value) and ``tags.*``.
The filter and the ordering run in SQL; params, metrics and tags come with each run's row
as its JSON summary (see summaries.py), so one query of one row per run feeds the DataFrame,
which is built column by column.
"""
from __future__ import annotations

import contextlib
import gc
import operator
import re

from sqlalchemy import select

from ..exceptions import InvalidInputError
from . import schema as s
from . import summaries
from .filters import parse_filter, parse_order_by, status_expression
from .lifecycle_states import lifecycle_expression, only_active

ATTRIBUTE_COLUMNS = ["run_id", "name", "experiment", "status", "start_time", "end_time", "parent_id", "user", "source",
                     "lifecycle"]
DEFAULT_MAX_RESULTS = 100_000
# With a LIMIT, SQLite sorts through a bounded B-tree, one insert per row: with the summaries in
# the rows that was 1.8x slower than its plain sort over 10k runs. Limits this large are
# applied while fetching instead; small ones still let SQLite keep only the top rows.
SQLITE_FETCH_LIMIT_FROM = 1000
MAX_COUNT = 2**63 - 1  # the largest LIMIT / OFFSET both databases take
# Pipeline steps that executed nothing (a CACHED step reuses another run's results, a SKIPPED one
# never ran): the pipeline's record of its DAG, not runs of their own. Listings leave them out
# unless the filter asks about ``status`` (``status = 'CACHED'`` finds them).
UNEXECUTED_STEP_STATUSES = ("CACHED", "SKIPPED")
_MENTIONS_STATUS = re.compile(r"(?<![\w.`])status\b", re.IGNORECASE)
# Archived and deleted runs (see lifecycle_states.py) are left out the same way, unless the filter
# asks about ``lifecycle`` (``lifecycle = 'archived'`` finds them).
_MENTIONS_LIFECYCLE = re.compile(r"(?<![\w.`])lifecycle\b", re.IGNORECASE)


def row_count(name: str, value) -> int:
    """``value`` as a LIMIT or OFFSET, or an error naming it (10**20 overflowed the driver: a 500)."""
    try:
        count = operator.index(value)
    except TypeError:
        raise InvalidInputError(f"{name} must be a whole number, got {value!r}") from None
    if not 0 <= count <= MAX_COUNT:
        raise InvalidInputError(f"{name} must be between 0 and {MAX_COUNT}, got {count}")
    return count


def select_runs(store, experiment=None, filter=None, order_by=None, max_results=None, offset=0,
                unexecuted_steps: bool = False, all_lifecycles: bool = False):
    """The SELECT of matching runs' attributes, in order (shared by search, CLI and REST).

    ``unexecuted_steps``: include CACHED and SKIPPED pipeline steps (the pipeline views want
    them); otherwise they are left out unless ``filter`` mentions ``status``. Archived and deleted
    runs are left out unless ``filter`` mentions ``lifecycle`` or ``all_lifecycles`` is set; the
    pipeline views (``unexecuted_steps``) see every step of the pipelines they show, whatever its state.
    """
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
        lifecycle_expression().label("lifecycle"),
    ).join(e, e.c.id == r.c.experiment_id)
    if experiment is not None:
        names = [experiment] if isinstance(experiment, str) else list(experiment)
        stmt = stmt.where(e.c.name.in_(names))
    condition = parse_filter(filter, dialect)
    if condition is not None:
        stmt = stmt.where(condition)
    if not unexecuted_steps and not (filter and _MENTIONS_STATUS.search(filter)):
        stmt = stmt.where(r.c.status.not_in(UNEXECUTED_STEP_STATUSES))
    if not (all_lifecycles or unexecuted_steps) and not (filter and _MENTIONS_LIFECYCLE.search(filter)):
        stmt = only_active(stmt)
    order = parse_order_by(order_by, dialect) + [r.c.start_time.desc(), r.c.uuid]
    stmt = stmt.order_by(*order)
    if max_results is not None:
        stmt = stmt.limit(row_count("max_results", max_results))
    if offset:
        stmt = stmt.offset(row_count("offset", offset))
    return stmt


def search_runs(store, experiment=None, filter=None, order_by=None, max_results=DEFAULT_MAX_RESULTS,
                unexecuted_steps: bool = False, all_lifecycles: bool = False):
    if getattr(store, "is_remote", False):  # a tracking server (tracking/remote.py) searches its own store
        return store.search_runs(experiment, filter, order_by, max_results, unexecuted_steps, all_lifecycles)
    import pandas as pd

    fetch_limit = None
    if max_results is not None:
        max_results = row_count("max_results", max_results)
    if max_results is not None and store.engine.dialect.name == "sqlite" and max_results >= SQLITE_FETCH_LIMIT_FROM:
        fetch_limit, max_results = int(max_results), None
    stmt = select_runs(store, experiment, filter, order_by, max_results, unexecuted_steps=unexecuted_steps,
                       all_lifecycles=all_lifecycles).add_columns(s.runs.c.summary)
    width = len(ATTRIBUTE_COLUMNS)
    with _collector_paused():
        with store.engine.connect() as conn:
            rows = raw_rows(conn, stmt, fetch_limit)
        df = pd.DataFrame.from_records([row[:width] for row in rows], columns=ATTRIBUTE_COLUMNS)
        for col in ("start_time", "end_time"):
            df[col] = pd.to_datetime(df[col], unit="ms", utc=True)
        blocks = [df]
        runs = summaries.decode([row[width] for row in rows])
        for kind in ("params", "metrics", "tags"):
            values = summaries.columns_of(runs, kind)
            if values:
                blocks.append(_block(kind, values))
        return pd.concat(blocks, axis=1) if len(blocks) > 1 else df


@contextlib.contextmanager
def _collector_paused():
    """Fetching and decoding 10k runs makes tens of thousands of tuples, dicts and lists in a
    burst, which sets off full cyclic-GC passes over the whole heap (measured: 20-200 ms per
    search here); none of these objects can form a cycle, so collecting during it is wasted."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _block(kind: str, values: dict[str, list]):
    """Metrics as float64 (NaN where missing); params and tags as Python strings (None where missing)."""
    import numpy as np
    import pandas as pd

    names = [f"{kind}.{key}" for key in values]
    if kind == "metrics":
        return pd.DataFrame({n: np.array(v, dtype=float) for n, v in zip(names, values.values())})
    return pd.DataFrame(dict(zip(names, values.values())), dtype=object)


def rows_per_binding(conn, stmt, bindings: list[dict]) -> list[list[tuple]]:
    """``stmt`` compiled once and run with each dict of bind values on one DBAPI cursor: the rows
    of each run, as plain tuples. For hundreds of small indexed reads (a metric of each of 100
    runs), where compiling per read or one read of every run's rows (whose run column then has to
    be made into an object per row) would cost more than the reads."""
    compiled = stmt.compile(dialect=conn.dialect)
    sql = str(compiled)
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        out = []
        for values in bindings:
            params = compiled.construct_params(values)
            if compiled.positional:
                params = tuple(params[name] for name in compiled.positiontup)
            cursor.execute(sql, params)
            out.append(cursor.fetchall())
        return out
    finally:
        cursor.close()


def raw_rows(conn, stmt, limit: int | None = None) -> list[tuple]:
    """Rows as plain tuples straight from the DBAPI cursor: no Row objects for 100k+ values.
    ``limit``: fetch at most that many."""
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.params
    if compiled.positional:
        params = tuple(params[name] for name in compiled.positiontup)
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        if conn.dialect.name == "postgresql":
            # JIT-compiling a filter's subplans cost 5-8 s for 500 comparisons (the plan: 0.1 s),
            # and pays off only for scans of millions of rows, which a search of runs never is.
            cursor.execute("SET LOCAL jit = off")
        cursor.execute(str(compiled), params)
        return cursor.fetchall() if limit is None else cursor.fetchmany(limit)
    finally:
        cursor.close()
