"""Reading a finished pipeline run back: its steps, their outputs, and the run that holds its model.

A CACHED step's results live on the run it reused (``mlops.cached_from``); everything here
follows that link, so callers see the same answer whether a step ran or was cached.
"""
from __future__ import annotations

import json

from sqlalchemy import select

from ..exceptions import MlopsError
from ..tracking import models as logged
from ..tracking import schema as s


def latest_pipeline_run(store, experiment: str) -> str:
    r, t, e = s.runs, s.tags, s.experiments
    with store.engine.connect() as conn:
        found = conn.execute(
            select(r.c.uuid).join(e, e.c.id == r.c.experiment_id).join(t, t.c.run_uuid == r.c.uuid)
            .where(e.c.name == experiment, t.c.key == "mlops.kind", t.c.value == "pipeline")
            .order_by(r.c.start_time.desc()).limit(1)).scalar()
    if found is None:
        raise MlopsError(f"no pipeline run in experiment {experiment!r}; run the pipeline first")
    return found


def step_results(store, pipeline_run_id: str) -> dict[str, str]:
    """``{node name: run id holding its results}`` for the pipeline run's steps that succeeded."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(s.runs.c.uuid, s.runs.c.name, s.runs.c.status)
                            .where(s.runs.c.parent_uuid == pipeline_run_id)
                            .order_by(s.runs.c.start_time)).all()
    results = {}
    for run_id, name, status in rows:
        if status in ("FINISHED", "CACHED"):
            results[name] = store.tags_of(run_id).get("mlops.cached_from", run_id)
    return results


def model_run(store, pipeline_run_id: str) -> str:
    """The run whose model the pipeline produced: the sweep's best point, else the one step that logged a model."""
    results = step_results(store, pipeline_run_id)
    with_model = []
    for run_id in results.values():
        if store.tags_of(run_id).get("best") == "true":
            return run_id
        if any(a["path"] == logged.MODEL_ARTIFACT for a in store.get_run(run_id).artifacts):
            with_model.append(run_id)
    if len(with_model) == 1:
        return with_model[0]
    raise MlopsError(f"pipeline run {pipeline_run_id}: {len(with_model)} steps logged a model and none is tagged "
                     "best; cannot tell which one is the pipeline's model")


def step_output(store, pipeline_run_id: str, reference: str) -> str:
    """The path of output ``step.name`` (e.g. ``prepare.test``) as the pipeline run recorded it."""
    step, _, name = reference.partition(".")
    results = step_results(store, pipeline_run_id)
    if step not in results:
        raise MlopsError(f"pipeline run {pipeline_run_id} has no successful step {step!r} (steps: {', '.join(results)})")
    outputs = json.loads(store.tags_of(results[step]).get("mlops.outputs", "{}"))
    if name not in outputs:
        raise MlopsError(f"step {step!r} has no output {name!r} (outputs: {', '.join(outputs) or 'none'})")
    return outputs[name]["path"]
