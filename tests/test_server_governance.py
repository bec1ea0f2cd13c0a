"""Datasets, lineage and schedules endpoints (issues 17 and 18) on a real Jupyter Server, and their
role checks on a real ``jupyter mlops server``: what the Dataset, Lineage and Schedule views and the
notebook's "Schedule..." dialog read and do, and every refusal as a 4xx naming the problem."""
from __future__ import annotations

import getpass
import json

import nbformat
import pandas as pd
import pytest
import requests
from jupyter_server.utils import url_path_join
from nbformat.v4 import new_code_cell, new_notebook
from sklearn.linear_model import LogisticRegression
from tornado.httpclient import HTTPClientError

import jupyter_mlops as mlops
from jupyter_mlops.jobs import definitions
from jupyter_mlops.jobs.schedules import get_schedule, history
from jupyter_mlops.registry import approval, package
from jupyter_mlops.registry.audit import audit_log
from jupyter_mlops.tracking.store import open_store

from .helpers.tracking_server import TrackingServer


@pytest.fixture
def api(jp_fetch):
    async def call(path, method="GET", body=None, params=None):
        try:
            response = await jp_fetch("mlops", "api", *path.split("/"), method=method, params=params,
                                      body=None if body is None else json.dumps(body))
        except HTTPClientError as exc:
            response = exc.response
        return response.code, json.loads(response.body)
    return call


TEXT = str(pd.Series(["x"]).dtype)  # "str" on pandas 3, "object" before


def frame(columns: dict) -> pd.DataFrame:
    return pd.DataFrame(columns)


@pytest.fixture
def catalog(project):
    """customers v1 read by a first run; v2 (b dropped, c retyped, d added) read by a second run that
    trains a model, approved and exported as churn v1; raw/events, a name with a slash."""
    v1 = frame({"a": [1, 2, 3], "b": ["x", "y", "z"], "c": [0.1, 0.2, 0.3]})
    v2 = frame({"a": [1, 2, 3, 4], "c": ["lo", "hi", "lo", "hi"], "d": [7, 8, 9, 10]})
    with mlops.start_run("explore", experiment="churn") as first:
        mlops.log_dataset(v1, "customers")
        mlops.log_dataset(frame({"t": [1]}), "raw/events")
    X = v2[["a", "d"]]
    with mlops.start_run("fit", experiment="churn") as second:
        mlops.log_dataset(v2, "customers")
        mlops.log_metric("accuracy", 1.0)
        mlops.log_model(LogisticRegression().fit(X, [0, 1, 0, 1]), training_data=X)
    approval.approve(second.id, by="alice", reason="fine")
    package.export(second.id, "churn", by="alice")
    return {"first": first.id, "second": second.id}


# --- datasets -----------------------------------------------------------------------------------

async def test_datasets_with_version_counts_runs_and_schema_changes(catalog, api, http_server_client,
                                                                    jp_base_url, jp_auth_header):
    status, body = await api("datasets")
    assert status == 200
    listed = {d["name"]: d for d in body["datasets"]}
    assert listed["customers"]["versions"] == 2 and listed["raw/events"]["versions"] == 1
    assert listed["customers"]["latest_rows"] == 4

    status, body = await api("datasets/customers")
    assert status == 200 and body["name"] == "customers"
    v1, v2 = body["versions"]
    assert (v1["version"], v2["version"]) == (1, 2) and v1["fingerprint"] != v2["fingerprint"]
    assert [u["run_id"] for u in v1["consumed_by"]] == [catalog["first"]]
    assert [u["run_id"] for u in v2["consumed_by"]] == [catalog["second"]]
    assert v2["consumed_by"][0]["run_name"] == "fit" and v2["produced_by"] == []
    assert v1["schema_changes"] is None
    assert v2["schema_changes"] == {"added": ["d"], "removed": ["b"], "changed": {"c": ["float64", TEXT]}}
    assert v2["rows"] == 4 and v2["schema"] == {"a": "int64", "c": TEXT, "d": "int64"}

    # A name with a slash, as the view sends it (encodeURIComponent) and as a plain path.
    for path in ("datasets/raw%2Fevents", "datasets/raw/events"):
        response = await http_server_client.fetch(url_path_join(jp_base_url, "mlops/api", path),
                                                  headers=jp_auth_header)
        assert json.loads(response.body)["versions"][0]["name"] == "raw/events", path

    status, body = await api("datasets/nope")
    assert status == 404 and body["message"].startswith("no dataset named 'nope'; datasets: ")
    assert "customers" in body["message"]


# --- lineage ------------------------------------------------------------------------------------

async def test_lineage_of_a_run_goes_up_to_its_data_and_down_to_its_model_version(catalog, api):
    run = catalog["second"]
    status, graph = await api("lineage", params={"node": f"run:{run[:10]}"})  # a prefix is resolved
    assert status == 200 and graph["start"] == [f"run:{run}"] and graph["direction"] == "both"
    nodes = {n["id"]: n for n in graph["nodes"]}
    edges = {(e["source"], e["target"], e["relation"]) for e in graph["edges"]}
    customers_v2 = next(n for n in graph["nodes"] if n["kind"] == "dataset" and n["name"] == "customers")
    assert customers_v2["sides"] == ["up"]
    assert (customers_v2["id"], f"run:{run}", "consumed by") in edges
    assert nodes["model:churn/1"]["sides"] == ["down"] and nodes["model:churn/1"]["run_id"] == run
    assert (f"run:{run}", "model:churn/1", "exported as") in edges
    assert nodes[f"run:{run}"]["sides"] == ["start"]
    assert all(e["source"] in nodes and e["target"] in nodes for e in graph["edges"])

    status, up = await api("lineage", params={"node": "model:churn/1", "direction": "up"})
    assert status == 200 and {f"run:{run}", customers_v2["id"]} <= {n["id"] for n in up["nodes"]}
    assert all(n["sides"] != ["down"] for n in up["nodes"])

    versions = (await api("datasets/customers"))[1]["versions"]
    status, down = await api("lineage", params={"node": f"dataset:{versions[0]['id']}", "direction": "down"})
    assert status == 200 and {n["id"] for n in down["nodes"]} == {f"dataset:{versions[0]['id']}",
                                                                  f"run:{catalog['first']}"}
    status, by_ref = await api("lineage", params={"ref": "churn/1", "direction": "up"})
    assert status == 200 and by_ref["start"] == ["model:churn/1"]


@pytest.mark.parametrize(("params", "status", "words"), [
    ({}, 400, "give exactly one of the query arguments node"),
    ({"node": "run:abc", "ref": "x"}, 400, "give exactly one"),
    ({"node": "table:1"}, 400, "node must be KIND:KEY with KIND one of run, model, alias, dataset"),
    ({"node": "run:"}, 400, "node must be KIND:KEY"),
    ({"node": "run:ffffffffffff"}, 404, "ffffffffffff"),
    ({"node": "dataset:abc"}, 400, "a dataset version is its number id"),
    ({"node": "dataset:999999"}, 404, "no dataset version with id 999999"),
    ({"node": "model:churn"}, 400, "expected model:NAME/VERSION"),
    ({"node": "model:churn/9"}, 404, "model 'churn' has no version 9"),
    ({"node": "alias:churn@production"}, 404, "model 'churn' has no alias 'production'"),
    ({"node": "model:churn/1", "direction": "sideways"}, 400, "direction must be one of both, up, down"),
    ({"ref": "no-such-thing"}, 400, "is no run, model reference or dataset"),
])
async def test_lineage_refusals_name_the_problem(catalog, api, params, status, words):
    code, body = await api("lineage", params=params)
    assert code == status and words in body["message"], body


# --- schedules ----------------------------------------------------------------------------------

@pytest.fixture
def notebook(jp_root_dir):
    """A notebook under the server's root, with a parameters cell declaring C and day."""
    folder = jp_root_dir / "work"
    folder.mkdir()
    cells = [new_code_cell("C = 1.0\nday = '2024-01-01'", metadata={"tags": ["parameters"]}),
             new_code_cell("print(C, day)")]
    nbformat.write(new_notebook(cells=cells), folder / "daily report.ipynb")
    (folder / "notes.txt").write_text("not a notebook")
    return "work/daily report.ipynb"


async def test_a_notebook_schedule_made_paused_resumed_and_run_now_each_audited(project, notebook, jp_root_dir,
                                                                                  api):
    status, form = await api("schedule-form", params={"notebook": notebook})
    assert status == 200 and form["notebook"] == notebook and form["has_parameters_cell"]
    assert form["parameters"] == {"C": "1.0", "day": "'2024-01-01'"} and "{date}" in form["placeholders"]

    status, made = await api("schedules", "POST", {
        "notebook": notebook, "cron": "30 6 * * 1-5", "timezone": "Europe/Berlin",
        "parameters": {"C": "0.5", "day": "{date}"}})
    assert status == 201, made
    schedule = made["schedule"]
    me = getpass.getuser()  # Jupyter's shared token names nobody: the server's own user acts
    assert schedule["name"] == "daily-report" and schedule["kind"] == "notebook"
    assert schedule["target"] == {"notebook": str(jp_root_dir / notebook)}
    assert schedule["parameters"] == {"C": 0.5, "day": "{date}"} and schedule["created_by"] == me
    assert schedule["timezone"] == "Europe/Berlin" and schedule["next_fire_time"].endswith(("+01:00", "+02:00"))
    store = open_store()
    assert get_schedule("daily-report", store=store).cron == "30 6 * * 1-5"

    status, listed = await api("schedules")
    (row,) = listed["schedules"]
    assert row["name"] == "daily-report" and not row["paused"] and row["next_fire_at"] is not None

    status, paused = await api("schedules/daily-report/pause", "POST", {})
    assert status == 200 and paused["schedule"]["paused"] and paused["schedule"]["next_fire_at"] is None
    assert get_schedule("daily-report", store=store).paused
    status, resumed = await api("schedules/daily-report/resume", "POST", {})
    assert status == 200 and not resumed["schedule"]["paused"]
    assert not get_schedule("daily-report", store=store).paused
    status, queued = await api("schedules/daily-report/run-now", "POST", {})
    assert status == 200 and isinstance(queued["occurrence"], int)
    (waiting,) = history("daily-report", store=store)
    assert waiting["id"] == queued["occurrence"] and waiting["state"] == "PENDING"
    assert waiting["note"] == f"run-now by {me}"

    status, detail = await api("schedules/daily-report", params={"limit": 10})
    assert status == 200 and [o["id"] for o in detail["history"]] == [queued["occurrence"]]
    assert detail["schedule"]["name"] == "daily-report"

    entries = audit_log(subject="schedule:daily-report", store=store)
    assert [(e["action"], e["actor"]) for e in reversed(entries)] == [
        ("schedule-add", me), ("schedule-pause", me), ("schedule-resume", me), ("schedule-run-now", me)]


@pytest.mark.parametrize(("body", "status", "field", "words"), [
    ({"cron": "61 * * * *"}, 400, "cron", "cron: not a valid cron expression '61 * * * *'"),
    ({"cron": "0 6 * *"}, 400, "cron", "cron: expected five fields"),
    ({"timezone": "Mars/Olympus"}, 400, "timezone", "timezone: unknown time zone 'Mars/Olympus'"),
    ({"parameters": {"alpha": "1"}}, 400, "parameters", "declares no parameter 'alpha'"),
    ({"parameters": ["C"]}, 400, "parameters", "parameters must be an object"),
    ({"retries": "twice"}, 400, "retries", "retries: expected a whole number"),
    ({"overlap": "sometimes"}, 400, "overlap", "overlap: expected one of skip, queue, allow"),
    ({"name": "no spaces please"}, 400, "name", "invalid schedule name 'no spaces please'"),
    ({"notify": {"webhook": "http://example.com"}}, 400, "notify", "unknown field 'notify'"),
    ({"replace": "yes"}, 400, "replace", "replace must be true or false"),
    ({"cron": 6}, 400, None, "cron must be a string"),
    ({"notebook": "work/notes.txt"}, 400, "notebook", "'work/notes.txt' is not a notebook (.ipynb)"),
    ({"notebook": "work/../../outside.ipynb"}, 400, "notebook", "must name a file below the server's root"),
    ({"notebook": "work/missing.ipynb"}, 404, "notebook", "no notebook 'work/missing.ipynb' on this server"),
    ({"notebook": ""}, 400, None, "request body is missing notebook"),
])
async def test_a_schedule_the_server_refuses_names_the_field(project, notebook, api, body, status, field, words):
    code, refused = await api("schedules", "POST", {"notebook": notebook, "cron": "0 6 * * *", **body})
    assert code == status and words in refused["message"], refused
    assert refused.get("field") == field
    assert (await api("schedules"))[1]["schedules"] == []  # nothing stored


async def test_schedule_refusals_for_unknown_names_actions_and_duplicates(project, notebook, api):
    assert (await api("schedules", "POST", {"notebook": notebook, "cron": "0 6 * * *"}))[0] == 201
    code, body = await api("schedules", "POST", {"notebook": notebook, "cron": "0 7 * * *"})
    assert code == 409 and body == {"message": "a schedule named 'daily-report' exists; choose another name",
                                    "reason": "Conflict", "field": "name"}
    code, body = await api("schedules", "POST", {"notebook": notebook, "cron": "0 7 * * *", "replace": True})
    assert code == 201 and body["schedule"]["cron"] == "0 7 * * *"
    for path, method in (("schedules/nope", "GET"), ("schedules/nope/pause", "POST")):
        code, body = await api(path, method, {} if method == "POST" else None)
        assert code == 404 and body["message"].startswith("no schedule named 'nope'; schedules: daily-report")
    code, body = await api("schedules/daily-report/explode", "POST", {})
    assert code == 404 and body["message"] == "no action 'explode'; actions: pause, resume, run-now"
    code, body = await api("schedules/daily-report", params={"limit": 0})
    assert code == 400 and "limit must be between 1 and 1000" in body["message"]
    code, body = await api("schedule-form")
    assert code == 400 and body["field"] == "notebook"


# --- roles on the tracking server -----------------------------------------------------------------

def test_viewers_read_schedules_but_only_editors_pause_or_add_them(project, tmp_path):
    store = open_store(str(project / ".mlops" / "mlops.db"))
    nbformat.write(new_notebook(cells=[new_code_cell("x = 1", metadata={"tags": ["parameters"]})]),
                   project / "nightly.ipynb")
    definitions.define_notebook(project / "nightly.ipynb", {"cron": "0 2 * * *"}, by="ada", now_ms=0, store=store)
    with TrackingServer(str(project / ".mlops" / "mlops.db"), tmp_path / "server.log", cwd=project) as server:
        def call(method, path, user, body=None):
            return requests.request(method, f"{server.url}/mlops/api/{path}", json=body,
                                    headers=server.headers(user), timeout=30)

        assert [s["name"] for s in call("GET", "schedules", "vic").json()["schedules"]] == ["nightly"]
        assert call("GET", "schedules/nightly", "vic").status_code == 200
        refused = call("POST", "schedules/nightly/pause", "vic", {})
        assert refused.status_code == 403
        assert refused.json()["message"] == "user 'vic' (viewer) may not start pipelines; that needs the editor role"
        assert not get_schedule("nightly", store=store).paused
        refused = call("POST", "schedules", "vic", {"notebook": "nightly.ipynb", "cron": "0 3 * * *"})
        assert refused.status_code == 403 and "needs the editor role" in refused.json()["message"]

        done = call("POST", "schedules/nightly/pause", "eve", {"by": "vic"})
        assert done.status_code == 200 and done.json()["by"] == "eve"  # the token's user, not the body's
        assert get_schedule("nightly", store=store).paused
        assert [e["actor"] for e in audit_log(subject="schedule:nightly", store=store)] == ["eve"]
        assert call("GET", "lineage?node=run:ffffffffffff", "vic").status_code == 404  # reads: any role
        assert call("GET", "datasets", "vic").json() == {"datasets": []}
