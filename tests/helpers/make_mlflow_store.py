"""Make an MLflow store with the real mlflow package: usage make_mlflow_store.py TRACKING_URI [--runs-only].

Experiment "churn": run "baseline" (params, a 50-step loss history, tags, two artifacts, a scikit-learn
model in MLflow's default skops format registered as churn version 1, alias champion), its nested run
"child", and run "pickled" (the model as cloudpickle, churn version 2, alias challenger). Experiment
"other": one run. Prints the run ids and the baseline model's predictions as one JSON line."""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import mlflow
import mlflow.sklearn
from mlflow.tracking import MlflowClient
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

uri, runs_only = sys.argv[1], "--runs-only" in sys.argv
mlflow.set_tracking_uri(uri)
mlflow.set_registry_uri(uri)
X, y = load_iris(return_X_y=True, as_frame=True)
ids = {}
mlflow.set_experiment("churn")
with tempfile.TemporaryDirectory() as folder:
    (Path(folder) / "notes.txt").write_text("baseline notes\n")
    (Path(folder) / "data.csv").write_text("a,b\n1,2\n")
    with mlflow.start_run(run_name="baseline") as run:
        ids["baseline"] = run.info.run_id
        mlflow.log_params({"C": 1.0, "solver": "lbfgs"})
        mlflow.set_tag("team", "churn")
        for step in range(50):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_artifact(str(Path(folder) / "notes.txt"), artifact_path="docs")
        mlflow.log_artifact(str(Path(folder) / "data.csv"))
        model = LogisticRegression(C=1.0, max_iter=300).fit(X, y)
        mlflow.log_metric("accuracy", model.score(X, y))
        if not runs_only:
            mlflow.sklearn.log_model(model, name="model", registered_model_name="churn", input_example=X.head(3))
        with mlflow.start_run(run_name="child", nested=True) as child:
            ids["child"] = child.info.run_id
            mlflow.log_metric("fold_auc", 0.8)
if not runs_only:
    with mlflow.start_run(run_name="pickled") as run:
        ids["pickled"] = run.info.run_id
        mlflow.log_param("C", 0.1)
        other_model = LogisticRegression(C=0.1, max_iter=300).fit(X, y)
        mlflow.sklearn.log_model(other_model, name="model", registered_model_name="churn",
                                 serialization_format="cloudpickle")
    client = MlflowClient()
    client.set_registered_model_alias("churn", "champion", "1")
    client.set_registered_model_alias("churn", "challenger", "2")
mlflow.set_experiment("other")
with mlflow.start_run(run_name="elsewhere") as run:
    ids["elsewhere"] = run.info.run_id
    mlflow.log_param("x", 1)
print(json.dumps({"ids": ids, "predictions": model.predict_proba(X.head(5)).tolist()}))
