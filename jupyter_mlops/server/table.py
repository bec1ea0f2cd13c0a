"""The Experiment view's runs table: its ordering, its columns, its change cursor, its CSV.

The table itself is paged by ``queries.runs_page``; this module holds what the view needs
around it. Ordering a parameter or tag compares numbers as numbers (a run with ``C=12`` sorts
after ``C=8``; text sorts as text after every number), which the filter language's
``order_by`` does not. The change cursor lets an open view poll for "anything new?" with one
small query instead of reloading its rows.
"""
from __future__ import annotations

import csv
import io
import json
import math
import re

from sqlalchemy import Float, case, cast, func, literal, select

from ..exceptions import InvalidInputError
from ..tracking import schema as s
from ..tracking.filters import parse_order_by
from ..tracking.search import ATTRIBUTE_COLUMNS, raw_rows, select_runs
from ..tracking.store import now_ms
from .list_argument import ListArgument

# ``params.C``, ``tags.`odd key``` (backticks or double quotes, as in the filter language).
_KEYED = re.compile(r"(?P<kind>params|tags|metrics)\.(?:`(?P<tick>[^`]*)`|\"(?P<quote>[^\"]*)\"|(?P<bare>.+))", re.DOTALL)
# Tags the runner and the tracker write for themselves: long (DAGs, tracebacks) and not for the table.
INTERNAL_TAG_PREFIX = "mlops."
# Columns the view computes rather than reads: how long a run took (RUNNING: until now).
DURATION = "duration"
MAX_EXPORT_ROWS = 100_000
MAX_VALUE_ROWS = 20_000
MAX_COLUMNS = 200
COLUMNS = ListArgument("columns", "column names", '["name", "params.C"]', most=MAX_COLUMNS)
# SQLite's REAL literal pattern, shared with the filter language's numeric comparison.
_NUMBER_RE = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"


def sort_terms(store, sort: str | None, descending: bool) -> list:
    """ORDER BY terms for the table's ``sort`` key (None: the default newest-first order)."""
    if not sort:
        return []
    direction = (lambda col: col.desc()) if descending else (lambda col: col.asc())
    if sort.strip() == DURATION:
        r = s.runs
        duration = func.coalesce(r.c.end_time, literal(now_ms())) - r.c.start_time
        return [direction(duration).nulls_last()]
    keyed = _KEYED.fullmatch(sort.strip())
    if keyed and keyed["kind"] in ("params", "tags"):
        key = keyed["tick"] if keyed["tick"] is not None else keyed["quote"] if keyed["quote"] is not None else keyed["bare"]
        table = s.params if keyed["kind"] == "params" else s.tags
        value = select(table.c.value).where(table.c.run_uuid == s.runs.c.uuid, table.c.key == key).scalar_subquery()
        number = _as_number(value, store.engine.dialect.name)
        # Numbers first, in numeric order; then text values in text order; missing values last.
        return [direction(number).nulls_last(), direction(value).nulls_last()]
    return parse_order_by([f"{sort} {'DESC' if descending else 'ASC'}"], store.engine.dialect.name)


def _as_number(column, dialect: str):
    """Text as a number, NULL where it is not one (never an error, on either back end)."""
    if dialect == "postgresql":
        return case((column.regexp_match(_NUMBER_RE), cast(column, Float)), else_=None)
    return func.mlops_number(column)  # registered on every SQLite connection by the store


def ordered_runs(store, experiment=None, filter=None, sort=None, descending=True, limit=None, offset=0):
    """``select_runs`` in the table's order (numeric parameters sorted as numbers)."""
    stmt = select_runs(store, experiment, filter, max_results=limit, offset=offset)
    terms = sort_terms(store, sort, descending)
    if terms:
        r = s.runs
        stmt = stmt.order_by(None).order_by(*terms, r.c.start_time.desc(), r.c.uuid)
    return stmt


def column_keys(store, experiment: str | None = None) -> dict:
    """Every param, metric and tag key any run of ``experiment`` (or of the store) has:
    the column chooser offers these, not only the keys of the rows on screen."""
    r, e = s.runs, s.experiments
    out = {}
    with store.engine.connect() as conn:
        for kind, table in (("params", s.params), ("metrics", s.latest_metrics), ("tags", s.tags)):
            stmt = select(table.c.key).distinct()
            if experiment is not None:
                stmt = stmt.join(r, r.c.uuid == table.c.run_uuid).join(e, e.c.id == r.c.experiment_id).where(
                    e.c.name == experiment)
            keys = sorted(conn.execute(stmt).scalars())
            out[kind] = [k for k in keys if not (kind == "tags" and k.startswith(INTERNAL_TAG_PREFIX))]
    return out


def change_cursor(store) -> str:
    """A short string that changes whenever a run starts, ends, beats, logs a metric point, gains
    a param or tag, or anything audited happens (a note, a tag set on many runs, an archive or
    delete, an approval, an alias). Views poll it at their refresh interval and reload only what
    they show when it moves. Each part is an aggregate the database answers from an index or a
    table count, a few milliseconds over 10k runs."""
    r, lm = s.runs, s.latest_metrics
    with store.engine.connect() as conn:
        runs = conn.execute(select(func.count(), func.max(r.c.start_time), func.max(r.c.end_time),
                                   func.max(r.c.heartbeat))).one()
        metric = conn.execute(select(func.max(lm.c.timestamp), func.count())).one()
        params = conn.execute(select(func.count()).select_from(s.params)).scalar_one()
        tags = conn.execute(select(func.count()).select_from(s.tags)).scalar_one()
        audited = conn.execute(select(func.max(s.audit_log.c.id))).scalar_one()
    return "-".join(str(x or 0) for x in (*runs, *metric, params, tags, audited))


def parse_columns(raw: str | None, default: list[str]) -> list[str]:
    """A JSON list of column names (``name``, ``status``, ``params.C``...) from a query argument."""
    if raw is None or raw == "":
        return default
    columns = COLUMNS.parse(raw)
    for column in columns:
        _column_getter(column)  # refuses an unknown one before any row is read
    return columns


_ATTRIBUTE_NAMES = {*ATTRIBUTE_COLUMNS, DURATION, "id"}


def _column_getter(column: str):
    """A function of ``(attributes dict, summary dict)`` giving the column's value."""
    keyed = _KEYED.fullmatch(column)
    if keyed:
        kind = keyed["kind"]
        key = keyed["tick"] if keyed["tick"] is not None else keyed["quote"] if keyed["quote"] is not None else keyed["bare"]
        return lambda attrs, summary: summary.get(kind, {}).get(key)
    name = column.removeprefix("attributes.")
    if name not in _ATTRIBUTE_NAMES:
        known = ", ".join(sorted(_ATTRIBUTE_NAMES))
        raise InvalidInputError(f"unknown column {column!r}: give params.KEY, metrics.KEY, tags.KEY or one of {known}")
    if name == DURATION:
        return lambda attrs, summary: _duration(attrs)
    if name == "id":
        return lambda attrs, summary: attrs["run_id"]
    return lambda attrs, summary: attrs[name]


def _finite(value):
    """``value``, or None for a NaN or an infinity (JSON has neither): one check per value,
    cheaper than walking the whole reply (this runs for every run of an experiment)."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _duration(attrs: dict) -> int | None:
    if attrs.get("start_time") is None:
        return None
    end = attrs.get("end_time") or (now_ms() if attrs.get("status") == "RUNNING" else None)
    return None if end is None else end - attrs["start_time"]


def _rows(store, experiment, filter, sort, descending, limit):
    """``(attributes, summary)`` of each matching run in table order, at most ``limit``."""
    stmt = ordered_runs(store, experiment, filter, sort, descending, limit=limit + 1).add_columns(s.runs.c.summary)
    width = len(ATTRIBUTE_COLUMNS)
    with store.engine.connect() as conn:
        rows = raw_rows(conn, stmt)
    return [(dict(zip(ATTRIBUTE_COLUMNS, row[:width])), json.loads(row[width])) for row in rows]


def export_csv(store, columns: list[str], experiment=None, filter=None, sort=None, descending=True) -> str:
    """The filtered table as CSV, one row per run in table order, with the given columns.
    Times are ISO 8601 (UTC), durations seconds, missing values empty."""
    getters = [_column_getter(c) for c in columns]
    rows = _rows(store, experiment, filter, sort, descending, MAX_EXPORT_ROWS)
    if len(rows) > MAX_EXPORT_ROWS:
        raise InvalidInputError(f"the filter matches more than {MAX_EXPORT_ROWS:,} runs; narrow it to export")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for attrs, summary in rows:
        writer.writerow([_csv_value(column, get(attrs, summary)) for column, get in zip(columns, getters)])
    return out.getvalue()


def _csv_value(column: str, value) -> str:
    import datetime as dt

    if value is None:
        return ""
    name = column.removeprefix("attributes.")
    if name in ("start_time", "end_time"):
        return dt.datetime.fromtimestamp(value / 1000, dt.timezone.utc).isoformat(timespec="milliseconds")
    if name == DURATION:
        return f"{value / 1000:.3f}"
    if isinstance(value, float) and math.isnan(value):
        return ""
    text = str(value)
    # A spreadsheet runs a cell starting with = + - @ as a formula: a run name is not one.
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    return re.fullmatch(_NUMBER_RE, text) is not None


def column_values(store, columns: list[str], experiment=None, filter=None, sort=None, descending=True) -> dict:
    """The given columns of every matching run, column by column (for parallel coordinates
    over all filtered runs, not only the page in view)."""
    getters = [_column_getter(c) for c in columns]
    rows = _rows(store, experiment, filter, sort, descending, MAX_VALUE_ROWS)
    truncated = len(rows) > MAX_VALUE_ROWS
    rows = rows[:MAX_VALUE_ROWS]
    return {
        "run_ids": [attrs["run_id"] for attrs, _ in rows],
        "names": [attrs["name"] for attrs, _ in rows],
        "columns": {c: [_finite(get(attrs, summary)) for attrs, summary in rows] for c, get in zip(columns, getters)},
        "truncated": truncated,
    }
