"""Issue 18, the dataset catalog: versions keyed by content, who consumed and produced each, and
schema changes between versions (SQLite and PostgreSQL). The demo pipeline's files: test_lineage.py."""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import jupyter_mlops as mlops
from jupyter_mlops.tracking import datasets
from jupyter_mlops.tracking.store import open_store

from .conftest import PYTHON, python_env


def frame(n=50, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(size=n), "y": rng.integers(0, 2, n)})


def test_versions_are_distinct_contents_with_their_runs_and_schema_changes(backend):
    df = frame()
    with mlops.start_run("a") as a:
        mlops.log_dataset(df, "customers")
    with mlops.start_run("b") as b:
        mlops.log_dataset(df.copy(), "customers")  # same content: the same version, one more consumer
    changed = df.assign(age=np.arange(len(df)), y=df.y.astype(float))
    with mlops.start_run("c") as c:
        mlops.log_dataset(changed, "customers")
        mlops.log_model(LogisticRegression().fit(changed[["x", "age"]], changed.y.astype(int)),
                        training_data=changed[["x", "age", "y"]], target="y")
    store = open_store()
    listed = {d["name"]: d for d in mlops.datasets()}
    assert listed["customers"]["versions"] == 2 and listed["training_data"]["versions"] == 1
    versions = mlops.datasets("customers")
    assert [v["version"] for v in versions] == [1, 2]
    first, second = versions
    assert [u["run_id"] for u in first["consumed_by"]] == [a.id, b.id] and first["produced_by"] == []
    assert [u["run_id"] for u in second["consumed_by"]] == [c.id]
    assert first["schema_changes"] is None
    assert second["schema_changes"] == {"added": ["age"], "removed": [], "changed": {"y": ["int64", "float64"]}}
    assert first["rows"] == 50 and first["profile"]["column_profiles"]["x"]["min"] == float(df.x.min())
    assert first["fingerprint"] == mlops.get_run(a.id).datasets[0]["fingerprint"]
    json.dumps(versions)  # the REST API hands these out as they are
    assert {(v["name"], v["role"]) for v in datasets.versions_of_run(store, c.id)} == {
        ("customers", "input"), ("training_data", "input")}


def test_files_are_versions_by_content(project):
    path = project / "data" / "raw.csv"
    path.parent.mkdir()
    frame().to_csv(path, index=False)
    store = open_store()
    with mlops.start_run("writer") as writer:
        pass
    with mlops.start_run("reader") as reader:
        pass
    datasets.record_step_files(store, writer.id, [], [str(path)], project)
    datasets.record_step_files(store, reader.id, [str(path)], [], project)
    (versions,) = [datasets.dataset_versions(store, "data/raw.csv")]
    assert len(versions) == 1
    only = versions[0]
    assert only["schema"] == {"x": "float64", "y": "int64"} and only["rows"] == 50
    assert only["source_uri"] == path.resolve().as_uri() and only["size_bytes"] == path.stat().st_size
    assert [u["run_id"] for u in only["produced_by"]] == [writer.id]
    assert [u["run_id"] for u in only["consumed_by"]] == [reader.id]


def test_the_cli_lists_datasets_and_versions(project):
    with mlops.start_run("a"):
        mlops.log_dataset(frame(), "customers")
    with mlops.start_run("b"):
        mlops.log_dataset(frame().drop(columns="y"), "customers")
    mlops.flush()
    listing = subprocess.run([PYTHON, "-m", "jupyter_mlops", "datasets"], cwd=project, env=python_env(),
                             capture_output=True, text=True, timeout=120, check=False)
    assert listing.returncode == 0, listing.stderr
    assert "customers" in listing.stdout and " 2 " in listing.stdout
    detail = subprocess.run([PYTHON, "-m", "jupyter_mlops", "datasets", "customers"], cwd=project, env=python_env(),
                            capture_output=True, text=True, timeout=120, check=False)
    assert detail.returncode == 0, detail.stderr
    assert "removed: y" in detail.stdout
    as_json = subprocess.run([PYTHON, "-m", "jupyter_mlops", "datasets", "customers", "--format", "json"], cwd=project,
                             env=python_env(), capture_output=True, text=True, timeout=120, check=False)
    assert [v["version"] for v in json.loads(as_json.stdout)] == [1, 2]
    missing = subprocess.run([PYTHON, "-m", "jupyter_mlops", "datasets", "nope"], cwd=project, env=python_env(),
                             capture_output=True, text=True, timeout=120, check=False)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "no dataset named 'nope'" in missing.stderr
