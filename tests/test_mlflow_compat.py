"""The real ``mlflow`` client against ``jupyter mlops server``: an ordinary MLflow script runs unchanged,
reads back what MLflow's own server reads back, and its run is one of ours (search_runs, filters,
metric history, artifacts by sha256, the authenticated user). MLflow's error codes and statuses."""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

import jupyter_mlops as mlops
from jupyter_mlops.registry.audit import audit_log

from .helpers.net import ServerProcess
from .helpers.tracking_server import TrackingServer, server_env

SCRIPT = Path(__file__).parent / "helpers" / "mlflow_script.py"


@pytest.fixture
def server(project, tmp_path):
    with TrackingServer(str(project / ".mlops" / "mlops.db"), tmp_path / "server.log") as srv:
        yield srv


def run_script(url: str, token: str | None, experiment: str, cwd: Path) -> dict:
    env = server_env(MLFLOW_TRACKING_URI=url)
    if token:
        env["MLFLOW_TRACKING_TOKEN"] = token
    done = subprocess.run([sys.executable, str(SCRIPT), experiment], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def comparable(result: dict) -> dict:
    return {k: v for k, v in result.items() if k not in ("run_id", "search_ids")}


def test_an_mlflow_script_runs_unchanged_and_its_run_is_one_of_ours(server, project, tmp_path):
    ours = run_script(server.url, server.tokens["eve"], "mlflow-script", tmp_path)
    run_id = ours["run_id"]
    assert ours["search_ids"] == [run_id]
    assert ours["history"] == [[0, 1.0], [1, 0.5], [2, 1 / 3], [3, 0.25], [4, 0.2]]
    assert ours["async_steps"] == list(range(300))
    assert ours["params"] == {"alpha": "0.5", "layers": "3", "optimizer": "adam"}
    assert ours["metrics"] == {"acc": 0.75, "async_loss": 149.5, "f1": 0.5, "loss": 0.2}
    assert ours["status"] == "FINISHED" and ours["run_name"] == "from-mlflow"
    assert ours["downloaded"] == "accuracy went up\n" and ours["listed"] == ["report.txt", "reports"]
    assert not re.search(r"\] 5\d\d ", server.read_log())  # nothing was retried past a server error
    metrics = requests.get(f"{server.url}/metrics", headers=server.headers("vic"), timeout=30).text
    assert 'mlops_server_metric_points_total{api="mlflow"} 307.0' in metrics  # 5 + 300 + 2 points

    # The same script against MLflow's own server reads back the same things.
    mlflow_db = tmp_path / "mlflow.db"
    with ServerProcess([sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{mlflow_db}",
                        "--artifacts-destination", str(tmp_path / "mlartifacts"), "--host", "127.0.0.1",
                        "--port", "{port}", "--workers", "1"], "/health", tmp_path / "mlflow.log",
                       env=server_env()) as mlflow_server:
        theirs = run_script(mlflow_server.url, None, "mlflow-script", tmp_path)
    assert comparable(ours) == comparable(theirs)

    # ...and the run is one of ours: search_runs and its filter language, history, artifacts, the user.
    found = mlops.search_runs(experiment="mlflow-script", filter="params.optimizer = 'adam' and metrics.acc > 0.5")
    assert list(found["run_id"]) == [run_id]
    row = found.iloc[0]
    assert row["name"] == "from-mlflow" and row["status"] == "FINISHED" and row["user"] == "eve"
    assert row["params.alpha"] == "0.5" and row["metrics.loss"] == 0.2 and row["tags.team"] == "search"
    assert len(mlops.get_metric_history(run_id, "async_loss")) == 300
    record = mlops.get_run(run_id)
    digest = hashlib.sha256(b"accuracy went up\n").hexdigest()
    assert {a["path"]: a["sha256"] for a in record.artifacts} == {"report.txt": digest, "reports/report.txt": digest}
    assert record.tags["mlflow.runName"] == "from-mlflow" and record.source_path.endswith("mlflow_script.py")


@pytest.fixture
def client(server, monkeypatch):
    """MLflow's own client in this process, logging as the editor."""
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", server.tokens["eve"])
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    return MlflowClient(tracking_uri=server.url)


def test_mlflow_error_codes_and_statuses(server, client):
    from mlflow.exceptions import MlflowException, RestException

    with pytest.raises(RestException) as missing:
        client.get_run("0" * 32)
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST" and missing.value.get_http_status_code() == 404
    with pytest.raises(RestException) as no_experiment:
        client.get_experiment("424242")
    assert no_experiment.value.error_code == "RESOURCE_DOES_NOT_EXIST"

    experiment = client.create_experiment("errors")
    with pytest.raises(RestException) as twice:
        client.create_experiment("errors")
    assert twice.value.error_code == "RESOURCE_ALREADY_EXISTS"
    run = client.create_run(experiment)
    client.log_param(run.info.run_id, "alpha", "1")
    client.log_param(run.info.run_id, "alpha", "1")  # the same value again is fine, as in MLflow
    with pytest.raises(MlflowException) as changed:  # the client wraps this one in advice of its own
        client.log_param(run.info.run_id, "alpha", "2")
    assert changed.value.error_code == "INVALID_PARAMETER_VALUE" and changed.value.get_http_status_code() == 400
    assert "Changing param values is not allowed" in changed.value.message
    with pytest.raises(RestException) as bad_filter:
        client.search_runs([experiment], filter_string="metrics.auc >>> 1")
    assert bad_filter.value.error_code == "INVALID_PARAMETER_VALUE" and "position" in bad_filter.value.message

    url = f"{server.url}/api/2.0/mlflow/runs/log-metric"
    point = {"run_id": run.info.run_id, "key": "loss", "value": 1.0, "timestamp": 1, "step": 0}
    for body, needle in (({**point, "value": "high"}, "must be a number"), ({**point, "step": 1.5}, "integer"),
                         ({**point, "key": ""}, "metric name"), ({**point, "run_id": "x" * 32}, "not found")):
        answer = requests.post(url, json=body, headers=server.headers("eve"), timeout=30)
        assert answer.status_code in (400, 404) and needle in answer.json()["message"], body
        assert answer.json()["error_code"] in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST")
    viewer = requests.post(url, json=point, headers=server.headers("vic"), timeout=30)
    assert viewer.status_code == 403 and viewer.json()["error_code"] == "PERMISSION_DENIED"
    anonymous = requests.post(url, json=point, timeout=30)
    assert anonymous.status_code == 401 and anonymous.json()["error_code"] == "UNAUTHENTICATED"
    registry = requests.post(f"{server.url}/api/2.0/mlflow/registered-models/create", json={"name": "m"},
                             headers=server.headers("eve"), timeout=30)
    assert registry.status_code == 404 and registry.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    many = {"run_id": run.info.run_id, "metrics": [{**point, "step": i} for i in range(1001)]}
    too_many = requests.post(f"{server.url}/api/2.0/mlflow/runs/log-batch", json=many, headers=server.headers("eve"),
                             timeout=30)
    assert too_many.status_code == 400 and "at most 1000 metrics" in too_many.json()["message"]


def test_artifact_proxy_refuses_paths_outside_a_run(server, client, tmp_path):
    run = client.create_run(client.create_experiment("artifacts"))
    base = f"{server.url}/api/2.0/mlflow-artifacts/artifacts"
    for path in (f"1/{run.info.run_id}/artifacts/../../x", f"1/{run.info.run_id}/artifacts//x", "1/notarun/artifacts/x",
                 f"1/{run.info.run_id}/elsewhere/x"):
        answer = requests.put(f"{base}/{path}", data=b"data", headers=server.headers("eve"), timeout=30)
        assert answer.status_code == 400 and answer.json()["error_code"] == "INVALID_PARAMETER_VALUE", path
    unknown = requests.put(f"{base}/1/{'0' * 32}/artifacts/x.txt", data=b"data", headers=server.headers("eve"), timeout=30)
    assert unknown.status_code == 404
    viewer = requests.put(f"{base}/1/{run.info.run_id}/artifacts/x.txt", data=b"data", headers=server.headers("vic"),
                          timeout=30)
    assert viewer.status_code == 403
    assert mlops.get_run(run.info.run_id).artifacts == []
    assert not list((Path(server.store).parent / "artifacts" / ".uploads").glob("*"))  # nothing left behind


def test_deleting_and_restoring_a_run_through_mlflow(server, client):
    from mlflow.entities import ViewType
    from mlflow.exceptions import MlflowException

    experiment = client.create_experiment("lifecycle")
    kept, dropped = client.create_run(experiment), client.create_run(experiment)
    client.delete_run(dropped.info.run_id)
    assert client.get_run(dropped.info.run_id).info.lifecycle_stage == "deleted"
    assert [r.info.run_id for r in client.search_runs([experiment])] == [kept.info.run_id]
    deleted = client.search_runs([experiment], run_view_type=ViewType.DELETED_ONLY)
    assert [r.info.run_id for r in deleted] == [dropped.info.run_id]
    assert len(client.search_runs([experiment], run_view_type=ViewType.ALL)) == 2
    assert list(mlops.search_runs(experiment="lifecycle")["run_id"]) == [kept.info.run_id]
    with pytest.raises(MlflowException, match="must be in the 'active' state"):
        client.log_metric(dropped.info.run_id, "loss", 1.0)
    client.restore_run(dropped.info.run_id)
    client.log_metric(dropped.info.run_id, "loss", 1.0)
    assert client.get_run(dropped.info.run_id).info.lifecycle_stage == "active"
    assert [(e["action"], e["actor"]) for e in audit_log(dropped.info.run_id)] == [("restore", "eve"), ("delete", "eve")]
