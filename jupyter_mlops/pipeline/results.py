"""Reading a finished pipeline run back: its steps, their outputs, and the run that holds its model.

A CACHED step's results live on the run it reused (``mlops.cached_from``); everything here
follows that link, so callers see the same answer whether a step ran or was cached.
"""
from __future__ import annotations

import json

from sqlalchemy import select

from ..exceptions import InvalidInputError, MlopsError
from ..tracking import schema as s
from ..tracking.model_runs import model_run_of, step_results


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


def model_run(store, pipeline_run_id: str) -> str:
    """The run whose model the pipeline produced: the sweep's best point, else the one step that logged a model."""
    try:
        return model_run_of(store, pipeline_run_id)[0]
    except InvalidInputError as exc:
        raise MlopsError(str(exc)) from None


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
