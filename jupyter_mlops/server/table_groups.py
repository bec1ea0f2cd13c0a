"""The Experiment view's run grouping: one row per value of a parameter, each with its run count
and every chosen metric's mean ± standard deviation over the group's runs.

``GET table/groups?experiment=&filter=&by=params.C&columns=["metrics.auc"]``

The aggregates cover every run the filter keeps, not only the page in view: one query reads the
parameter and the latest value of each chosen metric of every kept run, and numpy reduces them
per group. Numbers group by value (``C=8`` and ``C=8.0`` are one group, as the filter language
compares them) and sort as numbers; text values follow in text order; runs without the parameter
are the ``(none)`` group, last. Each group carries the filter clause that selects its runs, so
the view lists them with the table's own endpoint.
"""
from __future__ import annotations

import contextlib
import math
import re
from collections import Counter

import numpy as np
import tornado.web
from sqlalchemy import and_, select

from ..exceptions import InvalidInputError
from ..tracking import schema as s
from ..tracking.search import raw_rows, select_runs
from . import table
from .handlers import MlopsHandler
from .refusals import Refusal

MAX_GROUPS = 10_000
# A key the filter language reads bare (its tokenizer's word); any other is quoted.
_BARE_KEY = re.compile(r"[A-Za-z_][\w\-:/]*")


def parse_by(raw: str | None) -> str:
    """The parameter key of ``by=params.KEY`` (backticks or double quotes as in the filter language)."""
    if not raw:
        raise InvalidInputError("give the parameter to group by as by=params.KEY")
    keyed = table._KEYED.fullmatch(raw.strip())
    if not keyed or keyed["kind"] != "params":
        raise InvalidInputError(f"runs group by a parameter: by must be params.KEY, got {raw[:80]!r}")
    return _key(keyed)


def parse_metric_columns(raw: str | None) -> list[str]:
    """The metric keys of ``columns=["metrics.auc", ...]`` (a JSON list; none: no aggregates)."""
    columns = table.parse_columns(raw, [])
    keys = []
    for column in columns:
        keyed = table._KEYED.fullmatch(column)
        if not keyed or keyed["kind"] != "metrics":
            raise InvalidInputError(f"columns: only metrics.KEY columns are aggregated, got {column[:80]!r}")
        keys.append(_key(keyed))
    return list(dict.fromkeys(keys))


def _key(keyed: re.Match) -> str:
    return next(keyed[g] for g in ("tick", "quote", "bare") if keyed[g] is not None)


def filter_key(kind: str, key: str) -> str:
    """``kind.key`` as the filter language reads it back (quoted when it is not one word)."""
    if _BARE_KEY.fullmatch(key):
        return f"{kind}.{key}"
    if "`" not in key:
        return f"{kind}.`{key}`"
    return f'{kind}."{key.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'


def filter_string(value: str) -> str:
    """A string literal of the filter language: backslashes escaped, single quotes doubled."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _group_key(text: str | None) -> tuple:
    """``(0, number)``, ``(1, text)`` or ``(2,)``: a group's identity and its place in the order."""
    if text is None:
        return (2,)
    if table._is_number(text):
        number = float(text)
        if math.isfinite(number):  # "1e400" compares as text, not as infinity
            return (0, number)
    return (1, text)


def run_groups(store, by: str, metrics: list[str], experiment=None, filter=None) -> dict:
    """The runs ``filter`` keeps, grouped by parameter ``by``, with each of ``metrics`` reduced
    to count, mean and sample standard deviation (n - 1, as pandas; null for one run) of the
    runs' latest finite values."""
    r, p, lm = s.runs, s.params, s.latest_metrics
    kept = select_runs(store, experiment, filter).order_by(None).with_only_columns(r.c.uuid.label("run_id")).subquery()
    joined = kept.outerjoin(p, and_(p.c.run_uuid == kept.c.run_id, p.c.key == by))
    columns = [kept.c.run_id, p.c.value]
    if metrics:
        joined = joined.outerjoin(lm, and_(lm.c.run_uuid == kept.c.run_id, lm.c.key.in_(metrics)))
        columns += [lm.c.key, lm.c.value]
    with store.engine.connect() as conn:
        rows = raw_rows(conn, select(*columns).select_from(joined))

    texts = dict(row[:2] for row in rows)  # each kept run's value of the parameter (None: it has none)
    members: dict[tuple, Counter] = {}
    for text, runs in Counter(texts.values()).items():
        members.setdefault(_group_key(text), Counter())[text] = runs
    order = sorted(members)
    truncated = len(order) > MAX_GROUPS
    order = order[:MAX_GROUPS]
    index = {key: i for i, key in enumerate(order)}
    group_of = {text: index.get(key, -1) for key, texts_of in members.items() for text in texts_of}  # -1: past MAX_GROUPS
    counts, means, stds = _reduce(rows, group_of, metrics, len(order))
    groups = []
    for i, key in enumerate(order):
        runs = members[key]
        # The text most runs logged ("8" over " 8 " or "8.0" when as many logged each).
        value = None if key[0] == 2 else min(runs, key=lambda t: (-runs[t], t != t.strip(), len(t), t))
        groups.append({
            "value": value,
            "kind": ("number", "text", "none")[key[0]],
            "count": sum(runs.values()),
            "filter": _clause(by, key),
            "metrics": {f"metrics.{m}": {"count": int(counts[i, j]), "mean": _finite(means[i, j]),
                                          "std": _finite(stds[i, j])} for j, m in enumerate(metrics)},
        })
    return {"by": f"params.{by}", "total": len(texts), "groups": groups, "truncated": truncated}


def _reduce(rows: list[tuple], group_of: dict, metrics: list[str], n: int):
    """Per group and metric (arrays of n x len(metrics)): how many runs logged a finite value,
    their mean and their sample standard deviation (two passes, numerically sound)."""
    shape = (n, len(metrics))
    if not metrics or not rows:
        return np.zeros(shape, dtype=np.int64), np.full(shape, np.nan), np.full(shape, np.nan)
    _, texts, keys, values = zip(*rows)
    column = {m: j for j, m in enumerate(metrics)}
    groups = np.fromiter((group_of[t] for t in texts), dtype=np.int64, count=len(rows))
    which = np.fromiter((column.get(k, -1) for k in keys), dtype=np.int64, count=len(rows))
    values = np.array(values, dtype=np.float64)  # a run without the metric: None, read as NaN
    keep = (groups >= 0) & (which >= 0) & np.isfinite(values)
    cells, values = groups[keep] * len(metrics) + which[keep], values[keep]
    size = n * len(metrics)
    counts = np.bincount(cells, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        means = np.bincount(cells, weights=values, minlength=size) / counts
        squares = np.bincount(cells, weights=(values - means[cells]) ** 2, minlength=size)
        stds = np.sqrt(squares / (counts - 1))
    stds[counts < 2] = np.nan
    return counts.reshape(shape), means.reshape(shape), stds.reshape(shape)


def _finite(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _clause(by: str, key: tuple) -> str:
    """The filter clause that keeps the runs of the group ``key`` (ANDed to the table's filter)."""
    column = filter_key("params", by)
    if key[0] == 0:
        return f"{column} = {key[1]!r}"
    if key[0] == 1:
        return f"{column} = {filter_string(key[1])}"
    return f"{column} IS NULL"


@contextlib.contextmanager
def _field(name: str):
    """A mistake in query argument ``name`` as a 400 that names it (``"field"`` in the JSON too)."""
    try:
        yield
    except InvalidInputError as exc:
        raise Refusal(400, str(exc) if str(exc).startswith(name) else f"{name}: {exc}", field=name) from exc


class GroupsHandler(MlopsHandler):
    """The filtered runs grouped by a parameter, with the chosen metrics' mean ± std per group."""

    @tornado.web.authenticated
    async def get(self):
        with _field("by"):
            by = parse_by(self.get_argument("by", None))
        with _field("columns"):
            metrics = parse_metric_columns(self.get_argument("columns", None))
        query = self.table_query()
        with _field("filter"):
            groups = await self.call(run_groups, self.store, by, metrics, query["experiment"], query["filter"])
        self.reply(groups)


def routes() -> list[tuple[str, type]]:
    return [(r"table/groups", GroupsHandler)]
