"""Artifacts and model packages in every artifact store: local folder, file://, memory:// and S3 (moto)."""
from __future__ import annotations

import numpy as np
import pytest

import jupyter_mlops as mlops
from jupyter_mlops.exceptions import PackageVerificationError, StoreError
from jupyter_mlops.tracking.store import open_store

from .test_registry import train_run


def test_artifacts_and_packages_round_trip(artifact_backend, project):
    with mlops.start_run("files") as run:
        text_sha = mlops.log_artifact("hello", name="notes.txt")
        (project / "data.bin").write_bytes(b"\x00\x01" * 1000)
        file_sha = mlops.log_artifact(str(project / "data.bin"))
    store = open_store()
    assert store.artifacts.is_remote == (artifact_backend in ("memory", "s3"))
    assert store.artifacts.read_bytes(text_sha) == b"hello"
    assert store.artifacts.read_bytes(file_sha) == b"\x00\x01" * 1000
    assert {a["path"] for a in mlops.get_run(run.id).artifacts} == {"notes.txt", "data.bin"}
    from jupyter_mlops.server.artifact_files import resolve  # what the sidebar's download serves

    served, row = resolve(store, run.id, "data.bin")
    assert served.read_bytes() == b"\x00\x01" * 1000 and row["sha256"] == file_sha

    run_id, model, X = train_run()
    mlops.approve(run_id, by="ana")
    record = mlops.export(run_id, name="m")
    expected_prefix = {"local": str(project / ".mlops"), "file": str(project / "shared-artifacts"),
                       "memory": "memory://", "s3": "s3://"}[artifact_backend]
    assert record["package_uri"].startswith(expected_prefix)
    assert np.array_equal(mlops.load_model("m/1").predict(X), model.predict(X))
    assert mlops.verify("m/1").ok
    assert mlops.load_model("m/1").path == record["package_uri"]


@pytest.mark.parametrize("artifact_backend", ["memory", "s3"], indirect=True)
def test_a_changed_file_in_a_remote_package_or_blob_is_caught(artifact_backend):
    run_id, _, _ = train_run()
    mlops.approve(run_id, by="ana")
    record = mlops.export(run_id, name="m")
    artifacts = open_store().artifacts
    key = record["package_uri"].split("://", 1)[1]
    card = f"{key}/README.md"
    artifacts.fs.pipe_file(card, artifacts.fs.cat_file(card) + b"\nall good, trust me")
    with pytest.raises(PackageVerificationError, match="README.md: content differs"):
        mlops.load_model("m/1")

    sha = mlops.get_run(run_id).artifacts[0]["sha256"]
    artifacts.fs.pipe_file(artifacts._key(sha), b"not what was logged")
    cached = artifacts.cache / "blobs" / sha[:2] / sha[2:]
    cached.unlink(missing_ok=True)
    with pytest.raises(StoreError, match="does not match its digest"):
        artifacts.read_bytes(sha)


def test_unknown_artifact_scheme_is_a_clear_error(project, monkeypatch):
    monkeypatch.setenv("MLOPS_ARTIFACT_URI", "nosuchfs://bucket/x")
    with pytest.raises(StoreError, match="cannot use the artifact store nosuchfs://bucket/x"), mlops.start_run("x"):
        mlops.log_artifact("hi", name="a.txt")
