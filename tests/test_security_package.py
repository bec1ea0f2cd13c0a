"""Attacks on export, load and model references (issue 13: items 2, 3, 4 and the registry's low items).

Each attack is one line of a table, so a new case is one more line. Everything that touches the
store runs on SQLite and PostgreSQL (``backend``). The REST verify case is in
test_server_security_refs.py (server tests need their own event loop fixture).
"""
from __future__ import annotations

import builtins
import json
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.datasets import fetch_openml, load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.feature_selection import SelectKBest
from sklearn.gaussian_process import GaussianProcessClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.svm import SVC
from sqlalchemy import insert, update

import jupyter_mlops as mlops
from jupyter_mlops.cli import main
from jupyter_mlops.exceptions import (
    ApprovalRefusedError,
    InvalidInputError,
    InvalidNameError,
    ModelNotFoundError,
    PackageVerificationError,
)
from jupyter_mlops.registry import audit, versions
from jupyter_mlops.registry.trusted_types import refused_types
from jupyter_mlops.tracking import schema as s
from jupyter_mlops.tracking.store import open_store

from .conftest import PYTHON, python_env
from .helpers.side_effects import record_call

NOTEBOOK = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def logged(model, name: str = "train", training_data=None, **tags) -> str:
    """An approved run that logged ``model`` (and a notebook); returns its id."""
    with mlops.start_run(name, tags=tags or None) as run:
        mlops.log_artifact(NOTEBOOK, name="notebook/train.ipynb")
        mlops.log_model(model, training_data=training_data, target="target" if training_data is not None else None)
    mlops.approve(run.id, by="ana", reason="ok")
    return run.id


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def outside_target() -> Path:
    """A path under the system temp folder that a name climbing out of its folder would write to."""
    return Path(tempfile.gettempdir()) / f"mlops-escape-{uuid.uuid4().hex[:12]}"


def climbing(target: Path) -> str:
    return "../" * 30 + str(target).lstrip("/")


# -- item 2: trust is a list of exact types ------------------------------------------------------
DANGEROUS = [  # (what the model holds, the type name skops reports for it)
    (builtins.eval, "builtins.eval"),
    (builtins.exec, "builtins.exec"),
    (builtins.getattr, "builtins.getattr"),
    (builtins.__import__, "builtins.__import__"),
    (builtins.open, "io.open"),
    (builtins.compile, "builtins.compile"),
    (builtins.print, "builtins.print"),
    (os.system, "posix.system"),
    (os.popen, "os.popen"),
    (os.remove, "posix.remove"),
    (subprocess.Popen, "subprocess.Popen"),
    (subprocess.check_output, "subprocess.check_output"),
    (np.load, "numpy.load"),  # "numpy." was a trusted prefix; np.load can unpickle
    (fetch_openml, "sklearn.datasets._openml.fetch_openml"),  # so was "sklearn."
    (record_call, "tests.helpers.side_effects.record_call"),  # any function object
]
NESTINGS = {  # how deep the function sits in the model
    "FunctionTransformer": lambda f: FunctionTransformer(f),
    "Pipeline": lambda f: make_pipeline(StandardScaler(), FunctionTransformer(f), LogisticRegression()),
    "ColumnTransformer": lambda f: make_pipeline(
        ColumnTransformer([("num", make_pipeline(FunctionTransformer(f), StandardScaler()), [0])]),
        LogisticRegression()),
}


@pytest.mark.parametrize(("func", "type_name"), DANGEROUS, ids=[t for _, t in DANGEROUS])
def test_a_dangerous_type_is_refused_at_export_without_trust(backend, func, type_name):
    for nesting, build in NESTINGS.items():
        run_id = logged(build(func), nesting)
        with pytest.raises(InvalidInputError, match=re.escape(type_name)) as refused:
            mlops.export(run_id, name="m")
        assert "--trust" in str(refused.value), nesting
        with pytest.raises(InvalidInputError, match=re.escape(type_name)):  # a prefix of it is no trust
            mlops.export(run_id, name="m", trust=[type_name.rsplit(".", 1)[0]])
    assert versions.list_models() == []


@pytest.mark.parametrize("trust", ["builtins.", "builtins.*", "numpy.*", "sklearn.[a-z]*", "", "posix.sys?em"])
def test_trust_takes_exact_type_names_never_a_prefix_or_pattern(backend, trust):
    run_id = logged(NESTINGS["Pipeline"](builtins.eval))
    with pytest.raises(InvalidInputError, match="is not a type name"):
        mlops.export(run_id, name="m", trust=[trust])


def test_cli_export_refuses_in_one_line_and_accepts_named_trust(backend, capsys):
    run_id = logged(NESTINGS["ColumnTransformer"](builtins.eval))
    assert main(["export", run_id, "--name", "m"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "builtins.eval" in err[0] and "--trust" in err[0]
    assert main(["export", run_id, "--name", "m", "--trust", "builtins.eval"]) == 0
    assert versions.get_version("m/1")["trusted_types"] == ["builtins.eval"]


LOAD_CASES = [(builtins.eval, "builtins.eval"), (os.system, "posix.system"),
              (record_call, "tests.helpers.side_effects.record_call")]


@pytest.mark.parametrize(("func", "type_name"), LOAD_CASES, ids=[t for _, t in LOAD_CASES])
def test_a_trusted_type_loads_only_while_the_registry_lists_it_and_loading_calls_nothing(
        backend, tmp_path, monkeypatch, func, type_name):
    called = tmp_path / "called.txt"
    monkeypatch.setenv("MLOPS_TEST_CALLED", str(called))
    X, y = load_breast_cancer(return_X_y=True)
    model = NESTINGS["Pipeline"](func)
    if func is record_call:  # fitted, so a prediction would reach the function
        model.fit(X, y)
        called.unlink()
    run_id = logged(model)
    record = mlops.export(run_id, name="m", trust=[type_name])
    assert type_name in record["trusted_types"]
    loaded = mlops.load_model("m/1")
    assert isinstance(loaded.estimator, Pipeline) and not called.exists()  # built, never called

    store = open_store()
    with store.writing() as conn:  # the registry no longer lists the type
        conn.execute(update(s.model_versions).where(s.model_versions.c.name == "m").values(
            trusted_types=json.dumps([t for t in record["trusted_types"] if t != type_name])))
    with pytest.raises(PackageVerificationError, match=f"does not trust for m/1: {re.escape(type_name)}"):
        mlops.load_model("m/1")
    assert not called.exists()
    if func is record_call:  # the marker works: calling the model leaves it
        loaded.estimator.predict(X[:2])
        assert called.exists()


COMMON_MODELS = {  # fitted scikit-learn models that must export with no --trust
    "RandomForest": lambda X, y: RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y),
    "GradientBoosting": lambda X, y: GradientBoostingClassifier(n_estimators=3).fit(X, y),
    "HistGradientBoosting": lambda X, y: HistGradientBoostingClassifier(max_iter=3).fit(X, y),
    "KNeighbors": lambda X, y: KNeighborsClassifier().fit(X, y),
    "KNeighbors ball_tree": lambda X, y: KNeighborsClassifier(algorithm="ball_tree", metric="manhattan").fit(X, y),
    "MLP": lambda X, y: MLPClassifier(max_iter=5).fit(X, y),
    "SVC": lambda X, y: SVC().fit(X, y),
    "GaussianProcess": lambda X, y: GaussianProcessClassifier().fit(X[:60], y[:60]),
    "Pipeline+ColumnTransformer+FunctionTransformer(np.log1p)+SelectKBest": lambda X, y: Pipeline([
        ("columns", ColumnTransformer([
            ("num", make_pipeline(SimpleImputer(), FunctionTransformer(np.log1p, np.expm1), StandardScaler()),
             list(X.columns[:-1])),
            ("cat", OneHotEncoder(handle_unknown="ignore"), [X.columns[-1]])])),
        ("select", SelectKBest(k=5)), ("clf", LogisticRegression(max_iter=500))]).fit(X, y),
}


@pytest.mark.parametrize("name", COMMON_MODELS)
def test_scikit_learn_models_need_no_trust(name):
    data = load_breast_cancer(as_frame=True)
    X = data.data.abs().assign(kind=np.where(data.data["mean radius"] > 14, "big", "small"))
    X = X if name.startswith("Pipeline") else X.drop(columns="kind").to_numpy()
    model = COMMON_MODELS[name](X, data.target)
    assert refused_types(sio.get_untrusted_types(data=sio.dumps(model)), []) == []


# -- item 3: names never become paths --------------------------------------------------------------
BAD_ARTIFACT_NAMES = [  # (name, what the error says)
    ("../escape.txt", "'..'"),
    ("notes/../../escape.txt", "'..'"),
    ("./notes.txt", "'.'"),
    ("/tmp/mlops-escape.txt", "absolute"),
    ("C:\\escape.txt", "absolute"),
    ("notes\\..\\..\\escape.txt", "'\\\\'"),
    ("nul\x00byte.txt", "control"),
    ("new\nline.txt", "control"),
    ("colour\x1b[31m.txt", "control"),
    ("notes//x.txt", "empty component"),
    ("notes/", "empty component"),
    ("", "non-empty"),
    ("x" * 300 + ".txt", "255 bytes"),
]


@pytest.mark.parametrize(("name", "why"), BAD_ARTIFACT_NAMES, ids=[repr(n)[:30] for n, _ in BAD_ARTIFACT_NAMES])
def test_log_artifact_refuses_a_name_that_is_not_a_path_inside_the_run(backend, project, name, why):
    folder = project / "data"
    folder.mkdir()
    (folder / "a.csv").write_text("x\n1\n")
    with mlops.start_run("r") as run:
        before = files_under(project.parent)
        for obj in ("some text", b"some bytes", folder, pd.DataFrame({"x": [1]})):
            with pytest.raises(InvalidInputError, match=f"artifact name.*{why}"):
                mlops.log_artifact(obj, name=name)
        after = files_under(project.parent)
    assert after == before
    assert [a["path"] for a in mlops.get_run(run.id).artifacts if a["path"].startswith(("data", "x", "n"))] == []


def _by_run_name(label):
    return logged(RandomForestClassifier(n_estimators=2).fit([[0], [1]], [0, 1]), name=label)


def _by_step_tag(label):
    return logged(RandomForestClassifier(n_estimators=2).fit([[0], [1]], [0, 1]), **{"mlops.step": label})


def _by_upstream_step(label):
    with mlops.start_run("pipeline") as parent:
        pass
    with mlops.start_run("prep", parent=parent.id, tags={"mlops.kind": "step", "mlops.step": label}):
        mlops.log_artifact(NOTEBOOK, name="notebook/prep.ipynb")
    with mlops.start_run("train", parent=parent.id, tags={"mlops.kind": "step", "mlops.step": "train",
                                                          "mlops.upstream": json.dumps([label])}) as run:
        mlops.log_model(RandomForestClassifier(n_estimators=2).fit([[0], [1]], [0, 1]))
    mlops.approve(run.id, by="ana")
    return run.id


def _by_forged_artifact_name(label):
    run_id = _by_run_name("train")
    store = open_store()
    sha, size = store.artifacts.put_bytes(NOTEBOOK.encode())
    store.add_artifact(run_id, f"{label}/evil.ipynb", sha, size, "application/x-ipynb+json")  # past log_artifact
    return run_id


ESCAPES = {  # a stored name that went into a package path: lineage/notebooks/{label}/{file}
    "run name": _by_run_name,
    "mlops.step tag": _by_step_tag,
    "upstream step name": _by_upstream_step,
    "artifact name forged in the store": _by_forged_artifact_name,
}


@pytest.mark.parametrize("case", ESCAPES)
def test_a_stored_name_cannot_write_outside_the_package(backend, project, case):
    target = outside_target()
    run_id = ESCAPES[case](climbing(target))
    before = files_under(project.parent)
    try:
        record = mlops.export(run_id, name="m", zip=True)
        assert not target.exists()
    finally:
        shutil.rmtree(target, ignore_errors=True)
    package = Path(record["package_uri"])
    new = files_under(project.parent) - before
    strays = [p for p in new if package not in p.parents and p != Path(record["zip"]) and
              not p.name.startswith("mlops.db")]
    assert strays == []
    notebooks = [p.relative_to(package) for p in package.glob("lineage/notebooks/*/*")]
    assert len(notebooks) >= 1 and all(len(p.parts) == 4 and ".." not in p.parts for p in notebooks)
    assert mlops.verify(record["zip"]).ok


def test_a_forged_blob_digest_is_refused_without_reading_outside(backend):
    run_id = _by_run_name("train")
    open_store().add_artifact(run_id, "model/signature.json", "../" * 15 + "etc/passwd", 10, "application/json")
    with pytest.raises(InvalidInputError, match="is not a sha256"):
        mlops.export(run_id, name="m")


# -- item 4: NAME, NAME/N and NAME@ALIAS always mean the registry ----------------------------------
@pytest.fixture
def two_versions(backend, project):
    """m/1 and m/2 from different forests, m@production -> 1; returns the records and the data."""
    data = load_breast_cancer(as_frame=True)
    records = {}
    for version, trees in ((1, 3), (2, 7)):
        model = RandomForestClassifier(n_estimators=trees, random_state=version).fit(data.data, data.target)
        records[version] = mlops.export(logged(model, training_data=data.frame), name="m")
    mlops.set_alias("m", 1, "production")
    data.data.head(20).to_csv(project / "rows.csv", index=False)
    return records


PLANTED = [  # (reference, the version it means, the version whose copy is planted under that name)
    ("m/1", 1, 2),
    ("m@production", 1, 2),
    ("m", 2, 1),
]


def plant(project: Path, records: dict, ref: str, version: int) -> None:
    shutil.copytree(records[version]["package_uri"], project / ref)


@pytest.mark.parametrize(("ref", "means", "planted"), PLANTED)
def test_verify_and_load_model_ignore_a_planted_folder(two_versions, project, capsys, ref, means, planted):
    plant(project, two_versions, ref, planted)
    digest = two_versions[means]["manifest_digest"]
    result = mlops.verify(ref)
    assert (result.ok, result.ref, result.digest) == (True, f"m/{means}", digest)
    assert main(["verify", ref]) == 0
    assert capsys.readouterr().out.strip() == f"m/{means}: OK (manifest sha256 {digest})"
    model = mlops.load_model(ref)
    assert (model.version, model.path) == (means, two_versions[means]["package_uri"])
    # Written as a path, the planted copy is what is read (and it is the other version).
    assert mlops.verify(f"./{ref}").ref == f"m/{planted}"


@pytest.mark.parametrize(("ref", "means", "planted"), PLANTED)
def test_predict_cli_ignores_a_planted_folder(two_versions, project, capsys, ref, means, planted):
    plant(project, two_versions, ref, planted)
    assert main(["predict", ref, "rows.csv", "-o", "out.csv"]) == 0
    assert f"scored by m/{means} " in capsys.readouterr().out


def test_serve_builds_its_app_from_the_registry_not_a_planted_folder(two_versions, project):
    from fastapi.testclient import TestClient

    from jupyter_mlops.serving.app import create_app

    plant(project, two_versions, "m/1", 2)
    with TestClient(create_app(mlops.load_model("m/1", runtime="auto"))) as client:
        assert client.get("/v1/model").json()["version"] == 1


def test_serve_cli_refuses_a_reference_only_a_planted_folder_answers(two_versions, project):
    plant(project, two_versions, "ghost/1", 1)
    done = subprocess.run([PYTHON, "-m", "jupyter_mlops", "--uri", mlops.get_tracking_uri(), "serve", "ghost/1",
                           "--port", "9"], cwd=project, env=python_env(), capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == "jupyter mlops serve: error: model 'ghost' has no version 1"


LONG = "x" * 10_000
BAD_REFERENCES = [  # (what the user typed, exit code, what the one line says)
    (LONG, 2, "invalid model name 'xxxx"),
    (LONG + "/1", 2, "invalid model name 'xxxx"),
    ("./" + LONG, 2, "cannot read the package path"),
    ("./no-such-folder", 2, "no package folder or zip at './no-such-folder'"),
    ("packages/m/1", 2, "written as a path: ./NAME"),
    ("m/99999999999999999999", 2, "must be a positive whole number"),
    ("m/1.9", 2, "must be a positive whole number"),
]


@pytest.mark.parametrize(("ref", "code", "says"), BAD_REFERENCES, ids=[r[:20] for r, _, _ in BAD_REFERENCES])
def test_a_bad_reference_is_one_line_and_exit_2(backend, capsys, ref, code, says):
    assert main(["verify", ref]) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err and len(err) < 400 and "Traceback" not in err
    with pytest.raises((InvalidInputError, ModelNotFoundError), match=re.escape(says)):
        mlops.load_model(ref)


# -- registry low items ----------------------------------------------------------------------------
def test_aliases_differing_only_in_case_are_one_alias(two_versions):
    mlops.set_alias("m", 2, "Production")  # moves m@production, does not add a second alias
    assert versions.list_models()[0]["aliases"] == {"production": 2}
    assert mlops.load_model("m@PRODUCTION").version == 2
    assert [e["subject"] for e in audit.audit_log(action="alias")] == ["m@production", "m@production"]
    store = open_store()
    with store.writing() as conn:  # a row written in another case by an older version
        conn.execute(insert(s.model_aliases).values(name="m", alias="Staging", version=1, updated_by="x",
                                                    updated_at=0))
    assert versions.get_version("m@staging")["version"] == 1
    mlops.set_alias("m", 2, "STAGING")
    assert versions.list_models()[0]["aliases"] == {"production": 2, "staging": 2}
    versions.delete_alias("m", "Staging")
    with pytest.raises(ModelNotFoundError, match="no alias 'staging'"):
        mlops.load_model("m@staging")


@pytest.mark.parametrize("version", [1.9, True, "true", "1.9", "1e3", 0, -1, 10**20, None, np.float64(1.0)])
def test_an_alias_version_must_be_a_whole_number(two_versions, capsys, version):
    with pytest.raises(InvalidNameError, match="expected a positive whole number"):
        mlops.set_alias("m", version, "staging")
    if not isinstance(version, (bool, type(None))):
        with pytest.raises(SystemExit) as exited:
            main(["alias", "m", str(version), "staging"])
        assert exited.value.code == 2 and "expected a positive whole number" in capsys.readouterr().err
    assert versions.list_models()[0]["aliases"] == {"production": 1}


def test_versions_piped_into_head_exits_quietly(backend):
    store = open_store()
    run_id = _by_run_name("train")
    rows = [{"name": "many", "version": v, "run_uuid": run_id, "package_uri": f"/nowhere/{v}", "manifest_digest": "0",
             "trusted_types": "[]", "model_format": "skops", "signature": "{}", "metrics": "{}",
             "created_by": "x" * 80, "created_at": 0} for v in range(1, 1501)]
    with store.writing() as conn:
        conn.execute(insert(s.registered_models).values(name="many", created_at=0))
        conn.execute(insert(s.model_versions), rows)
    exe = str(Path(PYTHON).with_name("jupyter-mlops"))
    done = subprocess.run(f"'{exe}' --uri '{mlops.get_tracking_uri()}' versions many | head -n 2", shell=True,
                          env=python_env(), capture_output=True, text=True, timeout=120, check=False)
    assert done.stdout.splitlines()[0].split()[:2] == ["version", "aliases"]
    assert done.stderr == ""


def test_rejecting_a_run_in_production_warns_and_needs_force(two_versions, capsys):
    run_id = two_versions[1]["run_id"]
    with pytest.raises(ApprovalRefusedError, match=r"is m@production \(m/1\).*force=True \(--force\)"):
        mlops.reject(run_id, by="bo", reason="leaks")
    assert main(["reject", run_id, "--reason", "leaks"]) == 1
    assert "m@production (m/1)" in capsys.readouterr().err
    assert versions.get_version("m/1")["approval"]["decision"] == "approved"
    assert main(["reject", run_id, "--reason", "leaks", "--force"]) == 0
    out = capsys.readouterr()
    assert out.err.strip().splitlines() == [(f"jupyter mlops reject: warning: rejecting run {run_id}, which is "
                                             "m@production (m/1); it stays there until the alias moves")]
    assert versions.get_version("m/1")["approval"]["decision"] == "rejected"
    assert audit.audit_log(action="reject")[0]["details"]["live"] == ["m@production (m/1)"]
    with pytest.warns(UserWarning, match="m@production"):  # the API's force
        mlops.reject(two_versions[1]["run_id"], by="bo", reason="still leaks", force=True)
    mlops.reject(two_versions[2]["run_id"], by="bo", reason="not live: no force needed")
