"""Which run holds a model: the run itself, or for a pipeline run the step that produced it.

People approve "the pipeline" because that is what they ran; the model is on one of its steps
(a sweep's best point, or the one step that logged a model). Approval and export resolve the
run here, once, and say which run they took, instead of approving a run that cannot be exported.
"""
from __future__ import annotations

from sqlalchemy import select

from ..exceptions import InvalidInputError
from . import schema as s

MODEL_ARTIFACT = "model/model.skops"
PICKLE_ARTIFACT = "model/model.pkl"


def has_model(store, run_id: str) -> bool:
    """Whether ``run_id`` logged a model (skops, or pickle when that was asked for)."""
    with store.engine.connect() as conn:
        found = conn.execute(select(s.artifacts.c.path).where(
            s.artifacts.c.run_uuid == run_id, s.artifacts.c.path.in_((MODEL_ARTIFACT, PICKLE_ARTIFACT))).limit(1))
        return found.first() is not None


def step_results(store, pipeline_run_id: str) -> dict[str, str]:
    """``{node name: run id holding its results}`` for the pipeline run's steps that succeeded;
    a CACHED step's results live on the run it reused (``mlops.cached_from``)."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(s.runs.c.uuid, s.runs.c.name, s.runs.c.status)
                            .where(s.runs.c.parent_uuid == pipeline_run_id)
                            .order_by(s.runs.c.start_time)).all()
    results = {}
    for run_id, name, status in rows:
        if status in ("FINISHED", "CACHED"):
            results[name] = store.tags_of(run_id).get("mlops.cached_from", run_id)
    return results


def model_run_of(store, run_id: str) -> tuple[str, str | None]:
    """The run holding the model for ``run_id``, and a note when it is not ``run_id`` itself.

    A run with a model is itself. A pipeline run resolves to its sweep's ``best`` step, else to
    its single step with a model. Anything else is refused, naming the runs that have one.
    """
    if getattr(store, "is_remote", False):  # a tracking server (tracking/remote.py) answers with this function
        return store.model_run_of(run_id)
    if has_model(store, run_id):
        return run_id, None
    tags = store.tags_of(run_id)
    if tags.get("mlops.kind") == "pipeline":
        results = step_results(store, run_id)
        with_model = {name: rid for name, rid in results.items() if has_model(store, rid)}
        best = [name for name, rid in with_model.items() if store.tags_of(rid).get("best") == "true"]
        chosen = best[0] if best else (next(iter(with_model)) if len(with_model) == 1 else None)
        if chosen is not None:
            why = "its sweep's best point" if best else "its only step with a model"
            return with_model[chosen], (f"pipeline run {run_id[:8]}: taking step {chosen} "
                                        f"(run {with_model[chosen]}), {why}")
        if with_model:
            listed = ", ".join(f"{name} ({rid[:8]})" for name, rid in with_model.items())
            raise InvalidInputError(f"pipeline run {run_id} has {len(with_model)} steps with a model and none is "
                                    f"tagged best; name one of them: {listed}")
        raise InvalidInputError(f"pipeline run {run_id} has no step that logged a model "
                                "(mlops.log_model or mlops.autolog in a step's notebook)")
    siblings = _relatives_with_model(store, run_id)
    hint = f"; runs with a model nearby: {', '.join(siblings)}" if siblings else ""
    raise InvalidInputError(f"run {run_id} logged no model (mlops.log_model or mlops.autolog), so it cannot "
                            f"become a model version{hint}")


def _relatives_with_model(store, run_id: str, limit: int = 5) -> list[str]:
    """Runs with a model under the same parent (or the run's children): what the user likely meant."""
    r, a = s.runs, s.artifacts
    with store.engine.connect() as conn:
        parent = conn.execute(select(r.c.parent_uuid).where(r.c.uuid == run_id)).scalar()
        family = (r.c.parent_uuid == parent) if parent else (r.c.parent_uuid == run_id)
        rows = conn.execute(select(r.c.uuid, r.c.name).join(a, a.c.run_uuid == r.c.uuid)
                            .where(family, a.c.path.in_((MODEL_ARTIFACT, PICKLE_ARTIFACT)))
                            .order_by(r.c.start_time.desc()).limit(limit)).all()
    return [f"{name or '?'} ({uuid[:8]})" for uuid, name in rows]
