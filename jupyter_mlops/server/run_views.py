"""What the Run and Compare views read beyond ``queries.run_detail``: the run's overview
(error and traceback, environment, pipeline, model versions made from it, note) and its
metrics summarised (latest, min, max, points). The charts' series are ``chart_series``.
"""
from __future__ import annotations

from sqlalchemy import func, select

from ..tracking import schema as s
from . import queries
from .jsonable import json_safe
from .table import INTERNAL_TAG_PREFIX

# The run's Markdown note, edited in the Run view (notes.py). Not ``mlops.note``: the pipeline
# runner writes that on step runs for its own remarks (why a step was cached or skipped).
NOTE_TAG = "mlops.description"
GIT_DIFF_ARTIFACT = "git/diff.patch"  # what tracking/lifecycle.py logs for a dirty working tree


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
