"""Issue 8, acceptance 3: the demo pipeline on a 2-worker Dask LocalCluster, PostgreSQL and S3."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import skops.io as sio

import jupyter_mlops as mlops
from jupyter_mlops.demo import register_best
from jupyter_mlops.pipeline.runner import PipelineRunner
from jupyter_mlops.pipeline.spec import load_spec
from jupyter_mlops.tracking.store import open_store

from .conftest import ROOT


def test_demo_on_dask_postgresql_and_s3_equals_local(project, postgres, s3_server, monkeypatch):
    monkeypatch.setenv("MLOPS_TRACKING_URI", postgres.new_database())
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MLOPS_ARTIFACT_URI", s3_server.new_bucket())
    shutil.copytree(ROOT / "notebooks", project / "notebooks", ignore=shutil.ignore_patterns("build"))
    spec = project / "notebooks" / "pipeline.yaml"

    on_dask = PipelineRunner(load_spec(spec), jobs=2, executor="dask").run()
    assert on_dask.ok, on_dask.failures()
    store = open_store()
    assert store.engine.dialect.name == "postgresql" and store.artifacts.uri.startswith("s3://")
    assert mlops.get_run(on_dask.run_id).tags["mlops.executor"] == "dask"
    best = register_best()  # approve, export to S3, alias production, verify
    assert best["package"].startswith("s3://")

    # The same pipeline, forced, on the local executor: every step's metrics are equal.
    local = PipelineRunner(load_spec(spec), jobs=2, force=True).run()
    assert local.ok, local.failures()
    for name, state in on_dask.states.items():
        assert store.get_run(state.run_id).metrics == store.get_run(local.states[name].run_id).metrics, name

    production = mlops.load_model("cancer-clf@production")
    test = pd.read_csv(project / "notebooks" / "build" / "data" / "test.csv")
    X = test.drop(columns="target")
    own = json.loads(mlops.get_run(best["run_id"]).tags["mlops.outputs"])["model"]["path"]  # the notebook's file
    in_notebook = sio.load(own, trusted=sio.get_untrusted_types(file=own))
    assert np.array_equal(production.predict(X), in_notebook.predict(X))
    assert production.path.startswith("s3://") and mlops.verify("cancer-clf@production").ok
