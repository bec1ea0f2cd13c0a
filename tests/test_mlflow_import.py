"""``jupyter mlops import mlflow``: from stores made here by the real mlflow package (SQLite with its model
registry, and a ./mlruns file store). Runs keep their ids, params, tags, full metric histories and
artifacts (by sha256); a skops model version becomes a verified package that predicts as the original;
a pickle one is listed until --unsafe-pickle; aliases follow; importing twice imports nothing new."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sqlalchemy import func, select

import jupyter_mlops as mlops
from jupyter_mlops.registry.audit import audit_log
from jupyter_mlops.registry.versions import get_version
from jupyter_mlops.tracking import schema as s
from jupyter_mlops.tracking.store import open_store

from .conftest import PYTHON, python_env

MAKE_STORE = Path(__file__).parent / "helpers" / "make_mlflow_store.py"


def make_store(uri: str, folder: Path, *args: str) -> dict:
    """MLflow's store at ``uri``, made in ``folder``: MLflow puts artifacts in ./mlruns of its cwd."""
    # MLflow 3 makes a file store (./mlruns) only when told to; reading one to import it is allowed.
    done = subprocess.run([sys.executable, str(MAKE_STORE), uri, *args], env=python_env(MLFLOW_ALLOW_FILE_STORE="true"),
                          cwd=folder, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def mlflow_sqlite(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    return uri, make_store(uri, folder)


def import_mlflow(project, *args):
    done = subprocess.run([PYTHON, "-m", "jupyter_mlops.cli", "import", "mlflow", *args], cwd=project,
                          env=python_env(), capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def counts(store) -> dict:
    with store.engine.connect() as conn:
        return {table.name: conn.execute(select(func.count()).select_from(table)).scalar()
                for table in (s.runs, s.params, s.tags, s.metrics, s.artifacts, s.model_versions, s.model_aliases,
                              s.approvals, s.audit_log)}


def test_import_from_an_mlflow_sqlite_store_with_its_registry(project, mlflow_sqlite):
    from mlflow.tracking import MlflowClient

    uri, made = mlflow_sqlite
    ids = made["ids"]
    first = import_mlflow(project, "--from", uri, "--experiment", "churn")
    assert "3 run(s) imported (0 already here)" in first and "packaged churn/1 <- MLflow churn/1" in first
    assert "not packaged churn/2: its model is a cloudpickle file" in first and "--unsafe-pickle" in first
    assert "alias churn@champion -> 1" in first

    store = open_store()
    client = MlflowClient(tracking_uri=uri)
    for name in ("baseline", "child", "pickled"):
        theirs, ours = client.get_run(ids[name]), mlops.get_run(ids[name])
        assert ours.experiment == "churn" and ours.name == name and ours.status == "FINISHED"
        assert ours.params == theirs.data.params and ours.start_time == theirs.info.start_time
        assert ours.user == theirs.info.user_id and ours.tags["mlflow.runName"] == name
        for key in theirs.data.metrics:
            history = [(m.step, m.value, m.timestamp) for m in client.get_metric_history(ids[name], key)]
            assert store.metric_history(ids[name], key) == sorted(history)
    with pytest.raises(LookupError):
        mlops.get_run(ids["elsewhere"])  # another experiment: not asked for
    assert mlops.get_run(ids["child"]).parent_uuid == ids["baseline"]
    baseline = mlops.get_run(ids["baseline"])
    assert len(store.metric_history(ids["baseline"], "loss")) == 50
    files = {a["path"]: a["sha256"] for a in baseline.artifacts}
    assert files["docs/notes.txt"] == hashlib.sha256(b"baseline notes\n").hexdigest()
    assert files["data.csv"] == hashlib.sha256(b"a,b\n1,2\n").hexdigest()

    model = mlops.load_model("churn@champion")
    X, _ = load_iris(return_X_y=True, as_frame=True)
    assert np.allclose(model.predict_proba(X.head(5)), made["predictions"])
    assert mlops.verify("churn/1").ok
    signature = get_version("churn/1")["signature"]  # MLflow's input signature came along
    assert [c["name"] for c in signature["inputs"]] == list(X.columns)
    assert {c["dtype"] for c in signature["inputs"]} == {"float64"}
    approvals = [e for e in audit_log(ids["baseline"]) if e["action"] == "approve"]
    assert len(approvals) == 1 and "imported from MLflow: churn version 1" in approvals[0]["details"]["reason"]

    before = counts(store)
    again = import_mlflow(project, "--from", uri, "--experiment", "churn")
    assert "nothing new to import" in again and "0 run(s) imported (3 already here)" in again
    assert counts(store) == before

    pickled = import_mlflow(project, "--from", uri, "--experiment", "churn", "--unsafe-pickle")
    assert "packaged churn/2 <- MLflow churn/2" in pickled and "alias churn@challenger -> 2" in pickled
    assert mlops.load_model("churn@challenger").predict(X.head(3)).shape == (3,)
    before = counts(store)
    assert "nothing new to import" in import_mlflow(project, "--from", uri, "--unsafe-pickle", "--experiment", "churn")
    assert counts(store) == before


def test_import_from_a_file_store_and_every_experiment(project, tmp_path):
    made = make_store((tmp_path / "mlruns").as_uri(), tmp_path, "--runs-only")
    out = import_mlflow(project, "--from", str(tmp_path / "mlruns"))
    assert "3 run(s) imported" in out
    assert {"churn", "other"} <= set(mlops.list_experiments()["name"])
    assert mlops.get_run(made["ids"]["elsewhere"]).params == {"x": "1"}
    missing = subprocess.run([PYTHON, "-m", "jupyter_mlops.cli", "import", "mlflow", "--from", str(tmp_path / "nope")],
                             cwd=project, env=python_env(), capture_output=True, text=True, timeout=300, check=False)
    assert missing.returncode == 2 and "no such folder" in missing.stderr and "Traceback" not in missing.stderr
    unknown = subprocess.run([PYTHON, "-m", "jupyter_mlops.cli", "import", "mlflow", "--from", str(tmp_path / "mlruns"),
                              "--experiment", "nope"], cwd=project, env=python_env(), capture_output=True, text=True,
                             timeout=300, check=False)
    assert unknown.returncode == 2 and "no experiment 'nope'" in unknown.stderr and "churn" in unknown.stderr
