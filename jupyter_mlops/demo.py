"""The demo's registry half: approve the sweep's best model, export it, alias it ``production``.

``jupyter mlops demo`` runs the demo pipeline and then this, so one command shows the whole
path from notebook to a verified, loadable model package. Re-running it reuses the version
already exported from the same run instead of minting a new one.
"""
from __future__ import annotations

import json

from sqlalchemy import select

from .pipeline import results
from .registry import approval, package, versions
from .tracking import schema as s
from .tracking.store import open_store

MODEL_NAME = "cancer-clf"


def register_best(store=None) -> dict:
    store = store or open_store()
    run_id = results.model_run(store, results.latest_pipeline_run(store, "demo"))
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
            "digest": result.digest, "metrics": json.dumps(record["metrics"], sort_keys=True),
            "onnx": record.get("tags", {}).get("mlops.onnx", "not recorded")}
