"""The Python API: what each call records, how re-running behaves, and how bad input is refused."""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import jupyter_mlops as mlops
from jupyter_mlops.exceptions import InvalidInputError, RunNotFoundError
from jupyter_mlops.tracking import artifacts
from jupyter_mlops.tracking.store import open_store

pytestmark = pytest.mark.usefixtures("backend")


def test_context_manager_records_everything(project):
    with mlops.start_run("baseline", experiment="exp", params={"C": 1.0}, tags={"team": "a"}) as run:
        mlops.log_param("model", "svm")
        mlops.log_params({"kernel": "rbf", "grid": [1, 2]})
        for step in range(5):
            mlops.log_metric("loss", 1 / (step + 1), step=step)
        mlops.log_metrics({"auc": np.float32(0.75), "acc": 0.8})
        mlops.set_tag("stage", "dev")
    record = mlops.get_run(run.id)
    assert record.status == "FINISHED" and record.end_time >= record.start_time
    assert record.experiment == "exp" and record.name == "baseline"
    assert record.params == {"C": "1.0", "model": "svm", "kernel": "rbf", "grid": "[1, 2]"}
    assert record.metrics == {"loss": 0.2, "auc": 0.75, "acc": 0.8}
    assert record.tags["team"] == "a" and record.tags["stage"] == "dev"
    history = mlops.get_metric_history(run.id, "loss")
    assert history["step"].tolist() == [0, 1, 2, 3, 4]
    assert record.environment_hash and open_store().environment(record.environment_hash)["packages"]["pandas"]


def test_steps_default_to_next_per_key_and_latest_is_highest_step(project):
    with mlops.start_run() as run:
        mlops.log_metric("a", 1.0)
        mlops.log_metric("a", 2.0)
        mlops.log_metric("b", 5.0, step=10)
        mlops.log_metric("b", 4.0, step=3)  # logged late, but not the latest
        mlops.log_metric("c", float("nan"))
    hist = mlops.get_metric_history(run.id, "a")
    assert hist["step"].tolist() == [0, 1]
    record = mlops.get_run(run.id)
    assert record.metrics["b"] == 5.0
    assert math.isnan(record.metrics["c"])


def test_artifacts_of_every_kind_are_content_addressed(project):
    (project / "data.txt").write_text("hello")
    (project / "folder").mkdir()
    (project / "folder" / "a.json").write_text("{}")
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    with mlops.start_run() as run:
        sha_file = mlops.log_artifact("data.txt")
        mlops.log_artifact(project / "folder")
        mlops.log_artifact(fig, "plot.png")
        mlops.log_artifact(pd.DataFrame({"x": [1, 2]}), "frame.csv")
        mlops.log_artifact("some notes", name="notes.txt")
    paths = {a["path"]: a for a in mlops.get_run(run.id).artifacts}
    assert set(paths) == {"data.txt", "folder/a.json", "plot.png", "frame.csv", "notes.txt"}
    assert paths["plot.png"]["media_type"] == "image/png"
    root = open_store().artifact_root
    assert artifacts.read_bytes(root, sha_file) == b"hello"
    assert artifacts.read_bytes(root, paths["frame.csv"]["sha256"]).decode().splitlines()[0] == ",x"
    assert artifacts.read_bytes(root, paths["plot.png"]["sha256"])[:4] == b"\x89PNG"


def test_dataset_fingerprint_follows_content(project):
    df = pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"]})
    with mlops.start_run() as run:
        first = mlops.log_dataset(df, "train")
        same = mlops.log_dataset(df.copy(), "train-copy")
        changed = mlops.log_dataset(df.assign(x=[1, 2, 4]), "train-changed")
    assert first["fingerprint"] == same["fingerprint"] != changed["fingerprint"]
    assert first["rows"] == 3 and first["columns"] == 2 and first["schema"] == {"x": "int64", "y": str(df["y"].dtype)}
    assert [d["name"] for d in mlops.get_run(run.id).datasets] == ["train", "train-copy", "train-changed"]


@pytest.mark.parametrize("bad", ["0.9", None, [1], object()])
def test_non_numeric_metric_names_the_key_and_records_nothing(project, bad):
    with mlops.start_run() as run:
        mlops.log_metric("ok", 1.0)
        with pytest.raises(InvalidInputError, match="metric 'accuracy'"):
            mlops.log_metric("accuracy", bad)
        with pytest.raises(InvalidInputError, match="metric 'accuracy'"):
            mlops.log_metrics({"f1": 0.5, "accuracy": bad})
    record = mlops.get_run(run.id)
    assert record.metrics == {"ok": 1.0}  # neither f1 nor accuracy half-written


def test_starting_a_run_ends_the_active_one(project):
    first = mlops.start_run("cell")
    second = mlops.start_run("cell")
    third = mlops.start_run("cell")
    mlops.end_run()
    df = mlops.search_runs(order_by=["start_time ASC"])
    assert df["status"].tolist() == ["FINISHED"] * 3
    assert df["run_id"].tolist() == [first.id, second.id, third.id]
    assert df["tags.rerun_of"].isna().tolist() == [True, False, False]
    assert df["tags.rerun_of"].tolist()[1:] == [first.id, second.id]


def test_log_without_run_starts_one(project):
    mlops.log_metric("m", 3.0)
    run = mlops.active_run()
    assert run is not None and mlops.get_run(run.id).metrics == {"m": 3.0}


def test_get_run_by_prefix_and_unknown(project):
    with mlops.start_run() as run:
        pass
    assert mlops.get_run(run.id[:8]).uuid == run.id
    with pytest.raises(RunNotFoundError):
        mlops.get_run("ffffffffffff")


def test_search_runs_filter_order_limit(project):
    for i, model in enumerate(["rf", "rf", "svm", "rf"]):
        with mlops.start_run(f"r{i}", experiment="grid", params={"model": model, "depth": i * 5}):
            mlops.log_metric("auc", 0.85 + i * 0.03)
    with mlops.start_run("other", experiment="elsewhere"):
        mlops.log_metric("auc", 0.99)
    df = mlops.search_runs(experiment="grid", filter="metrics.auc > 0.87 and params.model = 'rf'",
                           order_by=["metrics.auc DESC"])
    assert df["name"].tolist() == ["r3", "r1"]
    assert df["metrics.auc"].tolist() == pytest.approx([0.94, 0.88])
    # A parameter compared with a number is compared as a number: 10 > 5, although '10' < '5'.
    assert mlops.search_runs(filter="params.depth > 5")["name"].tolist() == ["r3", "r2"]
    top = mlops.search_runs(order_by=["metrics.auc DESC"], max_results=2)
    assert top["name"].tolist() == ["other", "r3"]
    assert list(top.columns[:4]) == ["run_id", "name", "experiment", "status"]
    assert mlops.search_runs(filter="params.model = 'xgb'").empty


def test_long_text_is_logged_as_text_not_mistaken_for_a_path(project):
    text = "diff --git a/x b/x\n" + "+line\n" * 5000
    with mlops.start_run() as run:
        sha = mlops.log_artifact(text, name="big.patch")
    assert artifacts.read_bytes(open_store().artifact_root, sha).decode() == text
    assert mlops.get_run(run.id).artifacts[0]["media_type"] == "text/x-diff"
