"""What the Run and Compare views read beyond ``queries.run_detail``: the run's overview
(error and traceback, environment, pipeline, model versions made from it, note) and its
metrics summarised (latest, min, max, points), plus one metric of many runs in one request
for the charts panel.
"""
from __future__ import annotations

from math import isfinite

import numpy as np
from sqlalchemy import func, select

from ..exceptions import InvalidInputError
from ..tracking import schema as s
from ..tracking.search import ATTRIBUTE_COLUMNS, raw_rows
from . import queries
from .jsonable import json_safe
from .queries import DEFAULT_MAX_POINTS, kept_indices
from .table import INTERNAL_TAG_PREFIX, ordered_runs

# The run's Markdown note, edited in the Run view (notes.py). Not ``mlops.note``: the pipeline
# runner writes that on step runs for its own remarks (why a step was cached or skipped).
NOTE_TAG = "mlops.description"
GIT_DIFF_ARTIFACT = "git/diff.patch"  # what tracking/lifecycle.py logs for a dirty working tree
MAX_SERIES_RUNS = 200


def run_overview(store, run_id: str) -> dict:
    """``run_detail`` plus what the Run view's overview shows."""
    detail = queries.run_detail(store, run_id)
    tags = detail["tags"]
    uuid = detail["run_id"]
    detail["user_tags"] = {k: v for k, v in tags.items() if not k.startswith(INTERNAL_TAG_PREFIX)}
    detail["note"] = tags.get(NOTE_TAG, "")
    detail["error"] = tags.get("mlops.error")
    detail["traceback"] = tags.get("mlops.traceback")
    cell = tags.get("mlops.failed_cell")
    detail["failed_cell"] = int(cell) if cell is not None and cell.lstrip("-").isdigit() else None
    detail["git_diff"] = GIT_DIFF_ARTIFACT if any(a["path"] == GIT_DIFF_ARTIFACT for a in detail["artifacts"]) else None
    env_hash = detail["lineage"].get("environment")
    env = store.environment(env_hash) if env_hash else None
    detail["environment"] = None if env is None else {
        "hash": env["hash"], "python_version": env["python_version"], "platform": env["platform"],
        "packages": env["packages"]}
    detail["metric_summary"] = metric_summaries(store, uuid)
    detail["pipeline"] = _pipeline_of(store, detail)
    detail["model_versions"] = _versions_from(store, uuid)
    return json_safe(detail)


def metric_summaries(store, uuid: str) -> dict[str, dict]:
    """Per metric key: latest value and step, lowest, highest, and how many points were logged."""
    m, lm = s.metrics, s.latest_metrics
    with store.engine.connect() as conn:
        spans = conn.execute(
            select(m.c.key, func.min(m.c.value), func.max(m.c.value), func.count(), func.min(m.c.step), func.max(m.c.step))
            .where(m.c.run_key == s.run_key(uuid), m.c.run_uuid == uuid)
            .group_by(m.c.key)
        ).all()
        latest = {k: (v, st) for k, v, st in conn.execute(
            select(lm.c.key, lm.c.value, lm.c.step).where(lm.c.run_uuid == uuid))}
    out = {}
    for key, low, high, count, first, last in spans:
        value, step = latest.get(key, (None, last))
        out[key] = {"latest": value, "step": step, "min": low, "max": high, "points": count,
                    "first_step": first, "last_step": last}
    return out


def _pipeline_of(store, detail: dict) -> dict | None:
    """The pipeline run this run is a step of (its parent, tagged ``mlops.kind=pipeline``), or
    the run itself when it is a pipeline."""
    if detail["tags"].get("mlops.kind") == "pipeline":
        return {"run_id": detail["run_id"], "name": detail["name"], "step": None}
    parent = detail["lineage"]["parent"]
    if parent is None:
        return None
    kind = store.tags_of(parent["run_id"]).get("mlops.kind")
    if kind != "pipeline":
        return None
    return {"run_id": parent["run_id"], "name": parent["name"], "step": detail["tags"].get("mlops.step", detail["name"])}


def _versions_from(store, uuid: str) -> list[dict]:
    mv = s.model_versions
    with store.engine.connect() as conn:
        rows = conn.execute(select(mv.c.name, mv.c.version).where(mv.c.run_uuid == uuid)
                            .order_by(mv.c.name, mv.c.version)).all()
    return [{"name": name, "version": version} for name, version in rows]


def parse_run_ids(raw: str | None) -> list[str] | None:
    """``a,b,c`` from a query argument (None when absent)."""
    if raw is None or raw.strip() == "":
        return None
    ids = [part.strip() for part in raw.split(",") if part.strip()]
    if len(ids) > MAX_SERIES_RUNS:
        raise InvalidInputError(f"run_ids names {len(ids)} runs; at most {MAX_SERIES_RUNS} are drawn at once")
    return ids


def series(store, key: str, run_ids: list[str] | None = None, experiment=None, filter=None, sort=None,
           descending=True, limit: int = 100, max_points: int = DEFAULT_MAX_POINTS) -> dict:
    """Metric ``key`` of several runs, each cut down to ``max_points`` (min/max per bucket):
    the runs named in ``run_ids``, else the first ``limit`` runs of the table's filter and order.
    One query for all runs' points."""
    if not 1 <= limit <= MAX_SERIES_RUNS:
        raise InvalidInputError(f"limit must be between 1 and {MAX_SERIES_RUNS}, got {limit}")
    if max_points < 2:
        raise InvalidInputError(f"max_points must be at least 2, got {max_points}")
    r = s.runs
    if run_ids is not None:
        uuids = [store.resolve_run_id(run_id) for run_id in run_ids]
        with store.engine.connect() as conn:
            names = dict(conn.execute(select(r.c.uuid, r.c.name).where(r.c.uuid.in_(uuids))).all())
        heads = [(u, names.get(u)) for u in dict.fromkeys(uuids)]
    else:
        stmt = ordered_runs(store, experiment, filter, sort, descending, limit=limit)
        with store.engine.connect() as conn:
            heads = [(row[0], row[ATTRIBUTE_COLUMNS.index("name")]) for row in raw_rows(conn, stmt)]
    m = s.metrics
    digests = {s.run_key(u): u for u, _ in heads}
    rows: list[tuple] = []
    if heads:
        # The integer digest comes back instead of the 32-character id (no string made per row);
        # the WHERE still matches both, so a digest collision changes nothing.
        stmt = (select(m.c.run_key, m.c.step, m.c.value, m.c.timestamp)
                .where(m.c.run_key.in_(list(digests)), m.c.run_uuid.in_(list(digests.values())), m.c.key == key)
                .order_by(m.c.run_key, m.c.step, m.c.timestamp))
        with store.engine.connect() as conn:
            rows = raw_rows(conn, stmt)
    # Columns, NULL (SQLite's NaN) as NaN, and where each run's rows start and end.
    run_keys, steps, values, stamps = zip(*rows) if rows else ((), (), (), ())
    values = np.array(values, dtype=float)
    run_keys = np.array(run_keys, dtype=np.int64)
    starts = np.flatnonzero(np.diff(run_keys)) + 1
    bounds = {digests[int(run_keys[a])]: (int(a), int(b))
              for a, b in zip(np.concatenate(([0], starts)), np.concatenate((starts, [len(run_keys)])))
              if a < b}
    runs = []
    for uuid, name in heads:
        first, end = bounds.get(uuid, (0, 0))
        kept = (kept_indices(values[first:end], max_points) + first).tolist()
        runs.append({"run_id": uuid, "name": name, "total": end - first, "downsampled": len(kept) < end - first,
                     # JSON has no NaN or infinity: null (checked per value here, not by walking the reply)
                     "points": [[steps[i], v if isfinite(v) else None, stamps[i]]
                                for i, v in zip(kept, values[kept].tolist())]})
    return {"key": key, "runs": runs}
