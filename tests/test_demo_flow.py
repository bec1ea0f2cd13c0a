"""Issue 5, acceptance 1: the demo from notebook to production alias, through the real CLI."""
from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pandas as pd
import skops.io as sio

import jupyter_mlops as mlops
from jupyter_mlops.registry import audit, versions

from .conftest import PYTHON, ROOT, python_env


def test_demo_approves_exports_and_aliases_the_best_model(project, monkeypatch):
    shutil.copytree(ROOT / "notebooks", project / "notebooks", ignore=shutil.ignore_patterns("build"))
    demo = subprocess.run([PYTHON, "-m", "jupyter_mlops", "demo"], cwd=project, env=python_env(),
                          capture_output=True, text=True, timeout=600)
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "cancer-clf@production verified" in demo.stdout
    said = demo.stdout + demo.stderr
    assert ".export-" not in said  # no temporary folder names
    assert "ONNX for cancer-clf/1: written: matches scikit-learn" in demo.stdout

    production = versions.get_version("cancer-clf@production")
    best = mlops.get_run(production["run_id"])
    assert best.tags["best"] == "true" and production["approval"]["actor"] == "demo"

    # The model the notebook itself wrote, at the path its step recorded as an output.
    written = json.loads(best.tags["mlops.outputs"])["model"]["path"]
    in_notebook = sio.load(written, trusted=sio.get_untrusted_types(file=written))
    test = pd.read_csv(project / "notebooks" / "build" / "data" / "test.csv")
    X = test.drop(columns="target")
    loaded = mlops.load_model("cancer-clf@production")
    assert np.array_equal(loaded.predict(X), in_notebook.predict(X))
    assert np.allclose(loaded.predict_proba(X), in_notebook.predict_proba(X))
    assert mlops.verify("cancer-clf@production").ok
    assert {"prepare", "train"} <= {step for step in (n.split("/")[2] for n in _package_notebooks(production))}

    import mlflow
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    pyfunc = mlflow.pyfunc.load_model(production["package_uri"])
    assert np.array_equal(np.asarray(pyfunc.predict(X)), in_notebook.predict(X))

    again = subprocess.run([PYTHON, "-m", "jupyter_mlops", "demo"], cwd=project, env=python_env(),
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert [v["version"] for v in versions.list_versions("cancer-clf")] == [1]  # same run: no new version
    assert [e["action"] for e in audit.audit_log()].count("export") == 1


def _package_notebooks(record):
    from pathlib import Path

    folder = Path(record["package_uri"])
    return [p.relative_to(folder).as_posix() for p in (folder / "lineage" / "notebooks").rglob("*.ipynb")]
