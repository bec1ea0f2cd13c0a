"""Issue 18, datasets and lineage on the demo pipeline (notebooks/pipeline.yaml, run as `jupyter mlops
demo` runs it): the catalog's file versions with the steps that produced and consumed them, and the
lineage graph in both directions, from the raw files to the served model and its monitor run."""
from __future__ import annotations

import json
import shutil
import subprocess

import pandas as pd
import pytest

from jupyter_mlops.lineage.graph import lineage
from jupyter_mlops.tracking import datasets
from jupyter_mlops.tracking.store import open_store

from .conftest import PYTHON, ROOT, python_env


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo run once for the module, then watched by a monitor run and served with a prediction log."""
    from jupyter_mlops import config
    from jupyter_mlops.tracking import lifecycle, store

    folder = tmp_path_factory.mktemp("demo")
    (folder / ".mlops").mkdir()
    shutil.copytree(ROOT / "notebooks", folder / "notebooks", ignore=shutil.ignore_patterns("build"))
    done = subprocess.run([PYTHON, "-m", "jupyter_mlops", "demo"], cwd=folder, env=python_env(), capture_output=True,
                          text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    uri = str(folder / ".mlops" / "mlops.db")
    lifecycle.shutdown()
    store.forget_open_stores()
    config.set_tracking_uri(uri)
    opened = open_store(uri)
    test = pd.read_csv(folder / "notebooks" / "build" / "data" / "test.csv")
    from jupyter_mlops.monitoring.monitor import monitor
    from jupyter_mlops.serving.prediction_log import PredictionLogger

    watched = monitor("cancer-clf@production", current=test, target="target", store=opened)
    features = test.drop(columns="target")
    logger = PredictionLogger(opened, "cancer-clf", 1, list(features.columns), rate=1.0).start()
    logger.offer(features.head(3), [0, 1, 1])
    logger.close()
    yield {"folder": folder, "store": opened, "monitor_run": watched.run_id}
    lifecycle.shutdown()
    store.forget_open_stores()
    config._explicit_uri = None


def _runs_by_step(store):
    from sqlalchemy import select

    from jupyter_mlops.tracking import schema as s

    with store.engine.connect() as conn:
        rows = conn.execute(select(s.runs.c.uuid, s.runs.c.summary)).all()
    by_step = {}
    for run_id, summary in rows:
        step = json.loads(summary).get("tags", {}).get("mlops.step")
        if step:
            by_step.setdefault(step, []).append(run_id)
    return by_step


def test_the_demo_files_are_dataset_versions_with_their_steps(demo):
    store = demo["store"]
    names = {d["name"] for d in datasets.list_datasets(store)}
    assert {"build/data/train.csv", "build/data/test.csv", "training_data"} <= names
    model_files = sorted(n for n in names if n.endswith("model.skops"))  # one per sweep point
    by_step = _runs_by_step(store)
    (train_csv,) = datasets.dataset_versions(store, "build/data/train.csv")
    assert [u["run_id"] for u in train_csv["produced_by"]] == by_step["prepare"]
    consumers = {u["run_id"] for u in train_csv["consumed_by"]}
    assert set(by_step["train"]) | set(by_step["evaluate"]) == consumers and len(by_step["train"]) == 4
    assert train_csv["schema"]["target"] == "int64" and train_csv["rows"] == 426
    assert train_csv["source_uri"].endswith("/notebooks/build/data/train.csv")
    produced = {u["run_id"] for name in model_files for v in datasets.dataset_versions(store, name) for u in v["produced_by"]}
    assert produced == set(by_step["train"]), model_files


def test_lineage_upstream_of_the_production_alias_reaches_the_raw_files(demo):
    store = demo["store"]
    up = lineage(store, "cancer-clf@production", "up")
    kinds = {n["kind"] for n in up.nodes.values()}
    assert {"alias", "model", "run", "dataset", "pipeline"} <= kinds
    labels = {n["label"].split(" @")[0] for n in up.nodes.values() if n["kind"] == "dataset"}
    assert {"build/data/train.csv", "build/data/test.csv", "training_data"} <= labels
    steps = {n["label"].split(" (")[0] for n in up.nodes.values() if n["kind"] == "run"}
    assert {"step train", "step prepare"} <= steps and "step evaluate" not in steps
    relations = {(up.nodes[a]["kind"], up.nodes[b]["kind"], r) for a, b, r in up.edges}
    assert {("model", "alias", "alias"), ("run", "model", "exported as"), ("dataset", "run", "consumed by"),
            ("run", "dataset", "produced"), ("pipeline", "run", "step")} <= relations
    assert "served" not in kinds and "monitor" not in kinds  # downstream of the model, not upstream


def test_lineage_downstream_of_the_training_file_reaches_serving_and_monitoring(demo):
    store = demo["store"]
    down = lineage(store, "build/data/train.csv", "down")
    ids = set(down.nodes)
    assert {"model:cancer-clf/1", "alias:cancer-clf@production", "served:cancer-clf/1",
            f"run:{demo['monitor_run']}"} <= ids
    assert down.nodes["served:cancer-clf/1"]["predictions"] == 3
    assert down.nodes[f"run:{demo['monitor_run']}"]["kind"] == "monitor"
    assert not any(n["kind"] == "pipeline" for n in down.nodes.values())  # upstream of the steps, not downstream
    # And back up from the monitor run: the model it watched, down to the same raw file.
    back = lineage(store, demo["monitor_run"], "up")
    assert "model:cancer-clf/1" in back.nodes and any(
        n.get("name") == "build/data/train.csv" for n in back.nodes.values())


def test_the_cli_prints_lineage_as_json_dot_and_text(demo):
    env = python_env(MLOPS_TRACKING_URI=str(demo["folder"] / ".mlops" / "mlops.db"))

    def run(*args):
        done = subprocess.run([PYTHON, "-m", "jupyter_mlops", "lineage", *args], cwd=demo["folder"], env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        return done

    as_json = run("cancer-clf@production", "--up", "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    graph = json.loads(as_json.stdout)
    assert graph["direction"] == "up" and graph["start"] == ["alias:cancer-clf@production"]
    assert any(e["relation"] == "exported as" for e in graph["edges"])
    dot = run("cancer-clf/1", "--down", "--format", "dot")
    assert dot.stdout.startswith("digraph lineage {") and '"model:cancer-clf/1" -> "alias:cancer-clf@production"' in dot.stdout
    text = run("cancer-clf/1", "--down")
    assert text.stdout.splitlines()[0].startswith("model    cancer-clf/1")
    missing = run("no-such-thing", "--up")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "no run, model reference or dataset" in missing.stderr
