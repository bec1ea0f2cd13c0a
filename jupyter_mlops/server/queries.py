"""What the sidebar reads from the store, as JSON-ready dicts.

Plain functions of a :class:`~jupyter_mlops.tracking.store.Store`, blocking and synchronous:
the handlers run them in a thread pool so a slow query never stalls the server's event loop.
The runs list reuses ``search_runs``'s SELECT, filter language and run summaries, with the page
cut in SQL.
"""
from __future__ import annotations

import json

import numpy as np
from sqlalchemy import func, select

from ..exceptions import InvalidInputError
from ..tracking import schema as s
from ..tracking.search import ATTRIBUTE_COLUMNS, raw_rows, select_runs
from .jsonable import json_safe
from .sampling import kept_indices
from .table import INTERNAL_TAG_PREFIX, ordered_runs

MAX_PAGE_SIZE = 500
DEFAULT_MAX_POINTS = 500


def runs_page(store, experiment=None, filter=None, sort=None, descending=True, page=0, page_size=50) -> dict:
    """One page of runs, newest first unless ``sort`` names a column (``metrics.auc``, ``name``,
    ``params.C`` in numeric order, ``duration``...)."""
    page, page_size = int(page), int(page_size)
    if page < 0:
        raise InvalidInputError(f"page must be 0 or more, got {page}")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidInputError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
    # The page's rows carry their summaries (params, metrics, tags). With a filter they carry the
    # number of matches too (a window count: one pass of the filter instead of two); without
    # one, a plain count is cheaper than making the window read every run in order.
    stmt = ordered_runs(store, experiment, filter, sort, descending, limit=page_size, offset=page * page_size)
    stmt = stmt.add_columns(s.runs.c.summary)
    if filter:
        stmt = stmt.add_columns(func.count().over().label("total"))
    width = len(ATTRIBUTE_COLUMNS)
    with store.engine.connect() as conn:
        rows = raw_rows(conn, stmt)
        if filter and rows:
            total = rows[0][-1]
        else:  # no filter, or a page past the end (the window had no row to count on)
            total = conn.execute(select(func.count()).select_from(
                select_runs(store, experiment, filter).order_by(None).subquery())).scalar_one()
    listed, param_keys, metric_keys = [], set(), set()
    for row in rows:
        summary = json.loads(row[width])  # a run no writer has summarised yet reads "{}"
        params = summary.get("params", {})
        metrics = {key: json_safe(value) for key, value in summary.get("metrics", {}).items()}
        tags = {key: value for key, value in summary.get("tags", {}).items()
                if not key.startswith(INTERNAL_TAG_PREFIX)}
        listed.append({**dict(zip(ATTRIBUTE_COLUMNS, row[:width])), "params": params, "metrics": metrics, "tags": tags})
        param_keys.update(params)
        metric_keys.update(metrics)
    return {
        "runs": listed,
        "total": total,
        "page": page,
        "page_size": page_size,
        "param_keys": sorted(param_keys),
        "metric_keys": sorted(metric_keys),
        "any_running": any(r["status"] == "RUNNING" for r in listed),
    }


def run_detail(store, run_id: str) -> dict:
    """Everything about one run, with its lineage: parent, children, datasets, source and git state."""
    record = store.get_run(run_id)
    detail = record.to_dict()
    detail["run_id"] = record.uuid
    detail["metrics"] = {k: json_safe(v) for k, v in record.metrics.items()}
    r = s.runs
    with store.engine.connect() as conn:
        children = conn.execute(
            select(r.c.uuid, r.c.name, r.c.status).where(r.c.parent_uuid == record.uuid).order_by(r.c.start_time)
        ).all()
        parent = None
        if record.parent_uuid:
            row = conn.execute(select(r.c.uuid, r.c.name).where(r.c.uuid == record.parent_uuid)).first()
            parent = {"run_id": row[0], "name": row[1]} if row else None
    detail["lineage"] = {
        "parent": parent,
        "children": [{"run_id": u, "name": n, "status": st} for u, n, st in children],
        "datasets": record.datasets,
        "source": {"path": record.source_path, "sha256": record.source_hash},
        "git": {"commit": record.git_commit, "dirty": record.git_dirty},
        "environment": record.environment_hash,
        "rerun_of": record.tags.get("rerun_of"),
    }
    detail["notebook"] = notebook_artifact(record.artifacts)
    return detail


def notebook_artifact(artifacts: list[dict]) -> str | None:
    """The artifact holding the run's notebook: its snapshot, else the notebook a pipeline step executed."""
    notebooks = [a["path"] for a in artifacts if a["path"].endswith(".ipynb")]
    for prefix in ("notebook/", "executed/"):
        for path in notebooks:
            if path.startswith(prefix):
                return path
    return notebooks[0] if notebooks else None


def metric_series(store, run_id: str, key: str, max_points: int = DEFAULT_MAX_POINTS) -> dict:
    """One metric's history, cut down to at most ``max_points`` points for drawing."""
    max_points = int(max_points)
    if max_points < 2:
        raise InvalidInputError(f"max_points must be at least 2, got {max_points}")
    points = store.metric_history(run_id, key)
    kept = downsample(points, max_points)
    return {
        "run_id": store.resolve_run_id(run_id),
        "key": key,
        "total": len(points),
        "downsampled": len(kept) < len(points),
        "points": [[step, json_safe(value), ts] for step, value, ts in kept],
    }


def downsample(points: list[tuple], max_points: int) -> list[tuple]:
    """At most ``max_points`` of ``(step, value, timestamp)`` points (see :func:`kept_indices`)."""
    if len(points) <= max_points:
        return list(points)
    values = np.array([p[1] for p in points], dtype=float)
    return [points[i] for i in kept_indices(values, max_points).tolist()]


def pipelines(store, limit: int = 20) -> list[dict]:
    """Recent pipeline runs (runs tagged ``mlops.kind=pipeline``), each with its steps and DAG."""
    limit = int(limit)
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInputError(f"limit must be between 1 and {MAX_PAGE_SIZE}, got {limit}")
    stmt = select_runs(store, filter="tags.`mlops.kind` = 'pipeline'", max_results=limit)
    with store.engine.connect() as conn:
        heads = [dict(zip(ATTRIBUTE_COLUMNS, row)) for row in raw_rows(conn, stmt)]
    ids = [h["run_id"] for h in heads]
    steps = _steps_of(store, ids)
    tags = _tags_of(store, ids, ("mlops.dag", "mlops.executor"))
    for head in heads:
        head["dag"] = json.loads(tags.get(head["run_id"], {}).get("mlops.dag", "{}"))
        head["steps"] = steps.get(head["run_id"], [])
        head["spec"] = head.pop("source")
    return heads


def pipeline_detail(store, run_id: str) -> dict:
    """One pipeline run with its steps; a failed step also carries its failing cell's source."""
    record = store.get_run(run_id)
    if record.tags.get("mlops.kind") != "pipeline":
        raise InvalidInputError(f"run {record.uuid} is not a pipeline run (it has no tag mlops.kind=pipeline)")
    steps = _steps_of(store, [record.uuid]).get(record.uuid, [])
    for step in steps:
        if step["status"] == "FAILED" and step["failed_cell"] is not None and step["notebook"]:
            step["failed_cell_source"] = _cell_source(store, step["run_id"], step["notebook"], step["failed_cell"])
    return {
        "run_id": record.uuid, "name": record.name, "status": record.status, "experiment": record.experiment,
        "start_time": record.start_time, "end_time": record.end_time, "spec": record.source_path,
        "dag": json.loads(record.tags.get("mlops.dag", "{}")), "params": record.params, "steps": steps,
    }


def _steps_of(store, pipeline_ids: list[str]) -> dict[str, list[dict]]:
    """The step runs of each pipeline, in start order, with the runner's tags read into fields.
    A retried step has one run per attempt: the last attempt is the step's outcome."""
    if not pipeline_ids:
        return {}
    r, a = s.runs, s.artifacts
    with store.engine.connect() as conn:
        rows = raw_rows(conn, select_runs(store, filter=None, unexecuted_steps=True).where(r.c.parent_uuid.in_(pipeline_ids))
                        .order_by(None).order_by(r.c.start_time, r.c.uuid))
        step_ids = [row[0] for row in rows]
        notebooks = dict(raw_rows(conn, select(a.c.run_uuid, a.c.path).where(
            a.c.run_uuid.in_(step_ids), a.c.path.like("executed/%")))) if step_ids else {}
    tags = _tags_of(store, step_ids, ("mlops.step", "mlops.upstream", "mlops.error", "mlops.failed_cell",
                                      "mlops.traceback", "mlops.note", "mlops.attempt", "mlops.sweep_point",
                                      "mlops.cached_from", "best"))
    by_pipeline: dict[str, dict[str, dict]] = {}
    for row in rows:
        run = dict(zip(ATTRIBUTE_COLUMNS, row))
        t = tags.get(run["run_id"], {})
        cell = t.get("mlops.failed_cell")
        step = {
            "node": run["name"], "step": t.get("mlops.step", run["name"]), "run_id": run["run_id"],
            "status": run["status"], "start_time": run["start_time"], "end_time": run["end_time"],
            "upstream": json.loads(t.get("mlops.upstream", "[]")), "attempt": int(t.get("mlops.attempt", "1")),
            "error": t.get("mlops.error"), "failed_cell": int(cell) if cell is not None else None,
            "traceback": t.get("mlops.traceback"), "note": t.get("mlops.note"),
            "sweep_point": json.loads(t["mlops.sweep_point"]) if "mlops.sweep_point" in t else None,
            "cached_from": t.get("mlops.cached_from"), "best": t.get("best") == "true",
            "notebook": notebooks.get(run["run_id"]), "notebook_run_id": run["run_id"],
        }
        by_pipeline.setdefault(run["parent_id"], {})[step["node"]] = step  # later attempts replace earlier
    return {pid: list(nodes.values()) for pid, nodes in by_pipeline.items()}


def _tags_of(store, run_ids: list[str], keys: tuple[str, ...]) -> dict[str, dict[str, str]]:
    if not run_ids:
        return {}
    t = s.tags
    out: dict[str, dict[str, str]] = {}
    with store.engine.connect() as conn:
        for run_id, key, value in raw_rows(conn, select(t.c.run_uuid, t.c.key, t.c.value).where(
                t.c.run_uuid.in_(run_ids), t.c.key.in_(keys))):
            out.setdefault(run_id, {})[key] = value
    return out


def _cell_source(store, run_id: str, artifact_path: str, cell_number: int) -> str | None:
    """The source of the step notebook's cell ``cell_number`` (1-based, counted without papermill's own cells)."""
    from .artifact_files import read_artifact_json

    try:
        nb = read_artifact_json(store, run_id, artifact_path)
    except (LookupError, ValueError, OSError):
        return None
    own = [c for c in nb.get("cells", [])
           if not {"injected-parameters", "papermill-error-cell-tag"} & set(c.get("metadata", {}).get("tags", []))]
    if 1 <= cell_number <= len(own):
        source = own[cell_number - 1].get("source", "")
        return "".join(source) if isinstance(source, list) else source
    return None
