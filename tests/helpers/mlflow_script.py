"""An ordinary MLflow tracking script: it knows nothing of jupyter_mlops (MLFLOW_TRACKING_URI and
MLFLOW_TRACKING_TOKEN point it at a server). Prints what it read back as one JSON line."""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

mlflow.set_experiment(sys.argv[1] if len(sys.argv) > 1 else "mlflow-script")
with tempfile.TemporaryDirectory() as folder:
    report = Path(folder) / "report.txt"
    report.write_text("accuracy went up\n")
    with mlflow.start_run(run_name="from-mlflow") as run:
        mlflow.log_param("alpha", 0.5)
        mlflow.log_params({"layers": 3, "optimizer": "adam"})
        mlflow.set_tag("team", "search")
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        for step in range(300):
            mlflow.log_metric("async_loss", step * 0.5, step=step, synchronous=False)
        mlflow.log_metrics({"acc": 0.75, "f1": 0.5}, step=7)
        mlflow.log_artifact(str(report))
        mlflow.log_artifact(str(report), artifact_path="reports")
        run_id = run.info.run_id
    mlflow.flush_async_logging()

client = MlflowClient()
history = client.get_metric_history(run_id, "loss")
async_history = client.get_metric_history(run_id, "async_loss")
runs = mlflow.search_runs(filter_string="params.optimizer = 'adam' and metrics.acc > 0.5")
fetched = client.get_run(run_id)
with tempfile.TemporaryDirectory() as folder:
    downloaded = Path(client.download_artifacts(run_id, "report.txt", folder)).read_text()
listed = sorted(f.path for f in client.list_artifacts(run_id))
print(json.dumps({
    "run_id": run_id,
    "history": [[m.step, m.value] for m in history],
    "async_steps": sorted(m.step for m in async_history),
    "search_ids": list(runs["run_id"]),
    "search_columns": sorted(c for c in runs.columns if c.startswith(("params.", "metrics.", "tags.team"))),
    "params": fetched.data.params,
    "metrics": fetched.data.metrics,
    "status": fetched.info.status,
    "run_name": fetched.info.run_name,
    "downloaded": downloaded,
    "listed": listed,
}))
