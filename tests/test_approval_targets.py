"""Approve and export take a run with a model: a pipeline run stands for its model's step, and a
run without a model is refused naming the runs that have one."""
from __future__ import annotations

import subprocess

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

import jupyter_mlops as mlops
from jupyter_mlops.exceptions import InvalidInputError

from .conftest import PYTHON, python_env

TRAIN = """
import jupyter_mlops as mlops
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
X, y = load_breast_cancer(return_X_y=True, as_frame=True)
model = LogisticRegression(C=C, max_iter=3000).fit(X, y)
mlops.log_metric("acc", model.score(X, y))
mlops.log_model(model, training_data=X.assign(target=y), target="target")
"""


def _pipeline(project, sweep: bool):
    cells = [new_code_cell("C = 1.0", metadata={"tags": ["parameters"]}), new_code_cell(TRAIN)]
    nbformat.write(new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                       "language": "python"}}),
                   project / "train.ipynb")
    spec = "name: approvals\nsteps:\n  report: {notebook: report.ipynb}\n  train: {notebook: train.ipynb}\n"
    nbformat.write(new_notebook(cells=[new_code_cell("import jupyter_mlops as mlops\nmlops.log_metric('n', 1)")],
                                metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                         "language": "python"}}), project / "report.ipynb")
    if sweep:
        spec += "sweep:\n  step: train\n  parameters: {C: [0.01, 1.0]}\n  metric: acc\n  goal: maximize\n"
    (project / "pipeline.yaml").write_text(spec)
    return project / "pipeline.yaml"


def test_a_run_without_a_model_is_refused_naming_the_ones_with_one(backend):
    with mlops.start_run("parent") as parent:
        pass
    with mlops.start_run("features", parent=parent) as plain:
        mlops.log_metric("rows", 10)
    from sklearn.dummy import DummyClassifier

    with mlops.start_run("model", parent=parent) as with_model:
        mlops.log_model(DummyClassifier().fit([[0], [1]], [0, 1]))
    for attempt in (lambda: mlops.approve(plain.id, by="ana", reason="looks fine"),
                    lambda: mlops.reject(plain.id, by="ana", reason="no"),
                    lambda: mlops.export(plain.id, name="x")):
        with pytest.raises(InvalidInputError, match=rf"run {plain.id} logged no model.*model \({with_model.id[:8]}\)"):
            attempt()
    assert mlops.search_runs(filter=f"id = '{plain.id}'")["run_id"].tolist() == [plain.id]  # nothing recorded
    from jupyter_mlops.registry.approval import get_approval

    assert get_approval(plain.id) is None


def test_approving_a_pipeline_run_takes_its_best_step_and_the_hint_names_it(backend, project):
    spec = _pipeline(project, sweep=True)
    out = subprocess.run([PYTHON, "-m", "jupyter_mlops", "run", str(spec)], cwd=project,
                         env=python_env(**({"MLOPS_TRACKING_URI": mlops.get_tracking_uri()}
                                           if backend == "postgresql" else {})),
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    pipeline = mlops.search_runs(filter="tags.`mlops.kind` = 'pipeline'")["run_id"].iloc[0]
    best = mlops.search_runs(filter="tags.best = 'true'")
    assert len(best) == 1
    best_id = best["run_id"].iloc[0]
    assert f"next: jupyter mlops approve {best_id[:8]}" in out.stdout

    decision = mlops.approve(pipeline, by="ana", reason="the sweep's winner")
    assert decision["run_id"] == best_id and "best point" in decision["note"]
    version = mlops.export(pipeline, name="clf")
    assert version["run_id"] == best_id


def test_a_pipeline_with_one_model_step_resolves_to_it(backend, project):
    from jupyter_mlops.pipeline.runner import PipelineRunner
    from jupyter_mlops.pipeline.spec import load_spec

    result = PipelineRunner(load_spec(_pipeline(project, sweep=False)), jobs=1).run()
    assert result.ok, result.failures()
    decision = mlops.approve(result.run_id, by="ana", reason="ok")
    assert decision["run_id"] == result.states["train"].run_id and "only step with a model" in decision["note"]


def test_the_cli_says_which_step_of_a_pipeline_it_approved(project):
    from jupyter_mlops.pipeline.runner import PipelineRunner
    from jupyter_mlops.pipeline.spec import load_spec

    result = PipelineRunner(load_spec(_pipeline(project, sweep=False)), jobs=1).run()
    out = subprocess.run([PYTHON, "-m", "jupyter_mlops", "approve", result.run_id[:8], "--by", "ana",
                          "--reason", "ok"], cwd=project, env=python_env(), capture_output=True, text=True, timeout=120)
    step_run = result.states["train"].run_id
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        f"pipeline run {result.run_id[:8]}: taking step train (run {step_run}), its only step with a model",
        f"approved run {step_run} by ana"]
