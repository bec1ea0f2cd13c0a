"""search_runs reads each run's JSON summary: the frame it builds, and the summaries kept in step."""
from __future__ import annotations

import json
import math
import threading

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

import jupyter_mlops as mlops
from jupyter_mlops.tracking import schema, search
from jupyter_mlops.tracking.store import forget_open_stores, open_store

pytestmark = pytest.mark.usefixtures("backend")

# Floats that a 15-digit JSON rendering (SQLite's own) would change, and the non-finite ones.
EXACT = [0.1 + 0.2, 1 / 3, 1e-300, 5e-324, 2.0**53 + 2, math.inf, -math.inf]


def summaries_by_run() -> dict[str, dict]:
    with open_store().engine.connect() as conn:
        return {u: json.loads(t) for u, t in conn.execute(text("SELECT uuid, summary FROM runs"))}


def tables_by_run() -> dict[str, dict]:
    """What the summaries must say, read from the source tables."""
    found: dict[str, dict] = {}
    with open_store().engine.connect() as conn:
        for kind, table in (("params", "params"), ("metrics", "latest_metrics"), ("tags", "tags")):
            for uuid, key, value in conn.execute(text(f"SELECT run_uuid, key, value FROM {table}")):
                found.setdefault(uuid, {}).setdefault(kind, {})[key] = value
    return found


def same_summaries(summaries: dict, tables: dict) -> bool:
    drop_empty = {u: {k: v for k, v in s.items() if v} for u, s in summaries.items()}
    return {u: s for u, s in drop_empty.items() if s} == tables


def test_frame_has_exact_values_and_none_or_nan_where_missing(project):
    with mlops.start_run("a", params={"model": "rf", "depth": 3}, tags={"stage": "dev"}):
        for i, value in enumerate(EXACT):
            mlops.log_metric(f"m{i}", value)
        mlops.log_metric("nan", float("nan"))
    with mlops.start_run("b", params={"model": "svm"}):
        mlops.log_metric("m0", 2.5)
    with mlops.start_run("c"):
        pass
    df = mlops.search_runs(order_by=["name"])
    metric_names = sorted([f"m{i}" for i in range(len(EXACT))] + ["nan"])
    assert list(df.columns) == (search.ATTRIBUTE_COLUMNS + ["params.depth", "params.model"]
                                + [f"metrics.{k}" for k in metric_names] + ["tags.stage"])
    assert df["name"].tolist() == ["a", "b", "c"]
    assert df["params.model"].tolist() == ["rf", "svm", None]
    assert df["params.depth"].tolist() == ["3", None, None]
    assert df["tags.stage"].tolist() == ["dev", None, None]
    assert df["params.model"].dtype == object and df["tags.stage"].dtype == object
    a = df.iloc[0]
    for i, value in enumerate(EXACT):
        assert df[f"metrics.m{i}"].dtype == np.float64
        assert a[f"metrics.m{i}"] == value
    assert math.isnan(a["metrics.nan"])
    assert df["metrics.m0"].tolist()[1] == 2.5 and df[[f"metrics.m{i}" for i in range(1, len(EXACT))]].iloc[1:].isna().all().all()
    assert df["status"].tolist() == ["FINISHED"] * 3
    assert isinstance(df["start_time"].dtype, pd.DatetimeTZDtype)


def test_summaries_follow_every_write(project):
    store = open_store()
    with mlops.start_run("r", params={"lr": 0.1}) as run:
        mlops.log_param("lr", 0.2)  # overwritten
        mlops.set_tags({"a": "1", "b": "2"})
        mlops.set_tag("a", "3")
        for step in (0, 5, 2):  # the late step 2 is not the latest
            mlops.log_metric("loss", step / 10, step=step)
        run.flush()
        mlops.log_metric("loss", 0.7, step=5)  # the same step again: the later point wins
    other = mlops.start_run("other", params={"x": "y"})
    store.set_tags(other.id, {"written": "by the store"})
    assert same_summaries(summaries_by_run(), tables_by_run())
    assert summaries_by_run()[run.id]["metrics"] == {"loss": 0.7}
    assert summaries_by_run()[run.id]["params"] == {"lr": "0.2"}


def test_a_repeated_search_sees_every_change(project):
    """Summaries parsed by one search are reused by the next, by their content: never stale."""
    with mlops.start_run("a", params={"p": "1"}) as run:
        mlops.log_metric("m", 0.5)
    first = mlops.search_runs()
    pd.testing.assert_frame_equal(mlops.search_runs(), first, check_exact=True)
    open_store().set_params(run.id, {"p": "2"})
    open_store().insert_metrics([(schema.run_key(run.id), run.id, "m", 1, 0.25, 0)])
    again = mlops.search_runs()
    assert again["params.p"].tolist() == ["2"] and again["metrics.m"].tolist() == [0.25]


def test_runs_from_before_summaries_are_summarised_by_the_migration(project):
    """A store written by a version without summaries: migration 3 fills them from the tables. It is
    run on its own here: the later migrations are in place, so removing version 3 from
    schema_version would not bring it back (the store migrates past its highest version)."""
    with mlops.start_run("old", params={"p": "1"}, tags={"t": "x"}):
        mlops.log_metrics({"m": 1 / 3, "n": float("nan")})
    mlops.start_run("empty").end()
    before = mlops.search_runs(order_by=["name"])
    mlops.end_run()
    with open_store().engine.begin() as conn:
        conn.execute(text("ALTER TABLE runs DROP COLUMN summary"))
    forget_open_stores()
    with open_store().engine.begin() as conn:
        dict(schema.MIGRATIONS)[3](conn)
    pd.testing.assert_frame_equal(mlops.search_runs(order_by=["name"]), before, check_exact=True)
    assert same_summaries(summaries_by_run(), tables_by_run())


def test_concurrent_writers_to_one_run_lose_no_summary_key(project):
    """Two processes (a pipeline runner and its kernel, say) may write one run at once; on
    PostgreSQL each rewrite locks the run first, or one would drop the other's new keys."""
    store = open_store()
    run = mlops.start_run("shared")
    errors = []

    def write(i: int) -> None:
        try:
            for j in range(40):
                store.set_tags(run.id, {f"t{i}-{j}": "v"})
                store.set_params(run.id, {f"p{i}-{j}": "v"})
        except Exception as exc:  # reported below: a failing thread must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for i in range(200):
        mlops.log_metric(f"m{i % 7}", float(i))
        if i % 20 == 0:
            run.flush()
    for t in threads:
        t.join()
    run.end()
    assert errors == []
    summary = summaries_by_run()[run.id]
    assert len(summary["tags"]) == 240 and len(summary["params"]) == 240 and len(summary["metrics"]) == 7
    assert same_summaries(summaries_by_run(), tables_by_run())


def test_max_results_is_the_same_applied_in_sql_or_while_fetching(project, monkeypatch):
    """On SQLite a max_results of SQLITE_FETCH_LIMIT_FROM or more is applied while fetching, a smaller
    one in SQL: both ways give the same runs (PostgreSQL always applies it in SQL)."""
    for i, auc in enumerate([0.5, 0.9, 0.7, 0.8]):
        with mlops.start_run(f"r{i}"):
            mlops.log_metric("auc", auc)
    for fetch_limit_from in (1, 10_000):
        monkeypatch.setattr(search, "SQLITE_FETCH_LIMIT_FROM", fetch_limit_from)
        top = mlops.search_runs(order_by=["metrics.auc DESC"], max_results=3)
        assert top["name"].tolist() == ["r1", "r3", "r2"]
        assert mlops.search_runs(filter="metrics.auc < 0.75", max_results=5)["name"].tolist() == ["r2", "r0"]


def test_server_runs_page_counts_pages_and_reads_summaries_on_both_back_ends(backend):
    """The sidebar's page: one SQL pass gives the rows, their values and the number of matches."""
    from jupyter_mlops.server.queries import runs_page
    from jupyter_mlops.tracking.store import open_store

    for i in range(7):
        with mlops.start_run(f"r{i}", experiment="paged", params={"i": i}, tags={"mlops.kind": "x", "team": "a"}):
            mlops.log_metric("score", i / 10)
            mlops.log_metric("score", float("nan") if i == 6 else i / 10 + 1)
    store = open_store()
    page = runs_page(store, experiment="paged", filter="params.i >= 2", sort="metrics.score", descending=False,
                     page=1, page_size=2)
    assert page["total"] == 5 and [r["name"] for r in page["runs"]] == ["r4", "r5"]
    assert page["runs"][0]["metrics"] == {"score": 1.4} and page["runs"][0]["params"] == {"i": "4"}
    assert page["runs"][0]["tags"] == {"team": "a"}  # mlops.* stay out
    last = runs_page(store, experiment="paged", filter="params.i >= 2", sort="metrics.score", page=0, page_size=10)
    assert None in [r["metrics"]["score"] for r in last["runs"]]  # NaN travels as null
    beyond = runs_page(store, experiment="paged", page=3, page_size=5)
    assert beyond["runs"] == [] and beyond["total"] == 7
