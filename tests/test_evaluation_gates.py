"""Issue 18, gates on slices: `min(slice.*.recall) >= 0.8` and fairness keys in the approval gates;
a refusal names the worst slice."""
from __future__ import annotations

import subprocess

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import jupyter_mlops as mlops
from jupyter_mlops.exceptions import ApprovalRefusedError, InvalidInputError
from jupyter_mlops.registry import gates

from .conftest import PYTHON, python_env


def unfair_data(n=4000, seed=0) -> pd.DataFrame:
    """The label depends on sex, which the model never sees: it misses positives with sex=F."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"sex": rng.choice(["F", "M"], n), "x": rng.normal(size=n)})
    df["y"] = (df.x + np.where(df.sex == "F", 0.9, 0.0) + rng.normal(scale=0.3, size=n) > 0.4).astype(int)
    return df


def evaluated_run(df):
    with mlops.start_run("candidate") as run:
        model = LogisticRegression().fit(df[["x"]], df.y)
        mlops.log_model(model, training_data=df[["x", "y"]], target="y")
    result = mlops.evaluate(run.id, df, target="y", slices=["sex"], sensitive_features=["sex"], n_bootstrap=100,
                            explain=False)
    return run.id, result


def gates_file(project, *rules):
    quoted = ", ".join(f"'{r}'" for r in rules)
    (project / "pyproject.toml").write_text(f"[tool.jupyter_mlops.approval]\nrequire = [{quoted}]\n")


def test_a_gate_on_the_worst_slice_refuses_and_names_it(backend, project):
    run_id, result = evaluated_run(unfair_data())
    recall = {s["label"]: s["metrics"]["recall"]["value"] for s in result.slices}
    assert recall["sex=F"] < 0.8 <= recall["sex=M"]
    gates_file(project, "min(slice.*.recall) >= 0.8")
    with pytest.raises(ApprovalRefusedError) as refused:
        mlops.approve(run_id, by="ana", reason="ship it")
    message = str(refused.value)
    count = next(s["count"] for s in result.slices if s["label"] == "sex=F")
    assert f"min(slice.*.recall) is {recall['sex=F']:.4g} at slice sex=F (n={count})" in message
    assert "1 of 2 fail >= 0.8" in message and "slice.sex=F.recall.ci_low" not in message
    assert mlops.get_run(run_id).metrics["slice.sex=F.recall"] == pytest.approx(recall["sex=F"])

    # The fairness key gates the same way; a looser gate lets the run through.
    gap = result.fairness["equal_opportunity_difference"]["value"]
    gates_file(project, "fairness.equal_opportunity_difference <= 0.05")
    with pytest.raises(ApprovalRefusedError, match=f"fairness.equal_opportunity_difference is {gap:.4g}"):
        mlops.approve(run_id, by="ana", reason="ship it")
    gates_file(project, f"min(slice.*.recall) >= {recall['sex=F'] - 0.01:.4f}",
               f"metrics.fairness.equal_opportunity_difference <= {gap + 0.01:.4f}", "metrics.eval.accuracy > 0.5")
    assert mlops.approve(run_id, by="ana", reason="gaps known and accepted")["decision"] == "approved"


def test_a_gate_about_slices_never_evaluated_refuses(project):
    df = unfair_data(n=300)
    with mlops.start_run("plain") as run:
        mlops.log_model(LogisticRegression().fit(df[["x"]], df.y), training_data=df[["x", "y"]], target="y")
    gates_file(project, "max(slice.*.ece) < 0.1")
    with pytest.raises(ApprovalRefusedError, match=r"no metric matches 'slice\.\*\.ece'; evaluate the run"):
        mlops.approve(run.id, by="ana")


def test_the_cli_refusal_is_one_line_naming_the_slice(project):
    run_id, _ = evaluated_run(unfair_data(n=1500))
    gates_file(project, "min(slice.*.recall) >= 0.8")
    done = subprocess.run([PYTHON, "-m", "jupyter_mlops", "approve", run_id, "--by", "ana"], cwd=project,
                          env=python_env(), capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "at slice sex=F (n=" in done.stderr


@pytest.mark.parametrize("rule, aggregate, pattern", [
    ("min(slice.*.recall) >= 0.8", "min", "slice.*.recall"),
    ("MAX( metrics.slice.age_band=*.ece )<0.05", "max", "slice.age_band=*.ece"),
    ("fairness.demographic_parity_difference <= 0.1", None, "fairness.demographic_parity_difference"),
    ("slice.sex=F,age_band=30-50.recall > 0.5", None, "slice.sex=F,age_band=30-50.recall"),
    ("metrics.accuracy >= 0.9", "sql", None),
    ("tags.reviewed = 'yes'", "sql", None),
])
def test_rules_split_between_metric_gates_and_the_filter_language(rule, aggregate, pattern):
    gate = gates.parse(rule)
    if aggregate == "sql":
        assert gate is None
    else:
        assert (gate.aggregate, gate.pattern) == (aggregate, pattern)


def test_glob_brackets_are_literal():
    gate = gates.parse("min(slice.age=[30, 40).recall) >= 0.5")
    assert gate is None or gate.failure({"slice.age=[30, 40).recall": 0.6}) is None
    gate = gates.parse("min(slice.*.recall) >= 0.5")
    assert gate.failure({"slice.age=[30_ 40).recall": 0.6, "slice.age=[30_ 40).recall.ci_low": 0.1}) is None


def test_a_broken_gate_still_names_the_file(project):
    gates_file(project, "min(slice.*.recall >= 0.8")
    df = unfair_data(n=300)
    with mlops.start_run("plain") as run:
        mlops.log_model(LogisticRegression().fit(df[["x"]], df.y), training_data=df[["x", "y"]], target="y")
    with pytest.raises(InvalidInputError, match=r"\[tool.jupyter_mlops.approval\] require"):
        mlops.approve(run.id, by="ana")
