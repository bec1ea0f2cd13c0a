"""Metrics of many runs for the charts (the Experiment view's panel, the Run and Compare views):
each series cut down server-side to the points a chart can show, min and max per bucket so spikes
survive (``sampling``).

A charts panel of 100 runs x 5 metrics x 1,000 steps reads 500k points per refresh, so the reads
are shaped for speed: one request for every metric of the panel (one selection of the runs), one
small indexed read per run and metric through a statement compiled once, numpy over all runs
of a metric from there on, and the drawn points kept for the next request (``series_cache``).
"""
from __future__ import annotations

from itertools import chain

import numpy as np
from sqlalchemy import bindparam, func, select

from ..exceptions import InvalidInputError
from ..tracking import schema as s
from ..tracking.search import ATTRIBUTE_COLUMNS, raw_rows, rows_per_binding
from .list_argument import ListArgument
from .queries import DEFAULT_MAX_POINTS
from .sampling import kept_of_series
from .series_cache import SeriesCache
from .table import ordered_runs

MAX_SERIES_RUNS = 200
MAX_SERIES_KEYS = 100
KEYS = ListArgument("keys", "metric keys", '["loss", "auc"]', most=MAX_SERIES_KEYS, least=1)
CACHE = SeriesCache()

_m = s.metrics
# A run's points of a metric, ordered by step, then as logged (the index's order: no sort); the
# digest and the id together select the run, so a digest collision changes nothing.
_POINTS = (select(_m.c.step, _m.c.value, _m.c.timestamp)
           .where(_m.c.run_key == bindparam("run_key"), _m.c.run_uuid == bindparam("run_uuid"),
                  _m.c.key == bindparam("key"))
           .order_by(_m.c.step, _m.c.id))
# What changes whenever a point is added, from the index alone (by digest only: a collision makes
# the stamp cover two runs, and it still changes when either does).
_STAMP = select(func.count(), func.max(_m.c.id)).where(_m.c.run_key == bindparam("run_key"),
                                                       _m.c.key == bindparam("key"))


def parse_run_ids(raw: str | None) -> list[str] | None:
    """``a,b,c`` from a query argument (None when absent)."""
    if raw is None or raw.strip() == "":
        return None
    ids = [part.strip() for part in raw.split(",") if part.strip()]
    if len(ids) > MAX_SERIES_RUNS:
        raise InvalidInputError(f"run_ids names {len(ids)} runs; at most {MAX_SERIES_RUNS} are drawn at once")
    return ids


def check_keys(keys) -> list[str]:
    """The metric keys of a request, each once, in their order."""
    return list(dict.fromkeys(KEYS.check(keys)))


def series(store, keys: list[str], run_ids: list[str] | None = None, experiment=None, filter=None, sort=None,
           descending=True, limit: int = 100, max_points: int = DEFAULT_MAX_POINTS) -> dict:
    """Metrics ``keys`` of several runs, each series cut down to ``max_points``: the runs named in
    ``run_ids``, else the first ``limit`` runs of the table's filter and order. ``{"series": [{"key",
    "runs": [{"run_id", "name", "total", "downsampled", "points": [[step, value, timestamp]]}]}]}``,
    a run without the metric with no points; NaN and infinities as null."""
    keys = check_keys(keys)
    if not 1 <= limit <= MAX_SERIES_RUNS:
        raise InvalidInputError(f"limit must be between 1 and {MAX_SERIES_RUNS}, got {limit}")
    if max_points < 2:
        raise InvalidInputError(f"max_points must be at least 2, got {max_points}")
    heads = _runs_charted(store, run_ids, experiment, filter, sort, descending, limit)
    out = []
    with store.engine.connect() as conn:
        for key in keys:
            drawn = _drawn_series(conn, store.uri, heads, key, max_points)
            out.append({"key": key, "runs": [{"run_id": uuid, "name": name, **_as_reply(total, points)}
                                             for (uuid, name), (total, points) in zip(heads, drawn)]})
    return {"series": out}


def _drawn_series(conn, uri: str, heads, key: str, max_points: int) -> list[tuple[int, np.ndarray]]:
    """``(total, drawn points)`` of metric ``key`` of each run: from the cache where the run's
    points are as they were, else read and sampled. The stamps are read before the points, so a
    point logged in between makes the next request read again, never hides."""
    if not heads:
        return []
    stamps = [tuple(rows[0]) for rows in rows_per_binding(
        conn, _STAMP, [{"run_key": s.run_key(uuid), "key": key} for uuid, _ in heads])]
    entries = [(uri, uuid, key, max_points) for uuid, _ in heads]
    drawn = [CACHE.get(entry, stamp) for entry, stamp in zip(entries, stamps)]
    todo = [i for i, found in enumerate(drawn) if found is None]
    if todo:
        reads = rows_per_binding(conn, _POINTS, [{"run_key": s.run_key(heads[i][0]), "run_uuid": heads[i][0],
                                                  "key": key} for i in todo])
        for i, found in zip(todo, sample_series(reads, max_points)):
            drawn[i] = found
            CACHE.put(entries[i], stamps[i], *found)
    return drawn


def _runs_charted(store, run_ids, experiment, filter, sort, descending, limit) -> list[tuple[str, str | None]]:
    """``(id, name)`` of the runs named, in their order, else of the table's first ``limit``."""
    if run_ids is not None:
        uuids = [store.resolve_run_id(run_id) for run_id in run_ids]
        r = s.runs
        with store.engine.connect() as conn:
            names = dict(conn.execute(select(r.c.uuid, r.c.name).where(r.c.uuid.in_(uuids))).all())
        return [(u, names.get(u)) for u in dict.fromkeys(uuids)]
    stmt = ordered_runs(store, experiment, filter, sort, descending, limit=limit)
    with store.engine.connect() as conn:
        return [(row[0], row[ATTRIBUTE_COLUMNS.index("name")]) for row in raw_rows(conn, stmt)]


def sample_series(reads: list[list[tuple]], max_points: int) -> list[tuple[int, np.ndarray]]:
    """Each series' ``(step, value, timestamp)`` rows cut down to ``max_points``: ``(rows read,
    (kept, 3) float array)``. Steps and timestamps pass through float64, exact below 2**53."""
    lengths = np.array([len(rows) for rows in reads], dtype=np.int64)
    table = _as_table(reads, int(lengths.sum()))
    kept = kept_of_series(table[:, 1], lengths, max_points)
    # Where each series' kept points start and end in ``kept``.
    bounds = np.searchsorted(kept, np.concatenate(([0], np.cumsum(lengths)))).tolist()
    chosen = table[kept]
    # Copies, so that a cached series holds its own points and not every series read with it.
    return [(n, chosen[a:b].copy()) for n, a, b in zip(lengths.tolist(), bounds[:-1], bounds[1:])]


def _as_reply(total: int, points: np.ndarray) -> dict:
    values = points[:, 1]
    finite = np.isfinite(values)
    # JSON has no NaN or infinity: null
    shown = values.tolist() if finite.all() else [v if ok else None for v, ok in zip(values.tolist(), finite.tolist())]
    return {"total": total, "downsampled": len(points) < total,
            "points": list(zip(points[:, 0].astype(np.int64).tolist(), shown, points[:, 2].astype(np.int64).tolist()))}


def _as_table(reads: list[list[tuple]], count: int) -> np.ndarray:
    """The rows of every series as one ``(count, 3)`` float array. ``np.fromiter`` over the flat
    values is twice as fast as ``np.array`` over the tuples but takes no None: a series holding a
    NULL (SQLite's NaN) goes the slower way, where None becomes NaN."""
    flat = chain.from_iterable(chain.from_iterable(reads))
    try:
        return np.fromiter(flat, dtype=float, count=3 * count).reshape(count, 3)
    except TypeError:
        return np.array(list(chain.from_iterable(reads)), dtype=float).reshape(count, 3)
