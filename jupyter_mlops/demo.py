"""The demo's registry half: approve the sweep's best model, export it, alias it ``production``.

``jupyter mlops demo`` runs the demo pipeline and then this, so one command shows the whole
path from notebook to a verified, loadable model package. Re-running it reuses the version
already exported from the same run instead of minting a new one.
"""
from __future__ import annotations

import json

from sqlalchemy import select

from .exceptions import MlopsError
from .registry import approval, package, versions
from .tracking import schema as s
from .tracking.store import open_store

MODEL_NAME = "cancer-clf"


def best_run_of_latest_pipeline(store, experiment: str = "demo") -> str:
    """The run holding the sweep's best model in the newest pipeline run of ``experiment``."""
    r, t, e = s.runs, s.tags, s.experiments
    with store.engine.connect() as conn:
        pipeline = conn.execute(
            select(r.c.uuid).join(e, e.c.id == r.c.experiment_id).join(t, t.c.run_uuid == r.c.uuid)
            .where(e.c.name == experiment, t.c.key == "mlops.kind", t.c.value == "pipeline")
            .order_by(r.c.start_time.desc()).limit(1)).scalar()
        if pipeline is None:
            raise MlopsError(f"no pipeline run in experiment {experiment!r}; run the demo pipeline first")
        steps = conn.execute(select(r.c.uuid).where(r.c.parent_uuid == pipeline)).scalars().all()
    for step in steps:
        tags = store.tags_of(step)
        result = tags.get("mlops.cached_from", step)
        if store.tags_of(result).get("best") == "true":
            return result
    raise MlopsError(f"pipeline run {pipeline} has no sweep point tagged best")


def register_best(store=None) -> dict:
    store = store or open_store()
    run_id = best_run_of_latest_pipeline(store)
    approval.approve(run_id, by="demo", reason="best cv_auc of the demo sweep")
    with store.engine.connect() as conn:
        existing = conn.execute(select(s.model_versions.c.version).where(
            s.model_versions.c.name == MODEL_NAME, s.model_versions.c.run_uuid == run_id)
            .order_by(s.model_versions.c.version.desc())).scalar()
    record = versions.get_version(f"{MODEL_NAME}/{existing}", store=store) if existing else \
        package.export(run_id, MODEL_NAME, by="demo", store=store)
    versions.set_alias(MODEL_NAME, record["version"], "production", by="demo", store=store)
    result = package.verify(f"{MODEL_NAME}@production", store=store)
    result.raise_for_problems()
    return {"run_id": run_id, "ref": record["ref"], "package": record["package_uri"],
            "digest": result.digest, "metrics": json.dumps(record["metrics"], sort_keys=True)}
