"""mlops.monitor / jupyter mlops monitor: a monitoring run in the store, the report, bad input as one line."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import jupyter_mlops as mlops
from jupyter_mlops.tracking.profile import profile_dataframe, save_profile

from .conftest import PYTHON, python_env
from .test_monitoring_drift import SHIFTED, generate


@pytest.fixture
def profile_file(project):
    return save_profile(profile_dataframe(generate(3000, seed=1)), project / "reference.json")


def test_monitor_records_a_run_with_metrics_and_report(backend, project, profile_file):
    current = generate(4000, seed=2, shift=True)
    with mlops.start_run("training") as training:
        result = mlops.monitor(profile_file, current)
        assert mlops.active_run() is training  # the monitoring run leaves the caller's run alone
    assert set(result.drifted_columns) == SHIFTED and result.run_id
    record = mlops.get_run(result.run_id)
    assert record.tags["mlops.kind"] == "monitor" and record.tags["mlops.dataset_drift"] == "false"
    assert record.status == "FINISHED"
    assert record.metrics["drift.share"] == pytest.approx(0.3)
    assert record.metrics["drift.drifted_columns"] == 3
    assert record.metrics["drift.income.wasserstein"] == pytest.approx(result["income"].statistic)
    names = {artifact["path"] for artifact in record.artifacts}
    assert {"drift_report.html", "drift.json"} <= names
    found = mlops.search_runs(filter="tags.mlops.kind = 'monitor'")
    assert found["run_id"].tolist() == [result.run_id]


def test_performance_against_reference_metrics(project, profile_file):
    from sklearn.linear_model import LogisticRegression

    data = generate(4000, seed=2)
    features = data[["age", "tenure", "score"]].fillna(0)
    label = (data["score"] + 0.1 * data["tenure"] > 0.8).astype(int)
    model = LogisticRegression().fit(features.iloc[:2000], label.iloc[:2000])
    current = data.iloc[2000:].assign(label=label.iloc[2000:], predicted=model.predict(features.iloc[2000:]))
    scores = model.predict_proba(features.iloc[2000:])[:, 1]
    result = mlops.monitor(profile_file, current, target="label", predictions="predicted", scores=scores,
                           reference_metrics={"accuracy": 0.99, "f1": 0.5}, record=False)
    performance = result.performance
    assert performance["rows"] == 2000 and result.run_id is None
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    assert performance["current"]["accuracy"] == accuracy_score(current["label"], current["predicted"])
    assert performance["current"]["f1"] == f1_score(current["label"], current["predicted"])
    assert performance["current"]["roc_auc"] == roc_auc_score(current["label"], scores)
    assert performance["change"]["accuracy"] == pytest.approx(performance["current"]["accuracy"] - 0.99)
    assert "label" not in [c.column for c in result.columns]
    regression = mlops.monitor(profile_file, current.assign(y=current["score"] * 2), target="y",
                               predictions=current["score"].to_numpy() * 2 + 0.5, record=False)
    assert regression.performance["current"] == {"rmse": pytest.approx(0.5), "mae": pytest.approx(0.5)}
    from jupyter_mlops.exceptions import InvalidInputError

    with pytest.raises(InvalidInputError, match="performance needs predictions with the target"):
        mlops.monitor(profile_file, current, target="label", record=False)


def test_report_html_file_and_notebook_view(project, profile_file):
    current = generate(4000, seed=2, shift=True)
    result = mlops.monitor(profile_file, current, record=False, html=project / "report.html")
    page = (project / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "no dataset drift: 3 of 10 tested columns drifted" in page
    assert page.count("data:image/png;base64,") == 10
    fragment = result._repr_html_()
    assert "<html>" not in fragment and "income" in fragment
    assert "income" in result.describe() and "wasserstein" in result.describe()  # 3000 reference rows


def test_validate_is_public(project, profile_file):
    result = mlops.validate(generate(100, seed=3).drop(columns="age"), against=profile_file)
    assert [(f.column, f.rule) for f in result.failures] == [("age", "missing column")]


def run_cli(capsys, *args):
    """``jupyter mlops ARGS`` in this process (the project folder is the cwd)."""
    from jupyter_mlops.cli import main

    capsys.readouterr()
    code = main([str(arg) for arg in args])
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out, err)


def test_cli_monitor_reports_and_records(project, profile_file, capsys):
    current = generate(3000, seed=2, shift=True)
    current.to_csv(project / "current.csv", index=False)
    out = run_cli(capsys, "monitor", profile_file, "current.csv", "--html", "report.html")
    assert out.returncode == 0, out.stderr
    assert "no dataset drift: 3 of 10 tested columns drifted (30%)" in out.stdout
    assert "recorded as monitoring run" in out.stdout and (project / "report.html").exists()
    flagged = run_cli(capsys, "monitor", profile_file, "current.csv", "--no-record", "--fail-on-drift")
    assert flagged.returncode == 0  # 30% < 50%: no dataset drift
    shifted = generate(3000, seed=2, shift=True).assign(age=lambda d: d["age"] + 30, region="north",
                                                         tenure=lambda d: d["tenure"] * 3)
    shifted.to_parquet(project / "shifted.parquet")
    failed = run_cli(capsys, "monitor", profile_file, "shifted.parquet", "--no-record", "--fail-on-drift")
    assert failed.returncode == 1 and "DATASET DRIFT" in failed.stdout


@pytest.mark.parametrize("name, content, message", [
    ("nowhere.csv", None, "current data file nowhere.csv does not exist"),
    ("empty.csv", "", "empty.csv: cannot read as CSV"),
    ("data.xlsx", "x", "unsupported file type .xlsx"),
    ("bad.parquet", "x", "bad.parquet: not a readable Parquet"),
])
def test_cli_bad_files_give_one_line_not_a_traceback(project, profile_file, capsys, name, content, message):
    if content is not None:
        (project / name).write_text(content)
    out = run_cli(capsys, "monitor", profile_file, name, "--no-record")
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_cli_awkward_data_gives_verdicts_not_a_traceback(project, profile_file, capsys):
    awkward = generate(50, seed=4).drop(columns=["plan"]).assign(age=np.nan, score="high")
    awkward.to_csv(project / "awkward.csv", index=False)
    # the real command, as a user runs it: verdicts with reasons on stdout, no traceback
    # 'plan' is missing: a failed check, exit 1 with the column named, whatever --fail-on-drift says
    for extra in ([], ["--fail-on-drift"]):
        out = subprocess.run([PYTHON, "-m", "jupyter_mlops", "monitor", str(profile_file), "awkward.csv", "--no-record",
                              *extra], capture_output=True, text=True, cwd=project, env=python_env(), timeout=120,
                             check=False)
        assert out.returncode == 1 and "Traceback" not in out.stderr
        assert out.stderr == "jupyter mlops monitor: error: awkward.csv lacks 1 column of the reference: plan\n"
        assert out.stdout.startswith("FAILED CHECK: 1 column(s) of the reference missing from the current data: plan")
        assert "column missing from the current data" in out.stdout and "every current value is missing" in out.stdout
        assert "reference is numerical (float64), current is" in out.stdout
    pd.DataFrame(columns=[*awkward.columns, "plan"]).to_csv(project / "header_only.csv", index=False)
    out = run_cli(capsys, "monitor", profile_file, "header_only.csv", "--no-record")
    assert out.returncode == 0 and "not enough data to decide" in out.stdout
    pd.DataFrame(columns=awkward.columns).to_csv(project / "header_only.csv", index=False)
    out = run_cli(capsys, "monitor", profile_file, "header_only.csv", "--no-record", "--format", "json")
    assert out.returncode == 1 and out.stderr.endswith("lacks 1 column of the reference: plan\n")
    assert [c["column"] for c in json.loads(out.stdout)["columns"] if c["status"] == "missing"] == ["plan"]
    out = run_cli(capsys, "monitor", "no-such-profile.json", "awkward.csv")
    assert out.returncode == 2 and "cannot read profile no-such-profile.json" in out.stderr
    out = run_cli(capsys, "monitor", profile_file, "awkward.csv", "--target", "churn", "--predictions", "p")
    assert out.returncode == 2 and "column 'churn' is not in the current data" in out.stderr


def test_monitor_a_registered_model_scores_the_data_and_tags_the_version(backend, project, capsys):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score

    features = ["tenure", "score", "balance", "visits"]

    def labelled(seed, shift=False):
        data = generate(3000, seed=seed)[features]
        if shift:
            data = data.assign(balance=data["balance"] + 1500)
        return data.assign(label=(data["score"] + 0.1 * data["tenure"] > 0.8).astype(int))

    train = labelled(1)
    with mlops.start_run("train") as run:
        model = LogisticRegression(max_iter=500).fit(train[features], train["label"])
        mlops.log_metric("accuracy", accuracy_score(train["label"], model.predict(train[features])))
        mlops.log_model(model, training_data=train, target="label")
    mlops.approve(run.id, by="lead", reason="good enough")
    mlops.export(run.id, name="churn")
    mlops.set_alias("churn", 1, "production", by="lead")

    current = labelled(2, shift=True)
    result = mlops.monitor("churn@production", current, target="label")
    assert result.drifted_columns == ["balance"] and result.reference_label == "churn/1"
    assert "label" not in [c.column for c in result.columns]
    expected = accuracy_score(current["label"], model.predict(current[features]))
    assert result.performance["current"]["accuracy"] == pytest.approx(expected)
    assert result.performance["change"]["accuracy"] == pytest.approx(
        expected - mlops.get_run(run.id).metrics["accuracy"])
    assert 0.5 < result.performance["current"]["roc_auc"] <= 1
    record = mlops.get_run(result.run_id)
    assert record.tags["mlops.model"] == "churn/1" and record.tags["mlops.kind"] == "monitor"
    assert record.metrics["performance.accuracy"] == pytest.approx(expected)

    current.to_csv(project / "current.csv", index=False)
    out = run_cli(capsys, "monitor", "churn@production", "current.csv", "--target", "label", "--no-record")
    assert out.returncode == 0 and "reference churn/1" in out.stdout and "performance accuracy" in out.stdout
    missing = run_cli(capsys, "monitor", "churn@staging", "current.csv")
    assert missing.returncode == 2 and "staging" in missing.stderr


@pytest.fixture
def churn_model(backend):
    """``churn/1`` (alias production): a logistic regression on four features, and its data maker."""
    from sklearn.linear_model import LogisticRegression

    features = ["tenure", "score", "balance", "visits"]

    def labelled(seed):
        data = generate(1500, seed=seed)[features]
        return data.assign(label=(data["score"] + 0.1 * data["tenure"] > 0.8).astype(int))

    train = labelled(1)
    with mlops.start_run("train") as run:
        mlops.log_model(LogisticRegression(max_iter=500).fit(train[features], train["label"]), training_data=train,
                        target="label")
    mlops.approve(run.id, by="lead", reason="good enough")
    mlops.export(run.id, name="churn")
    mlops.set_alias("churn", 1, "production", by="lead")
    return labelled


def test_a_model_feature_missing_from_the_data_fails_the_check(churn_model, project, capsys):
    churn_model(2).drop(columns=["visits"]).to_csv(project / "current.csv", index=False)
    for extra in ([], ["--fail-on-drift"], ["--target", "label"]):  # --target alone: the model scores the data
        out = run_cli(capsys, "monitor", "churn@production", "current.csv", "--no-record", *extra)
        assert out.returncode == 1, out.stderr
        assert out.stderr == "jupyter mlops monitor: error: current.csv lacks 1 column of the reference: visits\n"
    assert "performance: not computed: the model's features visits are missing from the current data" in out.stdout
    result = mlops.monitor("churn@production", project / "current.csv", target="label")
    assert not result.ok and result.missing_columns == ["visits"]
    assert mlops.get_run(result.run_id).tags["mlops.failed_check"] == "columns missing from the current data: visits"

    churn_model(3).to_csv(project / "complete.csv", index=False)
    out = run_cli(capsys, "monitor", "churn@production", "complete.csv", "--no-record", "--target", "label")
    assert out.returncode == 0 and "performance accuracy = " in out.stdout and out.stderr == ""


def test_a_reference_means_the_registry_and_a_file_only_when_written_as_a_path(churn_model, project, profile_file,
                                                                                capsys):
    churn_model(2).to_csv(project / "current.csv", index=False)
    # a profile file named like the model in the current folder is not read in the model's place
    (project / "churn").write_text(profile_file.read_text())
    assert mlops.monitor("churn", project / "current.csv", record=False).reference_label == "churn/1"
    assert mlops.monitor("./churn", project / "current.csv", record=False).reference_label == "churn"
    out = run_cli(capsys, "monitor", "churn", "current.csv", "--no-record")
    assert out.returncode == 0 and "reference churn/1" in out.stdout

    (project / "reference").write_text(profile_file.read_text())
    out = run_cli(capsys, "monitor", "reference", "current.csv", "--no-record")
    assert out.returncode == 2
    assert out.stderr == ("jupyter mlops monitor: error: no registered model named 'reference'; see `jupyter mlops "
                          "models`; a file is read only when written as a path: ./reference\n")
    generate(1500, seed=2).to_csv(project / "full.csv", index=False)  # every column of the profiles
    for written in ("./reference", str(project / "reference"), "reference.json"):
        out = run_cli(capsys, "monitor", written, "full.csv", "--no-record")
        assert out.returncode == 0 and f"reference {Path(written)} (3000 rows)" in out.stdout, out.stderr

    from jupyter_mlops.registry.versions import get_version

    package = get_version("churn/1")["package_uri"]  # a package folder given as a path is a model too
    assert mlops.monitor(Path(package), project / "current.csv", record=False).reference_label == "churn/1"


@pytest.mark.parametrize("reference", ["a" * 10_000, "./" + "a" * 10_000, "a" * 10_000 + ".json", "x/" * 5000])
def test_a_too_long_reference_is_one_line(project, capsys, reference):
    generate(20, seed=1).to_csv(project / "current.csv", index=False)
    out = run_cli(capsys, "monitor", reference, "current.csv", "--no-record")
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and len(out.stderr) < 400, out.stderr[:500]
