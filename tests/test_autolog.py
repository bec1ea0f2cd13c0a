"""``mlops.autolog()``: one run per outermost scikit-learn ``fit``, with params, scores and a skops model."""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import skops.io as sio
from joblib import parallel_config
from sklearn.cluster import Birch
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

import jupyter_mlops as mlops
from jupyter_mlops.tracking import artifacts, autolog, lifecycle
from jupyter_mlops.tracking.run import Run
from jupyter_mlops.tracking.store import open_store

ORIGINAL_LOGREG_FIT = LogisticRegression.fit


@pytest.fixture
def autologged(project, backend):
    mlops.autolog()
    yield project
    mlops.autolog(disable=True)


def only_run():
    runs = mlops.search_runs()
    assert len(runs) == 1, runs
    return mlops.get_run(runs["run_id"].iloc[0])


def model_bytes(record) -> bytes:
    (entry,) = [a for a in record.artifacts if a["path"] == "model/model.skops"]
    return artifacts.read_bytes(open_store().artifact_root, entry["sha256"])


def test_fit_without_a_run_records_one_finished_run_with_a_loadable_model(autologged):
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(C=0.5, max_iter=500)

    assert model.fit(X, y) is model

    record = only_run()
    assert record.status == "FINISHED"
    assert record.name == "LogisticRegression"
    assert record.params["C"] == "0.5"
    assert record.params["max_iter"] == "500"
    assert record.tags["estimator_class"] == "sklearn.linear_model._logistic.LogisticRegression"
    assert record.metrics["training_accuracy"] > 0.9
    for key in ("training_score", "training_f1", "training_precision", "training_recall", "training_roc_auc"):
        assert 0.9 < record.metrics[key] <= 1.0, key
    trusted = json.loads(record.tags["mlops.model_untrusted_types"])
    loaded = sio.loads(model_bytes(record), trusted=trusted)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert mlops.active_run() is None


def test_pipeline_in_an_active_run_records_once_and_leaves_the_run_open(autologged):
    X, y = load_breast_cancer(return_X_y=True)
    pipe = Pipeline([("scale", StandardScaler()), ("forest", RandomForestClassifier(n_estimators=10, random_state=0))])
    with mlops.start_run("mine") as run:
        pipe.fit(X, y)
        assert run.record().status == "RUNNING"
        assert mlops.active_run() is run

    record = only_run()
    assert record.id == run.id and record.status == "FINISHED"
    assert record.tags["estimator_class"] == "sklearn.pipeline.Pipeline"
    assert json.loads(record.params["steps"]) == [["scale", "StandardScaler"], ["forest", "RandomForestClassifier"]]
    assert "n_estimators" not in record.params  # the forest's own fit was not recorded
    assert record.metrics["training_roc_auc"] > 0.9
    assert len(mlops.get_metric_history(run.id, "training_accuracy")) == 1
    model_files = sorted(a["path"] for a in record.artifacts if a["path"].startswith("model/"))
    assert model_files == ["model/input_example.json", "model/model.skops", "model/reference_profile.json",
                           "model/signature.json"]  # the profile: what monitoring compares against


def test_grid_search_records_one_run_with_the_best_params(autologged):
    X, y = load_iris(return_X_y=True)
    search = GridSearchCV(LogisticRegression(max_iter=500), {"C": [0.01, 1.0]}, cv=3)
    search.fit(X, y)

    record = only_run()
    assert record.name == "GridSearchCV"
    assert record.params["estimator"] == "LogisticRegression"
    assert record.params["best_C"] == str(search.best_params_["C"])
    assert record.metrics["best_cv_score"] == pytest.approx(search.best_score_)
    assert record.metrics["training_accuracy"] > 0.9


def test_regressor_records_regression_scores(autologged):
    X, y = load_diabetes(return_X_y=True)
    model = Ridge(alpha=0.1).fit(X, y)

    metrics = only_run().metrics
    predicted = model.predict(X)
    assert metrics["training_r2"] == pytest.approx(metrics["training_score"]) and metrics["training_r2"] > 0.4
    assert metrics["training_mse"] == pytest.approx(np.mean((predicted - y) ** 2))
    assert metrics["training_rmse"] == pytest.approx(np.sqrt(metrics["training_mse"]))
    assert metrics["training_mae"] == pytest.approx(np.mean(np.abs(predicted - y)))
    assert "training_accuracy" not in metrics


def test_failing_fit_raises_the_original_error_and_marks_the_run_failed(autologged):
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        LogisticRegression().fit(X, y[:-1])

    record = only_run()
    assert record.status == "FAILED"
    assert record.params["C"] == "1.0"
    assert record.tags["mlops.error"].startswith("ValueError")
    assert mlops.active_run() is None


def test_a_failing_fit_inside_an_active_run_leaves_that_run_open(autologged):
    X, y = load_iris(return_X_y=True)
    with mlops.start_run("mine") as run:
        with pytest.raises(ValueError):
            LogisticRegression().fit(X, y[:-1])
        assert mlops.active_run() is run and run.record().status == "RUNNING"
    assert only_run().status == "FINISHED"


def test_fits_in_joblib_worker_threads_are_not_recorded_separately(autologged):
    X, y = load_iris(return_X_y=True)
    with parallel_config(backend="threading", n_jobs=4):
        GridSearchCV(LogisticRegression(max_iter=500), {"C": [0.1, 1.0, 10.0]}, cv=3).fit(X, y)

    record = only_run()
    assert record.name == "GridSearchCV" and record.status == "FINISHED"
    assert "C" not in record.params  # no clone wrote its own params into the search's run


def test_logging_failures_never_break_the_fit(autologged, monkeypatch, caplog):
    X, y = load_iris(return_X_y=True)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Run, "log_metrics", broken)
    with caplog.at_level(logging.WARNING, logger="jupyter_mlops"):
        model = LogisticRegression(max_iter=500)
        assert model.fit(X, y) is model
    record = only_run()
    assert record.status == "FINISHED" and record.metrics == {}
    assert any(a["path"] == "model/model.skops" for a in record.artifacts)  # later steps still ran
    assert "log_metrics failed: disk full" in caplog.text

    monkeypatch.setattr(lifecycle, "start_run", broken)
    with caplog.at_level(logging.WARNING, logger="jupyter_mlops"):
        assert model.fit(X, y) is model
    assert len(mlops.search_runs()) == 1
    assert "not recording LogisticRegression.fit: disk full" in caplog.text


def test_a_model_skops_cannot_store_is_tagged_and_the_fit_still_succeeds(autologged, caplog):
    X, _ = load_iris(return_X_y=True)
    model = Birch(n_clusters=3)  # skops: "Objects of type Birch are not supported yet"
    with caplog.at_level(logging.WARNING, logger="jupyter_mlops"):
        assert model.fit(X) is model

    record = only_run()
    assert record.status == "FINISHED" and record.params["n_clusters"] == "3"
    assert "skops cannot store Birch" in record.tags["mlops.model_error"]
    assert "mlops.model_untrusted_types" not in record.tags
    assert not [a for a in record.artifacts if a["path"].startswith("model/")]
    assert "skops cannot store Birch" in caplog.text


def test_a_model_with_a_lambda_is_not_stored_since_it_could_not_be_loaded(autologged):
    X, y = load_iris(return_X_y=True)
    pipe = Pipeline([("double", FunctionTransformer(lambda a: a * 2)), ("clf", LogisticRegression(max_iter=500))])
    assert pipe.fit(X, y) is pipe

    record = only_run()
    assert "<lambda>" in record.tags["mlops.model_error"]
    assert not [a for a in record.artifacts if a["path"].startswith("model/")]
    assert record.metrics["training_accuracy"] > 0.9


def test_enable_is_idempotent_and_disable_restores_the_original_fit(project):
    mlops.autolog()
    wrapped = LogisticRegression.fit
    mlops.autolog()
    assert LogisticRegression.fit is wrapped and wrapped.__wrapped__ is ORIGINAL_LOGREG_FIT
    assert GridSearchCV.fit is not ORIGINAL_LOGREG_FIT and hasattr(GridSearchCV.fit, "__wrapped__")

    mlops.autolog(disable=True)
    assert LogisticRegression.fit is ORIGINAL_LOGREG_FIT
    assert not autolog._patched
    LogisticRegression(max_iter=500).fit(*load_iris(return_X_y=True))
    assert len(mlops.search_runs()) == 0


def test_an_autologged_model_can_be_exported_and_monitored(autologged, monkeypatch):
    """The fit data's profile (a sample of it) goes with the model, so its package can be monitored."""
    monkeypatch.setenv("MLOPS_AUTOLOG_PROFILE_ROWS", "300")
    data = load_breast_cancer(as_frame=True)
    RandomForestClassifier(n_estimators=10, random_state=0).fit(data.data, data.target)
    record = only_run()
    assert [d["name"] for d in record.datasets] == ["training_data"]
    assert record.datasets[0]["rows"] == 300  # the sample, not the 569 rows of the fit
    mlops.autolog(disable=True)
    mlops.approve(record.id, by="ana", reason="autologged")
    version = mlops.export(record.id, name="auto-clf")
    from pathlib import Path

    from jupyter_mlops.registry.package import load_model

    package = Path(load_model(version["ref"]).path)
    lineage = json.loads((package / "lineage.json").read_text())
    assert [d["name"] for d in lineage["datasets"]] == ["training_data"]
    profile = json.loads((package / "reference_profile.json").read_text())
    assert profile["target"] == "target" and "mean radius" in profile["columns"]
    result = mlops.monitor(version["ref"], current=data.frame.drop(columns=["target"]).head(200), record=False)
    assert result.ok and result.dataset_drift is not None
