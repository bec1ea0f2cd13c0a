"""What `jupyter mlops serve` prints: an access line per request (unless --quiet) and a line when it stops."""
from __future__ import annotations

import json
from http.client import HTTPConnection

import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

import jupyter_mlops as mlops

from .conftest import PYTHON, python_env
from .helpers.net import ServerProcess
from .helpers.waiting import wait_until


@pytest.fixture
def registered(project):
    data = load_breast_cancer(as_frame=True)
    with mlops.start_run("train") as run:
        mlops.log_model(LogisticRegression(max_iter=5000).fit(data.data, data.target),
                        training_data=data.frame, target="target")
    mlops.approve(run.id, by="ana", reason="ok")
    mlops.export(run.id, name="clf")
    return data.data.head(1).to_dict("records")


def _serve(project, *flags):
    return ServerProcess([PYTHON, "-m", "jupyter_mlops", "serve", "clf/1", "--port", "{port}", *flags], "/readyz",
                         project / f"serve{''.join(flags)}.log", cwd=project, env=python_env()).start()


def _predict(server, rows):
    conn = HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request("POST", "/predict", body=json.dumps({"records": rows}), headers={"Content-Type": "application/json"})
    assert conn.getresponse().status == 200
    conn.close()


def test_serve_logs_each_request_and_says_when_it_stops(project, registered):
    server = _serve(project)
    _predict(server, registered)
    line = wait_until(lambda: next((x for x in server.read_log().splitlines() if "POST /predict" in x), None),
                      "an access log line for the request", details=server.read_log)
    assert "200" in line and "127.0.0.1" in line
    server.stop()
    assert f"stopped serving clf/1 on http://127.0.0.1:{server.port}" in server.read_log()


def test_quiet_serve_prints_no_access_lines(project, registered):
    server = _serve(project, "--quiet")
    _predict(server, registered)
    server.stop()  # the stop line is written after every request was answered
    said = server.read_log()
    assert "stopped serving clf/1" in said and "POST /predict" not in said
