"""``jupyter mlops serve`` against real uvicorn servers on 127.0.0.1, and the two runtimes.

Two servers share one exported forest for the whole module: ONNX runtime (small body limit,
every request logged) and scikit-learn runtime (bearer token).
"""
from __future__ import annotations

import json
import sys
from http.client import HTTPConnection
from pathlib import Path

import fastapi  # noqa: F401 - the servers under test need it (CI installs the serve and onnx extras)
import numpy as np
import onnxruntime  # noqa: F401
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier

import jupyter_mlops as mlops
from jupyter_mlops import config
from jupyter_mlops.exceptions import InvalidInputError
from jupyter_mlops.registry import versions
from jupyter_mlops.tracking import lifecycle, store

from .conftest import PYTHON, python_env
from .helpers.net import ServerProcess
from .helpers.waiting import wait_until

TOKEN = "s3cret-token"
SECRET = "PRIVATE-VALUE-93127"  # must never come back in an error
LIMIT = 512 * 1024


class Server(ServerProcess):
    """``jupyter mlops serve`` on a free port, ready once /readyz answers; the calls the tests make."""

    def __init__(self, folder, uri, runtime, *args):
        super().__init__([PYTHON, "-m", "jupyter_mlops", "--uri", uri, "serve", *args, "--runtime", runtime,
                          "--port", "{port}"], "/readyz", folder / f"server-{runtime}.log", cwd=folder,
                         env=python_env())

    def call(self, method, path, body=None, headers=None, token=None):
        conn = HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if isinstance(body, (dict, list)):
            body, headers["Content-Type"] = json.dumps(body), "application/json"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response.status, data, dict(response.getheaders())

    def predict(self, body, headers=None, token=None, query=""):
        status, data, _ = self.call("POST", "/predict" + query, body, headers, token)
        return status, json.loads(data)

    def metrics(self, token=None) -> dict:
        status, data, headers = self.call("GET", "/metrics", token=token)
        assert status == 200 and headers["content-type"].startswith("text/plain")
        values = {}
        for line in data.decode().splitlines():
            if line and not line.startswith("#"):
                key, value = line.rsplit(" ", 1)
                values[key] = float(value)
        return values


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serving")
    uri = str(folder / ".mlops" / "mlops.db")
    lifecycle.shutdown()
    store.forget_open_stores()
    config.set_tracking_uri(uri)
    data = load_breast_cancer(as_frame=True)
    X = data.data
    model = RandomForestClassifier(n_estimators=30, random_state=0).fit(X, data.target)
    with mlops.start_run("train") as run:
        mlops.log_model(model, training_data=data.frame, target="target")
    mlops.approve(run.id, by="ana", reason="good")
    mlops.export(run.id, name="cancer")
    mlops.set_alias("cancer", 1, "production")
    config.set_tracking_uri(None)
    lifecycle.shutdown()
    store.forget_open_stores()
    servers = {}
    try:
        servers["onnx"] = Server(folder, uri, "onnx", "cancer@production", "--max-body-bytes", "512KiB",
                                 "--log-predictions", "1").start()
        servers["sklearn"] = Server(folder, uri, "sklearn", "cancer@production", "--token", TOKEN).start()
        yield {"X": X, "model": model, "uri": uri, "folder": folder, **servers}
    finally:
        for server in servers.values():
            server.stop()


def formats(X: pd.DataFrame) -> dict:
    """The same rows in every accepted format (dataframe_split with the columns shuffled)."""
    rows = X.to_dict("records")
    shuffled = list(reversed(X.columns))
    return {
        "records": ({"records": rows}, None),
        "dataframe_records": ({"dataframe_records": rows}, None),
        "dataframe_split": ({"dataframe_split": {"columns": shuffled, "data": X[shuffled].values.tolist()}}, None),
        "instances-objects": ({"instances": rows}, None),
        "instances-lists": ({"instances": X.values.tolist()}, None),
        "csv": (X.to_csv(index=False), {"Content-Type": "text/csv"}),
        "csv-charset": (X[shuffled].to_csv(index=False), {"Content-Type": "text/csv; charset=utf-8"}),
    }


@pytest.mark.parametrize("runtime", ["onnx", "sklearn"])
def test_every_format_predicts_what_the_model_predicts(served, runtime):
    server, X = served[runtime], served["X"].iloc[::7]
    expected = served["model"].predict(X).tolist()
    for name, (body, headers) in formats(X).items():
        status, out = server.predict(body, headers, token=TOKEN)
        assert status == 200, (name, out)
        assert out["predictions"] == expected, name
    status, out = server.predict({"records": X.head(1).to_dict("records")}, token=TOKEN)
    assert status == 200 and out["predictions"] == expected[:1] and "probabilities" not in out


def test_runtimes_agree_on_labels_and_probabilities(served):
    X = served["X"]
    body = {"dataframe_split": {"columns": list(X.columns), "data": X.values.tolist()}}
    _, onnx = served["onnx"].predict(body, query="?probabilities=true")
    _, sklearn = served["sklearn"].predict(body, token=TOKEN, query="?probabilities=true")
    assert onnx["predictions"] == sklearn["predictions"] == served["model"].predict(X).tolist()
    assert np.allclose(onnx["probabilities"], sklearn["probabilities"], rtol=0, atol=1e-5)
    assert np.allclose(sklearn["probabilities"], served["model"].predict_proba(X), rtol=0, atol=1e-12)


def test_concurrent_requests_batched_together_get_their_own_rows(served):
    """The scikit-learn server runs concurrent requests in one model call: each must get its own answer."""
    from concurrent.futures import ThreadPoolExecutor

    X, model = served["X"], served["model"]
    chunks = [X.iloc[i:i + 1 + i % 5] for i in range(0, 200, 5)]

    def one(chunk):
        return served["sklearn"].predict({"records": chunk.to_dict("records")}, token=TOKEN)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, chunks))
    for chunk, (status, out) in zip(chunks, answers):
        assert status == 200 and out["predictions"] == model.predict(chunk).tolist()


def bad_requests(X: pd.DataFrame) -> dict:
    row = X.iloc[0].to_dict()
    missing = {k: v for k, v in row.items() if k != "mean area"}
    json_header = {"Content-Type": "application/json"}
    return {
        "missing column": (422, {"records": [missing]}, None, "missing column 'mean area'"),
        "unknown column": (422, {"records": [dict(row, **{"zip code": SECRET})]}, None, "unknown column 'zip code'"),
        "long unknown column": (422, {"records": [dict(row, **{"z" * 5000: 1.0})]}, None, "unknown column 'zzz"),
        "unknown split column": (422, {"dataframe_split": {"columns": [*row, "zip"], "data": [[*row.values(), 1]]}},
                                 None, "unknown column 'zip'"),
        "text in a float column": (422, {"records": [dict(row, **{"mean radius": SECRET})]}, None,
                                   "column 'mean radius' must be float64"),
        "boolean in a float column": (422, {"records": [dict(row, **{"mean radius": True})]}, None,
                                      "column 'mean radius' must be float64, got booleans"),
        "csv missing column": (422, pd.DataFrame([missing]).to_csv(index=False), {"Content-Type": "text/csv"},
                               "missing column 'mean area'"),
        "csv text in a float column": (422, pd.DataFrame([dict(row, **{"mean radius": SECRET})]).to_csv(index=False),
                                       {"Content-Type": "text/csv"}, "must be float64"),
        "malformed JSON": (400, '{"records": [{"mean radius": ' + SECRET, json_header, "malformed JSON"),
        "not UTF-8": (400, b'{"records": "\xff\xfe"}', json_header, "malformed JSON"),
        "no known key": (400, {"rows": [row]}, None, "expected exactly one of records"),
        "two keys": (400, {"records": [row], "instances": [row]}, None, "records and instances"),
        "split row too short": (400, {"dataframe_split": {"columns": list(row), "data": [[1.0]]}}, None,
                                "dataframe_split.data[0] must be a list of 30 values"),
        "empty records": (400, {"records": []}, None, "non-empty list"),
        "malformed CSV": (400, '"a,b\n1,2', {"Content-Type": "text/csv"}, "malformed CSV"),
        "content type": (415, "x", {"Content-Type": "application/xml"}, "unsupported content type"),
        "body over the limit": (413, json.dumps({"records": [row] * 1000}), json_header, f"body larger than {LIMIT}"),
    }


@pytest.mark.parametrize("case", list(bad_requests(pd.DataFrame({"a": [1.0]})).keys()))
def test_bad_input_gets_its_status_and_is_never_echoed(served, case):
    status, body, headers, message = bad_requests(served["X"])[case]
    code, data, _ = served["onnx"].call("POST", "/predict", body, headers)
    assert code == status, data
    assert message in json.loads(data)["error"]
    assert SECRET.encode() not in data
    assert len(data) < 1000  # nothing long is reflected either
    if status == 422 and "column" in message:
        assert json.loads(data)["column"]


def test_a_chunked_body_over_the_limit_is_refused_while_streaming(served):
    """No Content-Length to check up front: the server counts the bytes as they arrive."""
    def pieces():
        yield b'{"records": ['
        for _ in range(LIMIT // 1000 + 10):
            yield b'{"a": ' + b"1" * 990 + b"},"
        yield b"{}]}"

    conn = HTTPConnection("127.0.0.1", served["onnx"].port, timeout=30)
    conn.request("POST", "/predict", body=pieces(), headers={"Content-Type": "application/json"}, encode_chunked=True)
    response = conn.getresponse()
    assert response.status == 413 and b"body larger than" in response.read()
    conn.close()


def test_metrics_count_requests_errors_and_latency(served):
    server, X = served["onnx"], served["X"]
    before = server.metrics()
    labels = 'model="cancer/1",runtime="onnx"'
    for _ in range(3):
        assert server.predict({"records": X.head(2).to_dict("records")})[0] == 200
    assert server.predict({"records": [{"nope": 1}]})[0] == 422
    assert server.predict("{", {"Content-Type": "application/json"})[0] == 400
    after = server.metrics()

    def delta(key):
        return after.get(key, 0) - before.get(key, 0)

    assert delta(f'mlops_requests_total{{{labels},path="/predict",status="200"}}') == 3
    assert delta(f'mlops_requests_total{{{labels},path="/predict",status="422"}}') == 1
    assert delta(f'mlops_requests_total{{{labels},path="/predict",status="400"}}') == 1
    assert delta(f'mlops_prediction_errors_total{{{labels},reason="schema"}}') == 1
    assert delta(f'mlops_prediction_errors_total{{{labels},reason="bad_request"}}') == 1
    assert delta(f"mlops_predicted_rows_total{{{labels}}}") == 6
    assert delta(f'mlops_request_duration_seconds_count{{{labels},path="/predict"}}') == 5
    assert after[f'mlops_request_duration_seconds_bucket{{{labels},path="/predict",le="+Inf"}}'] == \
        after[f'mlops_request_duration_seconds_count{{{labels},path="/predict"}}']
    # A scan of unknown paths lands in one "other" series, not one per path.
    for path in ("/a", "/b", "/c"):
        assert server.call("GET", path)[0] == 404
    assert server.metrics()[f'mlops_requests_total{{{labels},path="other",status="404"}}'] >= 3


def test_bearer_token(served):
    server, X = served["sklearn"], served["X"]
    body = {"records": X.head(1).to_dict("records")}
    status, _, headers = server.call("POST", "/predict", body)
    assert status == 401 and headers["www-authenticate"].startswith("Bearer")
    assert server.call("POST", "/predict", body, token="wrong")[0] == 401
    assert server.call("GET", "/v1/model")[0] == 401
    assert server.call("GET", "/metrics")[0] == 401
    assert server.call("POST", "/predict", body, token=TOKEN)[0] == 200
    assert server.call("GET", "/livez")[0] == 200 and server.call("GET", "/readyz")[0] == 200
    assert server.metrics(token=TOKEN)['mlops_prediction_errors_total{model="cancer/1",runtime="sklearn",'
                                       'reason="unauthorized"}'] >= 4


def test_model_description_and_openapi(served):
    server = served["onnx"]
    status, data, _ = server.call("GET", "/v1/model")
    info = json.loads(data)
    assert status == 200 and (info["name"], info["version"], info["runtime"]) == ("cancer", 1, "onnx")
    assert [i["name"] for i in info["signature"]["inputs"]] == list(served["X"].columns)
    assert info["lineage"]["approved_by"] == "ana" and info["lineage"]["run_id"]
    assert "matches scikit-learn" in info["runtime_note"]
    status, data, _ = server.call("GET", "/openapi.json")
    spec = json.loads(data)
    assert status == 200 and "text/csv" in spec["paths"]["/predict"]["post"]["requestBody"]["content"]
    assert {"/livez", "/readyz", "/metrics", "/v1/model"} <= set(spec["paths"])
    assert server.call("GET", "/docs")[0] == 200


def test_sampled_predictions_are_written_to_the_prediction_log(served):
    from sqlalchemy import func, select

    from jupyter_mlops.tracking import schema as s

    X = served["X"].iloc[100:103]
    status, out = served["onnx"].predict({"records": X.to_dict("records")})
    assert status == 200
    db = store.open_store(served["uri"])

    def newest_three():  # the log is written in the background, after the answer
        with db.engine.connect() as conn:
            newest = select(s.prediction_log).order_by(s.prediction_log.c.id.desc()).limit(3)
            rows = conn.execute(newest).mappings().all()
            total = conn.execute(select(func.count()).select_from(s.prediction_log)).scalar()
        return (rows, total) if rows and json.loads(rows[0]["features"]) == X.iloc[-1].to_dict() else None

    rows, total = wait_until(newest_three, "the three predictions in the prediction log")
    assert [json.loads(r["prediction"]) for r in reversed(rows)] == out["predictions"]
    assert [json.loads(r["features"]) for r in reversed(rows)] == X.to_dict("records")
    assert {(r["name"], r["version"]) for r in rows} == {("cancer", 1)}
    labels = 'model="cancer/1",runtime="onnx"'
    written = served["onnx"].metrics()[f'mlops_prediction_log_rows_total{{{labels},outcome="written"}}']
    assert written <= total


# -- runtimes in process -----------------------------------------------------------------------------
def _exported(model, frame, target, name):
    with mlops.start_run("train") as run:
        mlops.log_model(model, training_data=frame, target=target)
    mlops.approve(run.id, by="ana", reason="ok")
    return mlops.export(run.id, name=name)


def test_load_model_runtime_choice_and_notes(project):
    data = load_breast_cancer(as_frame=True)
    model = RandomForestClassifier(n_estimators=20, random_state=0).fit(data.data, data.target)
    record = _exported(model, data.frame, "target", "m")
    info = json.loads((Path(record["package_uri"]) / "package.json").read_text())
    assert info["onnx"]["file"] == "model/model.onnx" and info["onnx"]["rows_checked"] >= 569
    assert set(info["onnx"]["seconds"]) == {"load", "convert", "check"}
    assert versions.get_version("m/1")["tags"]["mlops.onnx"].startswith("written: matches scikit-learn")

    auto, sk = mlops.load_model("m", runtime="auto"), mlops.load_model("m")
    assert (auto.runtime, sk.runtime, mlops.load_model("m", runtime="onnx").runtime) == ("onnx", "sklearn", "onnx")
    assert np.array_equal(auto.predict(data.data), sk.predict(data.data))
    assert np.allclose(auto.predict_proba(data.data), sk.predict_proba(data.data), rtol=0, atol=1e-5)
    assert np.array_equal(sk.predict_proba(data.data), model.predict_proba(data.data))  # in process: exact
    with pytest.raises(InvalidInputError, match="runtime must be one of sklearn, onnx, auto"):
        mlops.load_model("m", runtime="tensorrt")


def test_a_model_with_text_columns_has_no_onnx_and_says_why(project):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"city": rng.choice(["a", "b", "c"], 200), "age": rng.integers(18, 90, 200)})
    frame["y"] = (frame["city"] == "a").astype(int)
    model = make_pipeline(make_column_transformer((OneHotEncoder(), ["city"]), remainder="passthrough"),
                          LogisticRegression()).fit(frame[["city", "age"]], frame["y"])
    record = _exported(model, frame, "y", "cities")
    assert "only numeric inputs are converted; column 'city'" in record["tags"]["mlops.onnx"]
    loaded = mlops.load_model("cities", runtime="auto")
    assert loaded.runtime == "sklearn" and "column 'city'" in loaded.runtime_note
    assert np.array_equal(loaded.predict(frame[["city", "age"]]), model.predict(frame[["city", "age"]]))
    with pytest.raises(InvalidInputError, match="runtime 'onnx' is not available for cities/1"):
        mlops.load_model("cities", runtime="onnx")


def test_export_without_skl2onnx_installed_still_works(project, monkeypatch):
    """An import that fails, as it does when the onnx extra is not installed."""
    monkeypatch.setitem(sys.modules, "skl2onnx", None)
    data = load_breast_cancer(as_frame=True)
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(data.data, data.target)
    record = _exported(model, data.frame, "target", "plain")
    assert "skl2onnx is not installed" in record["tags"]["mlops.onnx"]
    loaded = mlops.load_model("plain", runtime="auto")
    assert loaded.runtime == "sklearn" and "skl2onnx is not installed" in loaded.runtime_note
    assert mlops.verify("plain").ok


def test_a_converted_model_that_disagrees_is_not_written(project):
    """A tolerance no float32 model can meet: the check refuses the file and says by how much it missed."""
    from jupyter_mlops.runtimes import onnx_export

    data = load_breast_cancer(as_frame=True)
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(data.data, data.target)
    record = _exported(model, data.frame, "target", "m")
    folder = Path(record["package_uri"])
    signature = json.loads((folder / "model/signature.json").read_text())
    rows = onnx_export.check_rows(signature, None, json.loads((folder / "reference_profile.json").read_text()))
    onnx_bytes = (folder / "model/model.onnx").read_bytes()
    assert onnx_export.compare(model, onnx_bytes, signature, rows) == (None, "onnx")
    other = RandomForestClassifier(n_estimators=10, random_state=1).fit(data.data, data.target)
    verdict, labels = onnx_export.compare(other, onnx_bytes, signature, rows)
    assert labels is None and verdict.startswith("probabilities differ by up to")
