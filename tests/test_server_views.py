"""The REST endpoints behind the Lab's main-area views, on a real Jupyter Server (pytest-jupyter)
against a real store: numeric ordering, the change cursor, the column keys, CSV export, column
values, many runs' series in one request, the run overview, artifact previews and the audited note."""
from __future__ import annotations

import csv
import io
import json

import pytest

import jupyter_mlops as mlops
from jupyter_mlops.registry import audit
from jupyter_mlops.server import chart_series, queries, table
from jupyter_mlops.tracking.schema import run_key
from jupyter_mlops.tracking.store import open_store

from .test_server_security import TwoUsers, api  # noqa: F401  (the fixture, with alice and bob)


@pytest.fixture
def jp_server_config(jp_server_config):
    jp_server_config["ServerApp"]["identity_provider_class"] = TwoUsers
    return jp_server_config


@pytest.fixture
def sweep(project):
    """Runs whose C sorts differently as text and as numbers, one with a text C, one without C."""
    ids = {}
    for name, c in (("c8", "8"), ("c12", "12"), ("c1.5", "1.5"), ("text", "abc"), ("none", None)):
        params = {"C": c} if c is not None else {}
        with mlops.start_run(name, experiment="sweep", params=params, tags={"team": "=cmd|calc"}) as run:
            for step in range(300):
                mlops.log_metric("loss", 1.0 / (step + 1), step=step)
            mlops.log_metric("auc", 0.5 + len(name) / 100)
        ids[name] = run.id
    return ids


def names(page: dict) -> list[str]:
    return [r["name"] for r in page["runs"]]


async def test_parameters_sort_as_numbers_then_text_then_missing(sweep, api):
    status, page = await api("runs", params={"experiment": "sweep", "sort": "params.C", "order": "asc"})
    assert status == 200 and names(page) == ["c1.5", "c8", "c12", "text", "none"]
    status, page = await api("runs", params={"experiment": "sweep", "sort": "params.`C`", "order": "desc"})
    assert names(page) == ["c12", "c8", "c1.5", "text", "none"]
    status, page = await api("runs", params={"experiment": "sweep", "sort": "duration", "order": "asc"})
    assert status == 200 and len(page["runs"]) == 5
    status, body = await api("runs", params={"sort": "params.C sideways"})
    assert status == 200  # a key may hold spaces: "C sideways" is a key no run has, sorted last
    status, body = await api("runs", params={"sort": "metrics.auc sideways"})
    assert status == 400 and "ASC, DESC" in body["message"]


def test_numeric_parameter_order_on_both_back_ends(backend):
    for c in ("8", "12", "1.5", "abc"):
        with mlops.start_run(f"c{c}", experiment="sweep", params={"C": c}):
            pass
    page = queries.runs_page(open_store(), sort="params.C", descending=False)
    assert names(page) == ["c1.5", "c8", "c12", "cabc"]


def test_chart_series_on_both_back_ends(backend):
    """NaN comes back as null, every series keeps its extremes and last point, runs in the order
    named; a point logged after a series was drawn is in the next drawing."""
    ids = []
    for name, spike in (("a", 40), ("b", 170)):
        with mlops.start_run(name, experiment="charts") as run:
            for step in range(200):
                mlops.log_metric("loss", 100.0 if step == spike else 1.0 / (step + 1), step=step)
            mlops.log_metric("odd", float("nan"), step=0)
            mlops.log_metric("odd", 2.0, step=1)
        ids.append(run.id)
    reply = chart_series.series(open_store(), ["loss", "odd"], run_ids=[ids[1], ids[0]], max_points=21)
    loss, odd = reply["series"]
    assert [r["name"] for r in loss["runs"]] == ["b", "a"]
    for run, spike in zip(loss["runs"], (170, 40)):
        assert run["total"] == 200 and run["downsampled"] and len(run["points"]) <= 21
        assert (spike, 100.0) in [p[:2] for p in run["points"]] and run["points"][-1][:2] == (199, 1 / 200)
        assert [p[0] for p in run["points"]] == sorted(p[0] for p in run["points"])
    assert [p[:2] for p in odd["runs"][0]["points"]] == [(0, None), (1, 2.0)]

    # Asked again, the drawn points come from the cache until a point is logged, even one at an
    # earlier step than the last: the new spike shows at once.
    again = chart_series.series(open_store(), ["loss"], run_ids=[ids[0]], max_points=21)["series"][0]["runs"][0]
    assert again == reply["series"][0]["runs"][1]
    store = open_store()
    store.insert_metrics([(run_key(ids[0]), ids[0], "loss", 120, 500.0, 1)])
    after = chart_series.series(store, ["loss"], run_ids=[ids[0]], max_points=21)["series"][0]["runs"][0]
    assert after["total"] == 201 and (120, 500.0, 1) in after["points"]
    fewer = chart_series.series(store, ["loss"], run_ids=[ids[0]], max_points=5)["series"][0]["runs"][0]
    assert len(fewer["points"]) <= 5 and (120, 500.0, 1) in fewer["points"]


async def test_change_cursor_moves_when_runs_change_and_only_then(project, api):
    _, first = await api("changes")
    _, again = await api("changes")
    assert first == again
    run = mlops.start_run("live", experiment="live")
    _, started = await api("changes")
    assert started["cursor"] != first["cursor"]
    mlops.log_metric("loss", 0.5, step=1)
    mlops.flush()
    _, logged = await api("changes")
    assert logged["cursor"] != started["cursor"]
    open_store().set_tags(run.id, {"stage": "candidate"})
    _, tagged = await api("changes")
    assert tagged["cursor"] != logged["cursor"]
    mlops.end_run()
    _, ended = await api("changes")
    assert ended["cursor"] != tagged["cursor"]


async def test_column_keys_cover_the_whole_experiment(sweep, api):
    with mlops.start_run("other", experiment="elsewhere", params={"only_here": 1}):
        mlops.log_metric("elsewhere_metric", 1.0)
    status, keys = await api("table/keys", params={"experiment": "sweep"})
    assert status == 200
    assert keys["params"] == ["C"] and keys["metrics"] == ["auc", "loss"] and keys["tags"] == ["team"]
    _, everything = await api("table/keys")
    assert "only_here" in everything["params"] and "elsewhere_metric" in everything["metrics"]


async def test_csv_export_of_the_filtered_table(sweep, api):
    columns = json.dumps(["name", "status", "params.C", "metrics.auc", "tags.team", "duration"])
    response = await api("table/export", params={"experiment": "sweep", "filter": "params.C > 2",
                                                 "sort": "params.C", "order": "asc", "columns": columns}, raw=True)
    assert response.code == 200 and response.headers["Content-Type"].startswith("text/csv")
    assert 'filename="sweep.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.body.decode())))
    assert rows[0] == ["name", "status", "params.C", "metrics.auc", "tags.team", "duration"]
    assert [r[0] for r in rows[1:]] == ["c8", "c12"]
    assert rows[1][2] == "8" and float(rows[1][3]) == 0.52
    assert rows[1][4] == "'=cmd|calc"  # never a spreadsheet formula
    assert float(rows[1][5]) >= 0
    status, body = await api("table/export", params={"columns": json.dumps(["name", "nonsense"])})
    assert status == 400 and "unknown column 'nonsense'" in body["message"]
    status, body = await api("table/export", params={"columns": "[1"})
    assert status == 400 and "JSON list" in body["message"]
    status, body = await api("table/export", params={"filter": "params.C >> 1"})
    assert status == 400 and "position" in body["message"]


async def test_column_values_of_every_filtered_run(sweep, api):
    columns = json.dumps(["params.C", "metrics.auc"])
    status, body = await api("table/values", params={"experiment": "sweep", "columns": columns,
                                                     "filter": "params.C > 2", "sort": "params.C", "order": "asc"})
    assert status == 200 and body["names"] == ["c8", "c12"] and not body["truncated"]
    assert body["columns"]["params.C"] == ["8", "12"] and body["columns"]["metrics.auc"] == [0.52, 0.53]
    assert body["run_ids"] == [sweep["c8"], sweep["c12"]]


async def test_one_metric_of_many_runs_in_one_request(sweep, api):
    status, body = await api("series", params={"key": "loss", "experiment": "sweep", "sort": "params.C",
                                               "order": "asc", "limit": 3, "max_points": 50})
    assert status == 200 and [r["name"] for r in body["runs"]] == ["c1.5", "c8", "c12"]
    first = body["runs"][0]
    assert first["total"] == 300 and first["downsampled"] and len(first["points"]) <= 50
    assert first["points"][0][1] == 1.0 and first["points"][-1][0] == 299  # the extremes and the last point
    status, body = await api("series", params={"key": "auc", "run_ids": f"{sweep['text']},{sweep['none'][:8]}"})
    assert [r["name"] for r in body["runs"]] == ["text", "none"] and body["runs"][0]["total"] == 1
    status, body = await api("series", params={})
    assert status == 400 and "key" in body["message"]
    status, body = await api("series", params={"key": "loss", "limit": 0})
    assert status == 400 and "limit must be between 1 and 200" in body["message"]
    status, body = await api("series", params={"key": "loss", "run_ids": "ffffffffffff"})
    assert status == 404


async def test_several_metrics_of_many_runs_in_one_request(sweep, api):
    keys = json.dumps(["auc", "loss", "auc", "never-logged"])
    status, body = await api("series", params={"keys": keys, "experiment": "sweep", "sort": "params.C",
                                               "order": "asc", "limit": 2, "max_points": 20})
    assert status == 200 and [s["key"] for s in body["series"]] == ["auc", "loss", "never-logged"]
    auc, loss, never = body["series"]
    assert [r["name"] for r in auc["runs"]] == ["c1.5", "c8"] == [r["name"] for r in loss["runs"]]
    assert [r["points"][0][1] for r in auc["runs"]] == [0.54, 0.52] and auc["runs"][0]["total"] == 1
    assert loss["runs"][1]["run_id"] == sweep["c8"] and loss["runs"][1]["total"] == 300
    assert len(loss["runs"][1]["points"]) <= 20 and loss["runs"][1]["points"][-1][0] == 299
    assert [r["total"] for r in never["runs"]] == [0, 0] and never["runs"][0]["points"] == []
    for keys, problem in ((json.dumps([]), "JSON list of metric keys"), ("[1, 2]", "JSON list of metric keys"),
                          ("loss", "JSON list of metric keys"), ("[" * 10_000, "JSON list of metric keys"),
                          (json.dumps([f"m{i}" for i in range(101)]), "at most 100")):
        status, body = await api("series", params={"keys": keys})
        assert status == 400 and problem in body["message"], (keys[:20], body)


async def test_a_column_list_nested_past_the_parser_is_a_400(sweep, api):
    status, body = await api("table/export", params={"columns": "[" * 10_000})
    assert status == 400 and "JSON list" in body["message"]


async def test_run_overview_with_error_summary_pipeline_and_versions(project, api):
    with pytest.raises(ZeroDivisionError), mlops.start_run("broken", experiment="runs", params={"C": 1}) as failed:
        for step in range(10):
            mlops.log_metric("loss", 10 - step, step=step)
        _ = 1 / 0
    status, run = await api(f"runs/{failed.id}")
    assert status == 200 and run["status"] == "FAILED"
    assert run["error"] == "ZeroDivisionError: division by zero"
    assert run["metric_summary"]["loss"] == {"latest": 1.0, "step": 9, "min": 1.0, "max": 10.0, "points": 10,
                                             "first_step": 0, "last_step": 9}
    assert run["environment"]["python_version"] and run["environment"]["packages"]
    assert run["note"] == "" and run["pipeline"] is None and run["model_versions"] == []

    with mlops.start_run("pipe", experiment="runs", tags={"mlops.kind": "pipeline"}) as pipeline:
        pass
    with mlops.start_run("train[0]", experiment="runs", parent=pipeline.id,
                         tags={"mlops.step": "train", "mlops.traceback": "Traceback...\nValueError: bad"}) as step:
        pass
    _, run = await api(f"runs/{step.id}")
    assert run["pipeline"] == {"run_id": pipeline.id, "name": "pipe", "step": "train"}
    assert run["traceback"].endswith("ValueError: bad")
    _, run = await api(f"runs/{pipeline.id}")
    assert run["pipeline"]["run_id"] == pipeline.id


async def test_note_is_saved_as_a_tag_and_audited_under_the_caller(project, api):
    with mlops.start_run("noted", experiment="runs") as run:
        pass
    status, body = await api(f"runs/{run.id}/note", "POST", {"note": "# Why\nbaseline", "by": "mallory"}, user="bob")
    assert status == 200 and body["actor"] == "bob"
    _, detail = await api(f"runs/{run.id}")
    assert detail["note"] == "# Why\nbaseline" and "mlops.description" not in detail["user_tags"]
    status, _ = await api(f"runs/{run.id}/note", "POST", {"note": ""}, user="alice")
    assert status == 200
    entries = audit.audit_log(subject=run.id, store=open_store())
    assert [(e["actor"], e["action"]) for e in entries] == [("alice", "note"), ("bob", "note")]

    status, body = await api(f"runs/{run.id}/note", "POST", {"text": "x"})
    assert status == 400 and "missing note" in body["message"]
    status, body = await api(f"runs/{run.id}/note", "POST", {"note": 3})
    assert status == 400 and "note must be a string" in body["message"]
    status, body = await api(f"runs/{run.id}/note", "POST", {"note": "x" * 10_001})
    assert status == 400 and "at most 10000" in body["message"]
    status, body = await api("runs/ffffffffffff/note", "POST", {"note": "x"})
    assert status == 404
    status, _ = await api(f"runs/{run.id}/note", "POST", {"note": "x"}, user="nobody")
    assert status == 403


async def test_artifact_previews(project, api):
    import pandas as pd

    frame = pd.DataFrame({"x": range(100), "label": ["a", "b"] * 50})
    parquet = io.BytesIO()
    frame.to_parquet(parquet)
    with mlops.start_run("artifacts", experiment="runs") as run:
        mlops.log_artifact(frame.to_csv(index=False), "data/train.csv")
        mlops.log_artifact(parquet.getvalue(), "data/train.parquet")
        mlops.log_artifact(json.dumps({"b": [1, 2], "a": None}), "report/summary.json")
        mlops.log_artifact("<h1>hi</h1><script>alert(1)</script>", "report/page.html")
        mlops.log_artifact("line one\nline two\n", "logs/fit.log")
        mlops.log_artifact(b"\x89PNG\r\n\x1a\n", "plots/roc.png")
        mlops.log_artifact(b"PAR1 not really", "data/broken.parquet")
        mlops.log_artifact(b"\x00\x01", "model/blob.bin")
    base = f"runs/{run.id}/preview"
    status, csv_preview = await api(f"{base}/data/train.csv", params={"rows": 5})
    assert status == 200 and csv_preview["kind"] == "table" and csv_preview["columns"] == ["x", "label"]
    assert csv_preview["rows"] == [["0", "a"], ["1", "b"], ["2", "a"], ["3", "b"], ["4", "a"]]
    _, pq = await api(f"{base}/data/train.parquet", params={"rows": 3})
    assert pq["kind"] == "table" and pq["rows"] == [[0, "a"], [1, "b"], [2, "a"]] and pq["total_rows"] == 100
    _, js = await api(f"{base}/report/summary.json")
    assert js["kind"] == "json" and json.loads(js["text"]) == {"b": [1, 2], "a": None}
    _, html = await api(f"{base}/report/page.html")
    assert html["kind"] == "html" and "<script>" in html["text"]  # shown only in a frame that runs no script
    _, text = await api(f"{base}/logs/fit.log")
    assert text["kind"] == "text" and text["text"] == "line one\nline two\n" and not text["truncated"]
    _, image = await api(f"{base}/plots/roc.png")
    assert image["kind"] == "image" and image["media_type"] == "image/png" and "text" not in image
    _, binary = await api(f"{base}/model/blob.bin")
    assert binary["kind"] == "binary"
    status, body = await api(f"{base}/data/broken.parquet")
    assert status == 422 and "'data/broken.parquet' does not read as Parquet" in body["message"]
    status, body = await api(f"{base}/data/train.csv", params={"rows": 100_000})
    assert status == 400 and "rows must be between 1 and 200" in body["message"]
    status, body = await api(f"{base}/data/missing.csv")
    assert status == 404
    status, body = await api(f"{base}/../secret.csv")
    assert status in (400, 404)


async def test_any_notebook_artifact_opens_untrusted(project, api):
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"signature": "sha256:" + "ab" * 32},
          "cells": [{"cell_type": "code", "id": "c", "metadata": {"trusted": True}, "execution_count": 1,
                     "source": "x", "outputs": []}]}
    with mlops.start_run("notebooks", experiment="runs") as run:
        mlops.log_artifact(json.dumps(nb), "reports/eda.ipynb")
        mlops.log_artifact("x", "reports/eda.txt")
    status, snap = await api(f"runs/{run.id}/notebook", params={"path": "reports/eda.ipynb"})
    assert status == 200 and snap["path"] == "reports/eda.ipynb"
    assert "signature" not in snap["notebook"]["metadata"]
    assert "trusted" not in snap["notebook"]["cells"][0]["metadata"]
    status, body = await api(f"runs/{run.id}/notebook", params={"path": "reports/eda.txt"})
    assert status == 400 and "not a notebook" in body["message"]
    status, body = await api(f"runs/{run.id}/notebook", params={"path": "reports/other.ipynb"})
    assert status == 404


def test_unknown_sort_columns_name_the_problem(project):
    with pytest.raises(Exception, match="unknown column"):
        table.parse_columns(json.dumps(["attributes.nothing"]), [])


async def test_bulk_archive_restore_delete_and_tag_as_the_caller(project, api):
    from jupyter_mlops.registry import approval, package

    from .test_server_models import train

    ids = {}
    for name in ("a", "b", "c"):
        with mlops.start_run(name, experiment="bulk") as run:
            mlops.log_metric("auc", 0.5)
        ids[name] = run.id
    _, before = await api("changes")
    status, body = await api("bulk/lifecycle", "POST", {"action": "archive", "run_ids": [ids["a"], ids["b"][:8]]},
                             user="bob")
    assert status == 200 and sorted(body["changed"]) == sorted([ids["a"], ids["b"]])
    _, after = await api("changes")
    assert after["cursor"] != before["cursor"]  # open views reload
    _, page = await api("runs", params={"experiment": "bulk"})
    assert names(page) == ["c"]
    _, archived = await api("runs", params={"experiment": "bulk", "filter": "lifecycle = 'archived'"})
    assert sorted(names(archived)) == ["a", "b"]
    status, body = await api("bulk/lifecycle", "POST", {"action": "restore", "run_ids": [ids["a"]]})
    assert status == 200 and body["changed"] == [ids["a"]]
    status, body = await api("bulk/lifecycle", "POST", {"action": "delete", "run_ids": [ids["c"]]})
    assert status == 200
    _, page = await api("runs", params={"experiment": "bulk"})
    assert names(page) == ["a"]
    entries = audit.audit_log(subject=ids["b"], store=open_store())
    assert [(e["actor"], e["action"]) for e in entries] == [("bob", "archive")]

    status, body = await api("bulk/tags", "POST", {"run_ids": [ids["a"], ids["b"]], "key": "stage", "value": "prod"})
    assert status == 200 and sorted(body["tagged"]) == sorted([ids["a"], ids["b"]])
    assert open_store().tags_of(ids["b"])["stage"] == "prod"
    assert audit.audit_log(subject=ids["a"], store=open_store())[0]["action"] == "tag"

    registered = train("registered", 1.0)
    approval.approve(registered, reason="keep")
    package.export(registered, "kept")
    status, body = await api("bulk/lifecycle", "POST", {"action": "delete", "run_ids": [registered]})
    assert status == 409 and "model kept version 1" in body["message"]
    for request, message in [
        ({"action": "burn", "run_ids": [ids["a"]]}, "action must be one of archive, delete, restore"),
        ({"action": "archive", "run_ids": []}, "run_ids must be a non-empty list"),
        ({"action": "archive", "run_ids": "a"}, "run_ids must be a non-empty list"),
        ({"action": "archive", "run_ids": [3]}, "run_ids must hold run ids"),
    ]:
        status, body = await api("bulk/lifecycle", "POST", request)
        assert status == 400 and message in body["message"], request
    status, body = await api("bulk/lifecycle", "POST", {"action": "archive", "run_ids": ["ffffffffffff"]})
    assert status == 404
    status, body = await api("bulk/tags", "POST", {"run_ids": [ids["a"]], "key": "mlops.note", "value": "x"})
    assert status == 400 and "belong to jupyter_mlops" in body["message"]
    status, body = await api("bulk/tags", "POST", {"run_ids": [ids["a"], "ffffffffffff"], "key": "k", "value": "x"})
    assert status == 404 and "stage" in open_store().tags_of(ids["a"]) and "k" not in open_store().tags_of(ids["a"])
