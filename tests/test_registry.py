"""Approval, export, versions, aliases, verification and loading, on a real store (SQLite and PostgreSQL)."""
from __future__ import annotations

import json
import multiprocessing as mp
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier

import jupyter_mlops as mlops
from jupyter_mlops.exceptions import (
    ApprovalRefusedError,
    InputSchemaError,
    InvalidNameError,
    ModelNotFoundError,
    PackageVerificationError,
)
from jupyter_mlops.registry import audit, package, versions

from .helpers.registry_workers import approve_in_process, export_in_process


def train_run(accuracy: float = 0.95, n_estimators: int = 10):
    """A finished run that logged a forest on breast cancer; returns (run id, estimator, X)."""
    data = load_breast_cancer(as_frame=True)
    X, y = data.data, data.target
    model = RandomForestClassifier(n_estimators=n_estimators, random_state=0).fit(X, y)
    with mlops.start_run("train", params={"n_estimators": n_estimators}) as run:
        mlops.log_metric("accuracy", accuracy)
        mlops.log_dataset(data.frame, "breast_cancer")
        mlops.set_tag("mlops.purpose", "Flag suspicious biopsies for a second look")
        mlops.log_model(model, training_data=data.frame, target="target")
    return run.id, model, X


@pytest.fixture
def approved(backend):
    run_id, model, X = train_run()
    mlops.approve(run_id, by="ana", reason="beats baseline")
    return run_id, model, X


def test_export_load_and_alias_predict_the_same(approved):
    run_id, model, X = approved
    v1 = mlops.export(run_id, name="cancer-clf", by="ana")
    v2 = mlops.export(run_id, name="cancer-clf", by="ana")
    assert (v1["version"], v2["version"]) == (1, 2)
    mlops.set_alias("cancer-clf", 1, "production", by="ana")

    expected = model.predict(X)
    for ref in ("cancer-clf@production", "cancer-clf/1", "cancer-clf", v1["package_uri"]):
        loaded = mlops.load_model(ref)
        assert np.array_equal(loaded.predict(X), expected), ref
    assert mlops.load_model("cancer-clf").version == 2
    assert np.allclose(mlops.load_model("cancer-clf/1").predict_proba(X), model.predict_proba(X))

    folder = Path(v1["package_uri"])
    for rel in ("MANIFEST", "MLmodel", "model/model.skops", "model/signature.json", "model/input_example.json",
                "requirements.txt", "lineage.json", "README.md", "model_card.html", "reference_profile.json"):
        assert (folder / rel).is_file(), rel
    lineage = json.loads((folder / "lineage.json").read_text())
    assert lineage["run_id"] == run_id and lineage["metrics"]["accuracy"] == 0.95
    assert lineage["approval"]["actor"] == "ana" and lineage["datasets"][0]["name"] == "breast_cancer"
    assert "scikit-learn==" in (folder / "requirements.txt").read_text()
    assert "Flag suspicious biopsies" in (folder / "README.md").read_text()
    assert "mean radius" in json.loads((folder / "reference_profile.json").read_text())["columns"]
    assert mlops.verify("cancer-clf@production").ok

    actions = [e["action"] for e in audit.audit_log()]
    assert actions == ["alias", "export", "export", "approve"]
    models = versions.list_models()
    assert models[0]["name"] == "cancer-clf" and models[0]["aliases"] == {"production": 1}


def test_unapproved_rejected_and_gated_runs_are_refused(backend, tmp_path):
    run_id, _, _ = train_run(accuracy=0.80)
    with pytest.raises(ApprovalRefusedError, match="is not approved.*jupyter mlops approve"):
        mlops.export(run_id, name="cancer-clf")
    mlops.reject(run_id, by="bo", reason="leaks the label")
    with pytest.raises(ApprovalRefusedError, match="rejected by bo \\(leaks the label\\)"):
        mlops.export(run_id, name="cancer-clf")

    (tmp_path / "pyproject.toml").write_text(
        '[tool.jupyter_mlops.approval]\nrequire = ["metrics.accuracy >= 0.9", "tags.reviewed = \'yes\'"]\n')
    with pytest.raises(ApprovalRefusedError, match="fails the approval gate 'metrics.accuracy >= 0.9'"):
        mlops.approve(run_id, by="ana")
    good, _, _ = train_run(accuracy=0.97)
    with pytest.raises(ApprovalRefusedError, match="tags.reviewed = 'yes'"):
        mlops.approve(good, by="ana")
    assert versions.list_models() == []
    assert [e["action"] for e in audit.audit_log()] == ["reject"]


def test_approving_twice_is_idempotent(backend):
    run_id, _, _ = train_run()
    first = mlops.approve(run_id, by="ana", reason="ok")
    second = mlops.approve(run_id, by="bo", reason="also ok")
    assert second == first and second["metrics"] == {"accuracy": 0.95}
    assert len(audit.audit_log(action="approve")) == 1


def test_a_changed_byte_is_caught_at_sampled_bytes_of_every_file_and_at_every_byte_of_the_smallest(approved):
    """Every file of the package is covered: a flipped bit at its first, middle and last byte is
    caught by verify and load_model, naming the file. The smallest file gets one at every byte."""
    run_id, _, _ = approved
    folder = Path(mlops.export(run_id, name="m")["package_uri"])
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    assert len(files) >= 10

    def caught(path: Path, offsets) -> None:
        original = path.read_bytes()
        rel = path.relative_to(folder).as_posix()
        try:
            for offset in offsets:
                changed = bytearray(original)
                changed[offset] ^= 0x01
                path.write_bytes(bytes(changed))
                result = mlops.verify("m/1")
                assert not result.ok and rel in result.problems[0], (rel, offset, result.problems)
                with pytest.raises(PackageVerificationError, match=rel.replace(".", r"\.")):
                    mlops.load_model("m/1")
        finally:
            path.write_bytes(original)

    for path in files:
        size = path.stat().st_size
        caught(path, sorted({0, size // 2, size - 1}))
    smallest = min(files, key=lambda p: p.stat().st_size)
    caught(smallest, range(smallest.stat().st_size))
    assert mlops.verify("m/1").ok
    (folder / "extra.py").write_text("print('hi')")
    assert "extra.py: not listed in MANIFEST" in mlops.verify("m/1").problems


def test_a_swapped_model_with_untrusted_types_is_refused_even_with_a_matching_manifest(approved):
    """An attacker who rewrites the model, MANIFEST and MLmodel still fails: the registry holds the digest
    and the trusted types; and a model with new types is refused before skops loads it."""
    import skops.io as sio
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline

    from jupyter_mlops.registry import manifest

    run_id, _, _ = approved
    folder = Path(mlops.export(run_id, name="m")["package_uri"])
    other = make_pipeline(TfidfVectorizer(preprocessor=json.loads))  # a function skops will not trust
    sio.dump(other, folder / "model/model.skops")
    manifest.write_manifest(folder)
    with pytest.raises(PackageVerificationError, match="MANIFEST: digest"):
        mlops.load_model("m/1")
    # Even past the digest (a registry row forged to match), the trusted list still refuses the types.
    from jupyter_mlops.registry.loaded import PackagedModel

    record = {**versions.get_version("m/1"), "manifest_digest": manifest.manifest_digest(folder)}
    with pytest.raises(PackageVerificationError, match="does not trust.*json.loads"):
        PackagedModel.open(folder, record)


def _another_file_like(folder: Path, rel: str) -> bytes:
    """A valid file of the same kind as the package's ``rel``, with other content: what would load if unchecked."""
    data = load_breast_cancer(as_frame=True)
    small = RandomForestClassifier(n_estimators=2, random_state=1).fit(data.data, data.target)
    if rel == "model/model.skops":
        import skops.io as sio

        return sio.dumps(small)  # the same types as the logged forest: the trusted list lets it through
    if rel == "model/model.onnx":
        from skl2onnx import to_onnx

        return to_onnx(small, data.data[:1].to_numpy(np.float32)).SerializeToString()
    if rel == "model/signature.json":
        return json.dumps({"inputs": [], "outputs": []}).encode()  # no columns: no input checks
    if rel == "package.json":
        return json.dumps({**json.loads((folder / rel).read_text()), "name": "someone-else"}).encode()
    return (folder / rel).read_bytes() + b"\n"


@pytest.mark.parametrize("rel, runtime", [("model/model.skops", None), ("model/model.onnx", "onnx"),
                                          ("model/signature.json", None), ("package.json", None), ("MANIFEST", None)])
def test_a_file_swapped_between_verification_and_loading_is_refused(approved, monkeypatch, rel, runtime):
    """load_model checks the folder, then builds the model: it must build from the bytes it checked."""
    from jupyter_mlops.registry import package as packages

    run_id, _, _ = approved
    folder = Path(mlops.export(run_id, name="m")["package_uri"])
    swapped = _another_file_like(folder, rel)
    verify = packages._verify_folder

    def verify_then_swap(checked: Path, record):
        result = verify(checked, record)
        assert result.ok, result.problems
        (checked / rel).write_bytes(swapped)  # in the window: after the check, before the model is built
        return result

    with monkeypatch.context() as patched:
        patched.setattr(packages, "_verify_folder", verify_then_swap)
        with pytest.raises(PackageVerificationError, match=f"^package m/1 failed verification: {re.escape(rel)}: ") as info:
            mlops.load_model("m/1", runtime=runtime)
    assert info.value.path == rel
    assert not mlops.verify("m/1").ok  # the next check sees the swap too


def test_zip_round_trip_and_zip_slip(approved, tmp_path):
    run_id, model, X = approved
    record = mlops.export(run_id, name="m", zip=True)
    assert np.array_equal(mlops.load_model(record["zip"]).predict(X), model.predict(X))
    assert mlops.verify(record["zip"]).ok

    for bad in ("../evil.txt", "/etc/evil.txt", "model/../../evil.txt", "C:\\evil.txt"):
        archive = tmp_path / "bad.zip"
        shutil.copy(record["zip"], archive)
        with zipfile.ZipFile(archive, "a") as zf:
            zf.writestr(bad, "x")
        with pytest.raises(PackageVerificationError, match="refusing to unpack"):
            mlops.load_model(archive)
        assert not (tmp_path.parent / "evil.txt").exists()
    link = zipfile.ZipInfo("model/link")
    link.external_attr = 0o120777 << 16
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(PackageVerificationError, match="symbolic link"):
        mlops.verify(archive)


@pytest.mark.parametrize("bad", ["a/b", "..", "../x", "/abs", "a\\b", "", "x y", "-lead"])
def test_names_and_aliases_with_separators_are_refused(approved, bad):
    run_id, _, _ = approved
    with pytest.raises(InvalidNameError):
        mlops.export(run_id, name=bad)
    mlops.export(run_id, name="ok")
    with pytest.raises(InvalidNameError):
        mlops.set_alias("ok", 1, bad)


def test_unknown_references_name_what_exists(approved):
    run_id, _, _ = approved
    mlops.export(run_id, name="m")
    mlops.set_alias("m", 1, "staging")
    with pytest.raises(ModelNotFoundError, match="no alias 'production' \\(its aliases: staging\\)"):
        mlops.load_model("m@production")
    with pytest.raises(ModelNotFoundError, match="no version 7"):
        mlops.load_model("m/7")
    with pytest.raises(ModelNotFoundError, match="no registered model named 'nope'"):
        mlops.load_model("nope")


def test_input_is_checked_against_the_signature(approved):
    run_id, model, X = approved
    mlops.export(run_id, name="m")
    loaded = mlops.load_model("m")
    with pytest.raises(InputSchemaError, match="missing column 'mean radius'"):
        loaded.predict(X.drop(columns="mean radius"))
    with pytest.raises(InputSchemaError, match="unknown column 'zip code'"):
        loaded.predict(X.assign(**{"zip code": 1}))
    with pytest.raises(InputSchemaError, match="'mean area' must be float64; it holds non-numeric"):
        loaded.predict(X.head(2).astype(object).assign(**{"mean area": ["a", "b"]}))
    shuffled = X[list(reversed(X.columns))]
    assert np.array_equal(loaded.predict(shuffled), model.predict(X))
    assert np.array_equal(loaded.predict(X.to_dict("records")), model.predict(X))


def test_racing_exports_get_distinct_consecutive_versions(approved):
    run_id, _, _ = approved
    uri = mlops.get_tracking_uri()
    with mp.get_context("spawn").Pool(4) as pool:
        got = pool.map(export_in_process, [(uri, run_id)] * 8)
    assert sorted(got) == list(range(1, 9))
    assert [v["version"] for v in versions.list_versions("raced")] == list(range(8, 0, -1))
    for v in range(1, 9):
        assert mlops.verify(f"raced/{v}").ok


def test_mlflow_pyfunc_loads_the_package(approved, monkeypatch):
    import mlflow
    run_id, model, X = approved
    folder = mlops.export(run_id, name="m")["package_uri"]
    # MLflow 3.17 refuses any deserialization (skops too) unless this is set.
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    pyfunc = mlflow.pyfunc.load_model(folder)
    assert np.array_equal(np.asarray(pyfunc.predict(X)), model.predict(X))
    assert package.verify(folder).ok  # loading with MLflow wrote nothing into the package


def test_racing_approvals_of_one_run_are_idempotent(backend):
    run_id, _, _ = train_run()
    uri = mlops.get_tracking_uri()
    with mp.get_context("spawn").Pool(4) as pool:
        actors = pool.map(approve_in_process, [(uri, run_id, f"reviewer-{i}") for i in range(8)])
    assert len(set(actors)) == 1  # every caller sees the one decision that won
    assert len(audit.audit_log(action="approve")) == 1
    assert mlops.approve(run_id, by="late")["actor"] == actors[0]


def test_validate_against_a_registered_model(approved):
    run_id, _, X = approved
    mlops.export(run_id, name="m")
    assert mlops.validate(X, against="m").passed
    result = mlops.validate(X.drop(columns="mean radius"), against="m/1")
    assert not result.passed and any(f.column == "mean radius" for f in result.failures)
