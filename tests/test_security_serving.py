"""Issue 13, the model server: what a client sends can neither stall it nor get a 500 or a text page.

Attack cases are tables (one line per case), each sent to two real uvicorn servers of the same
package, one per runtime (ONNX Runtime and scikit-learn), which must answer alike: a JSON error
with the status and message the table gives, naming the column and never the value. The model
takes two float columns and one int64 column and was trained without missing values.
"""
from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from http.client import HTTPConnection
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import jupyter_mlops as mlops
from jupyter_mlops import config
from jupyter_mlops.exceptions import InvalidInputError
from jupyter_mlops.registry.package import load_model
from jupyter_mlops.tracking import lifecycle, store

from .conftest import PYTHON, python_env
from .helpers.net import ServerProcess
from .helpers.side_effects import record_call

TOKEN = "s3cret-Token"
RUNTIMES = ("onnx", "sklearn")
COLUMNS = ["a", "b", "n"]
ROW = {"a": 0.5, "b": -1.25, "n": 3}
BIG_ROWS = 1_000_000


def training_frame(rows: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=rows), "b": rng.normal(size=rows),
                          "n": rng.integers(0, 10, rows).astype("int64")})
    return frame.assign(y=((frame.a + frame.b) > 0).astype(int))


def big_rows() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame({"a": rng.normal(size=BIG_ROWS).round(4), "b": rng.normal(size=BIG_ROWS).round(4),
                         "n": rng.integers(0, 10, BIG_ROWS)})


class Served(ServerProcess):
    def call(self, method: str, path: str, body=None, headers=None, auth: str | None = f"Bearer {TOKEN}"):
        conn = HTTPConnection("127.0.0.1", self.port, timeout=120)
        headers = {"Content-Type": "application/json", **(headers or {})}
        if auth is not None:
            headers["Authorization"] = auth
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response.status, response.getheader("content-type"), data

    def in_worker(self) -> float:
        """The server's own count of large requests being parsed / predicted off its event loop."""
        _, _, data = self.call("GET", "/metrics")
        line = next(x for x in data.decode().splitlines() if x.startswith("mlops_large_requests_in_progress{"))
        return float(line.rsplit(" ", 1)[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serving-security")
    uri = str(folder / ".mlops" / "mlops.db")
    lifecycle.shutdown()
    store.forget_open_stores()
    config.set_tracking_uri(uri)
    frame = training_frame()
    model = RandomForestClassifier(n_estimators=10, max_depth=6, random_state=0).fit(frame[COLUMNS], frame.y)
    with mlops.start_run("train") as run:
        mlops.log_model(model, training_data=frame, target="y")
    mlops.approve(run.id, by="ana", reason="ok")
    record = mlops.export(run.id, name="tri")
    assert record["tags"]["mlops.onnx"].startswith("written")  # both runtimes really serve it
    config.set_tracking_uri(None)
    lifecycle.shutdown()
    store.forget_open_stores()
    servers = {}
    try:
        for runtime in RUNTIMES:
            servers[runtime] = Served([PYTHON, "-m", "jupyter_mlops", "--uri", uri, "serve", "tri/1", "--runtime",
                                       runtime, "--port", "{port}", "--token", TOKEN, "--max-body-bytes", "64MiB"],
                                      "/readyz", folder / f"{runtime}.log", cwd=folder, env=python_env()).start()
        yield {"uri": uri, **servers}
    finally:
        for server in servers.values():
            server.stop()


def record_with(column: str, literal: str) -> str:
    """A one-row ``records`` body whose ``column`` holds ``literal`` exactly as written in JSON."""
    return json.dumps({"records": [dict(ROW, **{column: "@@"})]}).replace('"@@"', literal)


def csv_with(column: str, text: str) -> str:
    return ",".join(COLUMNS) + "\n" + ",".join(text if c == column else str(v) for c, v in ROW.items()) + "\n"


NESTED = 100_000
OUT_OF_RANGE = "must be a finite float64 between -3.403e+38 and 3.403e+38 (the model computes in float32); records[0]"
MISSING = "has a missing value (null, NaN or an empty cell) in records[0]; the model was trained without missing"
CASES = {  # name: (body, content type, status, message part, column)
    "integer 10**400": (record_with("a", str(10**400)), None, 422, OUT_OF_RANGE, "a"),
    "integer of 5000 digits": (record_with("a", "9" * 5000), None, 422, OUT_OF_RANGE, "a"),
    "1e308 (float64, not float32)": (record_with("a", "1e308"), None, 422, OUT_OF_RANGE, "a"),
    "3.5e38 (just past float32)": (record_with("a", "-3.5e38"), None, 422, OUT_OF_RANGE, "a"),
    "1e400 (parses as infinity)": (record_with("b", "1e400"), None, 422, OUT_OF_RANGE, "b"),
    "Infinity": (record_with("a", "Infinity"), None, 422, OUT_OF_RANGE, "a"),
    "-Infinity": (record_with("b", "-Infinity"), None, 422, "column 'b' must be a finite float64", "b"),
    "NaN": (record_with("a", "NaN"), None, 422, MISSING, "a"),
    "null": (record_with("b", "null"), None, 422, MISSING, "b"),
    "text that looks like a number": (record_with("a", '"12.5"'), None, 422,
                                      "column 'a' must be float64; records[0] holds text, not a number", "a"),
    "text 'Infinity'": (record_with("a", '"Infinity"'), None, 422, "records[0] holds text", "a"),
    "boolean": (record_with("a", "true"), None, 422, "column 'a' must be float64, got booleans", "a"),
    "list": (record_with("a", "[1]"), None, 422, "records[0] holds a list or an object, not a number", "a"),
    "object": (record_with("b", '{"x": 1}'), None, 422, "records[0] holds a list or an object", "b"),
    "int64 column past its range": (record_with("n", str(2**63)), None, 422,
                                    "column 'n' must be a finite int64 between -9.223e+18 and 9.223e+18", "n"),
    "int64 column far below": (record_with("n", str(-2**70)), None, 422, "column 'n' must be a finite int64", "n"),
    "fraction in an int64 column": (record_with("n", "1.5"), None, 422, "column 'n' must be int64, got fractional",
                                    "n"),
    "split: infinity in the second row": (
        json.dumps({"dataframe_split": {"columns": ["n", "b", "a"], "data": [[1, 2.0, 3.0], [1, 2.0, 1e39]]}}),
        None, 422, "column 'a' must be a finite float64", "a"),
    "split: the position is named": (
        json.dumps({"dataframe_split": {"columns": COLUMNS, "data": [[1.0, 2.0, 3], [1.0, None, 3]]}}),
        None, 422, "in dataframe_split.data[1]", "b"),
    "instances: text": (json.dumps({"instances": [[1.0, "12.5", 3]]}), None, 422,
                        "column 'b' must be float64; instances[0] holds text", "b"),
    "nested [ in a row": ('{"records": ' + "[" * NESTED + "]" * NESTED + "}", None, 400,
                          "malformed JSON: Nested too deeply at line 1 column 14", None),
    "nested { in a row": ('{"records": [' + '{"a": ' * NESTED + "1" + "}" * NESTED + "]}", None, 400,
                          "malformed JSON: Nested too deeply", None),
    "nested [ at the top": ("[" * NESTED + "]" * NESTED, None, 400, "expected a JSON object with one of", None),
    "trailing data": (json.dumps({"records": [ROW]}) + " x", None, 400, "malformed JSON: Extra data", None),
    "csv: inf": (csv_with("a", "inf"), "text/csv", 422, "column 'a' must be a finite float64", "a"),
    "csv: 1e308": (csv_with("b", "1e308"), "text/csv", 422, "(the model computes in float32); CSV row 1 is not",
                   "b"),
    "csv: empty cell": (csv_with("a", ""), "text/csv", 422, "column 'a' has a missing value", "a"),
    "csv: 10**30 in an int64 column": (csv_with("n", str(10**30)), "text/csv", 422,
                                       "column 'n' must be a finite int64", "n"),
    "csv: text": (csv_with("a", "abc"), "text/csv", 422, "column 'a' must be float64; it holds non-numeric", "a"),
    "within range at the edge": (record_with("a", "3.4e38"), None, 200, None, None),
    "a large int64 that fits": (record_with("n", str(2**62)), None, 200, None, None),
    "unknown path": (None, None, 404, "Not Found", None),
    "wrong method": (None, None, 405, "Method Not Allowed", None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_values_get_the_same_json_answer_from_both_runtimes(served, case):
    body, media, status, message, column = CASES[case]
    method, path = {"unknown path": ("POST", "/predictions"), "wrong method": ("GET", "/predict")}.get(
        case, ("POST", "/predict"))
    answers = {runtime: served[runtime].call(method, path, body, {"Content-Type": media} if media else None)
               for runtime in RUNTIMES}
    for runtime, (code, content_type, data) in answers.items():
        assert (code, content_type) == (status, "application/json"), (runtime, data[:300])
        if status != 200:
            error = json.loads(data)
            assert message in error["error"], (runtime, error)
            assert error.get("column") == column
            assert len(data) < 400  # nothing long is sent back
    assert answers["onnx"][2] == answers["sklearn"][2]  # the very same answer, predictions included


AUTHORIZATION = [  # (Authorization header, status)
    (f"Bearer {TOKEN}", 200),
    (f"bearer {TOKEN}", 200),  # the scheme is case-insensitive (RFC 7235)
    (f"BEARER  {TOKEN}", 200),
    (f"Bearer {TOKEN.lower()}", 401),  # the token is not
    (f"Basic {TOKEN}", 401),
    (f"Bearer{TOKEN}", 401),
    ("Bearer ", 401),
    (None, 401),
]


@pytest.mark.parametrize(("header", "status"), AUTHORIZATION)
def test_bearer_scheme_is_case_insensitive_and_the_token_is_not(served, header, status):
    for runtime in RUNTIMES:
        code, content_type, data = served[runtime].call("POST", "/predict", json.dumps({"records": [ROW]}),
                                                        auth=header)
        assert (code, content_type) == (status, "application/json"), (runtime, data)
        assert TOKEN.encode() not in data


# -- item 8: one big request does not block the server ------------------------------------------------
@pytest.fixture(scope="module")
def big_request():
    rows = big_rows()
    data = [list(row) for row in zip(*(rows[c].tolist() for c in COLUMNS))]  # n stays a JSON integer
    return rows, json.dumps({"dataframe_split": {"columns": COLUMNS, "data": data}}).encode()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_probes_and_one_row_predictions_answer_while_a_large_request_is_worked_on(served, big_request, runtime):
    server, (rows, body) = served[runtime], big_request
    answer, done = {}, threading.Event()

    def send_big():
        answer["big"] = server.call("POST", "/predict", body)
        done.set()

    sender = threading.Thread(target=send_big)
    sender.start()
    try:
        deadline = time.monotonic() + 120
        while server.in_worker() < 1:  # the server says it is parsing / predicting the large body now
            assert not done.is_set() and time.monotonic() < deadline, "the large request was never seen in flight"
            time.sleep(0.01)
        live = server.call("GET", "/livez")
        small = server.call("POST", "/predict", json.dumps({"records": [ROW]}))
        assert not done.is_set(), "the probe and the one-row prediction waited for the large request"
        assert server.in_worker() >= 1
    finally:
        sender.join(300)
    assert live[0] == 200 and json.loads(live[2]) == {"status": "ok"}
    status, _, data = answer["big"]
    assert (small[0], status) == (200, 200)
    loaded = load_model("tri/1", runtime=runtime, store=store.open_store(served["uri"]))  # the server's engine
    assert json.loads(small[2])["predictions"] == loaded.predict(pd.DataFrame([ROW])).tolist()
    assert json.loads(data)["predictions"] == loaded.predict(rows).tolist()
    assert server.in_worker() == 0


# -- batch scoring keeps the same rules -----------------------------------------------------------------
BATCH_CASES = {  # name: (column, value, message part)
    "infinity": ("a", np.inf, "column 'a' must be a finite float64"),
    "1e308": ("b", 1e308, "column 'b' must be a finite float64"),
    "missing": ("a", np.nan, "column 'a' has a missing value"),
}


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_batch_scoring_refuses_the_same_values_naming_rows_and_column(project, runtime):
    frame = training_frame()
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(frame[COLUMNS], frame.y)
    with mlops.start_run("train") as run:
        mlops.log_model(model, training_data=frame, target="y")
    mlops.approve(run.id, by="ana", reason="ok")
    mlops.export(run.id, name="tri")
    for column, value, message in BATCH_CASES.values():
        rows = frame[COLUMNS].head(300).copy()
        rows.loc[250, column] = value
        with pytest.raises(InvalidInputError, match=rf"^rows 201-300: {re.escape(message)}.*\brow 251\b"):
            mlops.predict("tri", rows, chunk_size=100, runtime=runtime)
        assert len(mlops.predict("tri", rows.drop(index=250), chunk_size=100, runtime=runtime)) == 299


def test_missing_values_are_taken_where_training_had_some_and_both_runtimes_agree_on_them(project):
    """A forest trained with gaps in column a: ONNX is kept only if it routes them as scikit-learn does
    (skl2onnx's trees did not: probabilities 0.68 apart), and a served null is taken in a, refused in b."""
    from fastapi.testclient import TestClient

    from jupyter_mlops.serving.app import create_app

    frame = training_frame()
    frame.loc[7::5, "a"] = np.nan  # none in the first rows, the input example: only the profile shows them
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(frame[COLUMNS], frame.y)
    with mlops.start_run("train") as run:
        mlops.log_model(model, training_data=frame, target="y")
    mlops.approve(run.id, by="ana", reason="ok")
    mlops.export(run.id, name="gappy")
    auto, exact = mlops.load_model("gappy", runtime="auto"), mlops.load_model("gappy")
    assert np.array_equal(auto.predict(frame[COLUMNS]), model.predict(frame[COLUMNS]))
    with TestClient(create_app(auto)) as client:
        taken = client.post("/predict", json={"records": [dict(ROW, a=None)]})
        assert taken.status_code == 200
        assert taken.json()["predictions"] == exact.predict(pd.DataFrame([dict(ROW, a=np.nan)])).tolist()
        refused = client.post("/predict", json={"records": [dict(ROW, b=None)]})
        assert refused.status_code == 422 and refused.json()["column"] == "b"


# -- a package is verified before the model is ever called ---------------------------------------------
def test_serve_refuses_a_tampered_package_before_any_prediction(project, monkeypatch):
    """The model calls ``record_call`` on every prediction, so a file shows whether serving predicted
    (its warm-up does, once the package is verified)."""
    monkeypatch.setenv("MLOPS_TEST_CALLED", str(project / "calls-while-training.txt"))
    frame = training_frame()
    model = make_pipeline(FunctionTransformer(record_call), RandomForestClassifier(n_estimators=5, random_state=0))
    model.fit(frame[COLUMNS], frame.y)
    with mlops.start_run("train") as run:
        mlops.log_model(model, training_data=frame, target="y")
    mlops.approve(run.id, by="ana", reason="ok")
    record = mlops.export(run.id, name="marked", trust=["tests.helpers.side_effects.record_call"])
    uri = mlops.get_tracking_uri()

    def serve(calls: Path) -> Served:
        return Served([PYTHON, "-m", "jupyter_mlops", "--uri", uri, "serve", "marked/1", "--port", "{port}"],
                      "/readyz", project / f"{calls.stem}.log", cwd=project,
                      env=python_env(MLOPS_TEST_CALLED=calls))

    intact = project / "calls-intact.txt"
    with serve(intact):  # the check can see a call: the warm-up of a verified package leaves one
        assert intact.read_text() == "called\n"

    other = make_pipeline(FunctionTransformer(record_call), RandomForestClassifier(n_estimators=7, random_state=1))
    sio.dump(other.fit(frame[COLUMNS], frame.y), Path(record["package_uri"]) / "model" / "model.skops")
    tampered = project / "calls-tampered.txt"
    done = subprocess.run([PYTHON, "-m", "jupyter_mlops", "--uri", uri, "serve", "marked/1", "--port", "9"],
                          check=False, cwd=project, env=python_env(MLOPS_TEST_CALLED=tampered), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0 and done.stdout == ""
    error = done.stderr.strip().splitlines()
    assert len(error) == 1 and "failed verification" in error[0] and "model/model.skops" in error[0], error
    assert not tampered.exists()  # refused before the model was loaded, let alone called
