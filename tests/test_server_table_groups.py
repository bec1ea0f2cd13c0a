"""GET table/groups (server/table_groups.py): the Experiment view's runs grouped by a parameter,
each group's count and metrics' mean ± std over every run the filter keeps, on a real Jupyter
Server (pytest-jupyter) against a real store; checked against pandas over the same runs."""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest

import jupyter_mlops as mlops
from jupyter_mlops.server import bulk
from jupyter_mlops.server.table_groups import run_groups
from jupyter_mlops.tracking.store import open_store

from .test_server_security import TwoUsers, api  # noqa: F401  (the fixture, with alice and bob)


@pytest.fixture
def jp_server_config(jp_server_config):
    jp_server_config["ServerApp"]["identity_provider_class"] = TwoUsers
    return jp_server_config


# (C as logged, auc, the loss series' values in step order); "8" and "8.0" are one group.
SWEEP = [("8", 0.81, [0.9, 0.5]), ("8.0", 0.86, [0.8, 0.4]), ("8", 0.79, [0.7, 0.45]),
         ("12", 0.91, [0.6, 0.3]), ("12", 0.95, [0.5, 0.2]),
         ("1.5", 0.70, [0.9, 0.8]),
         ("abc", 0.60, [1.0, 0.9]), ("abc", 0.66, [1.1, 0.7]),
         (None, 0.50, [2.0, 1.5]), (None, 0.55, [2.5, 1.0])]


def log_sweep(experiment: str = "groups", key: str = "C") -> list[dict]:
    """The sweep's runs, and one run elsewhere and one archived that no group may count."""
    runs = []
    for i, (c, auc, losses) in enumerate(SWEEP):
        params = {key: c, "seed": i} if c is not None else {"seed": i}
        with mlops.start_run(f"r{i}", experiment=experiment, params=params) as run:
            for step, loss in enumerate(losses):
                mlops.log_metric("loss", loss, step=step)
            mlops.log_metric("auc", auc)
        runs.append({"run_id": run.id, "C": c, "auc": auc, "loss": losses[-1]})  # the latest loss
    with mlops.start_run("elsewhere", experiment="other", params={key: "8"}):
        mlops.log_metric("auc", 0.0)
    with mlops.start_run("archived", experiment=experiment, params={key: "8"}) as run:
        mlops.log_metric("auc", 0.0)
    bulk.change_lifecycle(open_store(), "archive", [run.id], "alice")
    return runs


def expected(runs: list[dict]) -> pd.DataFrame:
    """pandas' count, mean and std (n - 1) of auc and loss per group: numbers by value, text, none."""
    def group(c):
        if pd.isna(c):  # no C (pandas holds it as NaN)
            return (2, "")
        try:
            return (0, float(c))
        except ValueError:
            return (1, c)
    frame = pd.DataFrame(runs).assign(group=lambda f: f["C"].map(group))
    return frame.groupby("group")[["auc", "loss"]].agg(["count", "mean", "std"]).sort_index()


def close(a, b) -> bool:
    return (a is None and (b is None or math.isnan(b))) or (a is not None and math.isclose(a, b, rel_tol=1e-12))


async def test_groups_carry_count_and_mean_std_equal_to_pandas_over_every_kept_run(project, api):
    runs = log_sweep()
    columns = json.dumps(["metrics.auc", "metrics.loss"])
    status, body = await api("table/groups", params={"experiment": "groups", "by": "params.C", "columns": columns})
    assert status == 200, body
    assert body["by"] == "params.C" and body["total"] == len(SWEEP) and not body["truncated"]
    # Numbers in numeric order (1.5 < 8 < 12, not "12" < "1.5" < "8"), then text, then the runs without C.
    assert [(g["value"], g["kind"], g["count"]) for g in body["groups"]] == [
        ("1.5", "number", 1), ("8", "number", 3), ("12", "number", 2), ("abc", "text", 2), (None, "none", 2)]
    want = expected(runs)
    for group, (_, row) in zip(body["groups"], want.iterrows()):
        for metric in ("auc", "loss"):
            got = group["metrics"][f"metrics.{metric}"]
            assert got["count"] == row[(metric, "count")]
            assert close(got["mean"], row[(metric, "mean")]), (group["value"], metric, got, row[metric])
            assert close(got["std"], row[(metric, "std")]), (group["value"], metric, got, row[metric])
    assert body["groups"][0]["metrics"]["metrics.auc"]["std"] is None  # one run: no spread (pandas: NaN)

    # A filter narrows what is aggregated: every kept run, whatever page the view shows.
    status, body = await api("table/groups", params={"experiment": "groups", "by": "params.C", "columns": columns,
                                                     "filter": "metrics.auc >= 0.66"})
    kept = [r for r in runs if r["auc"] >= 0.66]
    assert status == 200 and body["total"] == len(kept)
    want = expected(kept)
    assert [g["count"] for g in body["groups"]] == list(want[("auc", "count")])
    assert all(close(g["metrics"]["metrics.auc"]["mean"], m) for g, m in zip(body["groups"], want[("auc", "mean")]))


async def test_each_group_filter_lists_exactly_its_runs(project, api):
    """The clause the view ANDs to its filter to show a group's runs, for awkward keys and values too."""
    for i, value in enumerate(["o'brien \\ x", "8", "-2.5e1", "1e400", " 8 ", ""]):
        with mlops.start_run(f"q{i}", experiment="quoted", params={"learning `rate`": value}):
            mlops.log_metric("auc", 0.5 + i / 100)
    with mlops.start_run("none", experiment="quoted"):
        pass
    status, body = await api("table/groups", params={"experiment": "quoted", "by": 'params."learning `rate`"'})
    assert status == 200, body
    groups = {g["value"]: g for g in body["groups"]}
    assert [g["value"] for g in body["groups"]] == ["-2.5e1", "8", "", "1e400", "o'brien \\ x", None]
    assert groups["8"]["count"] == 2  # "8" and " 8 " are the number 8
    assert groups["1e400"]["kind"] == "text"  # no number to compare: compared as text
    for group in body["groups"]:
        status, page = await api("runs", params={"experiment": "quoted", "filter": group["filter"], "page_size": 50})
        assert status == 200, (group, page)
        assert page["total"] == group["count"], group


def test_groups_on_both_back_ends(backend):
    runs = log_sweep()
    body = run_groups(open_store(), "C", ["auc"], experiment="groups")
    want = expected(runs)
    assert [g["count"] for g in body["groups"]] == [1, 3, 2, 2, 2]
    assert all(close(g["metrics"]["metrics.auc"]["std"], s) for g, s in zip(body["groups"], want[("auc", "std")]))


@pytest.mark.parametrize(("params", "field", "words"), [
    ({}, "by", "by=params.KEY"),
    ({"by": "metrics.auc"}, "by", "by must be params.KEY"),
    ({"by": "name"}, "by", "by must be params.KEY"),
    ({"by": "params.C", "columns": "[1"}, "columns", "JSON list"),
    ({"by": "params.C", "columns": json.dumps(["params.C"])}, "columns", "only metrics.KEY"),
    ({"by": "params.C", "columns": json.dumps(["nonsense"])}, "columns", "unknown column 'nonsense'"),
    ({"by": "params.C", "columns": json.dumps(["metrics.a"] * 201)}, "columns", "at most 200"),
    ({"by": "params.C", "filter": "metrics.auc >> 1"}, "filter", "position"),
    ({"by": "params.C", "order": "sideways"}, None, "order must be asc or desc"),
])
async def test_client_mistakes_are_400s_naming_the_field(project, api, params, field, words):
    status, body = await api("table/groups", params=params)
    assert status == 400, body
    assert words in body["message"] and body.get("field") == field
    if field:
        assert body["message"].startswith(field)


def test_more_groups_than_the_cap_are_cut_and_said_so(project, monkeypatch):
    from jupyter_mlops.server import table_groups

    log_sweep()
    monkeypatch.setattr(table_groups, "MAX_GROUPS", 2)
    body = run_groups(open_store(), "C", ["auc"], experiment="groups")
    assert body["truncated"] and [g["value"] for g in body["groups"]] == ["1.5", "8"]
    assert body["groups"][1]["metrics"]["metrics.auc"]["mean"] == pytest.approx((0.81 + 0.86 + 0.79) / 3)
    assert body["total"] == len(SWEEP)  # every kept run is counted, in a group shown or not
