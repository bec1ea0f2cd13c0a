"""Where artifact blobs and model packages are kept: a local folder, or any fsspec file system.

``MLOPS_ARTIFACT_URI`` picks it: a path or ``file://`` (the default, beside the SQLite file),
``memory://`` or ``s3://bucket/prefix`` (s3fs; ``MLOPS_S3_ENDPOINT_URL`` for an S3-compatible
server). Blobs are content-addressed the same way everywhere (``ab/cdef...`` by sha256), and
every blob read back from a remote store is checked against its digest, so a shared bucket
cannot hand back something other than what was logged.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from ..exceptions import StoreError
from . import artifacts as blobs

ENV_S3_ENDPOINT = "MLOPS_S3_ENDPOINT_URL"


class LocalArtifactStore:
    """Blobs under ``root/ab/cdef...``, packages under ``root/packages/NAME/VERSION``."""

    is_remote = False

    def __init__(self, root: Path):
        self.root = Path(root)
        self.uri = str(self.root)

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        return blobs.put_bytes(self.root, data)

    def put_file(self, path) -> tuple[str, int]:
        return blobs.put_file(self.root, path)

    def read_bytes(self, sha256: str) -> bytes:
        return blobs.read_bytes(self.root, sha256)

    def local_path(self, sha256: str) -> Path:
        return blobs.blob_path(self.root, sha256)

    def iter_blobs(self):
        """Every blob as ``(sha256, size, modified)`` (epoch seconds); files of any other shape
        (packages, a write in progress) are not blobs and never listed."""
        return blobs.iter_blobs(self.root)

    def delete_blob(self, sha256: str) -> None:
        blobs.blob_path(self.root, sha256).unlink(missing_ok=True)

    def package_uri(self, name: str, version: int) -> str:
        return str(self.root / "packages" / name / str(version))

    def put_package(self, staging: Path, name: str, version: int) -> str:
        final = Path(self.package_uri(name, version))
        if final.exists():  # left by an export that died before its version was committed
            shutil.rmtree(final)
        final.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(final)
        return str(final)

    def fetch_package(self, uri: str) -> Path:
        return Path(uri)


class FsspecArtifactStore:
    """The same layout on an fsspec file system; reads are verified and cached locally by digest."""

    is_remote = True

    def __init__(self, uri: str, cache_root: Path):
        import fsspec

        options = {}
        if uri.startswith("s3://") and os.environ.get(ENV_S3_ENDPOINT):
            options["client_kwargs"] = {"endpoint_url": os.environ[ENV_S3_ENDPOINT]}
        try:
            self.fs, self.base = fsspec.core.url_to_fs(uri.rstrip("/"), **options)
        except (ImportError, ValueError) as exc:
            raise StoreError(f"cannot use the artifact store {uri}: {exc} (for s3:// install s3fs: "
                             "pip install 'jupyter_mlops[s3]')") from exc
        self.uri = uri.rstrip("/")
        self.protocol = uri.split("://", 1)[0]
        self.cache = Path(cache_root)

    def _key(self, sha256: str) -> str:
        return f"{self.base}/{sha256[:2]}/{sha256[2:]}"

    def _url(self, key: str) -> str:
        return f"{self.protocol}://{key}"

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        sha = hashlib.sha256(data).hexdigest()
        key = self._key(sha)
        if not self.fs.exists(key):
            self.fs.pipe_file(key, data)
        return sha, len(data)

    def put_file(self, path) -> tuple[str, int]:
        sha = blobs.sha256_file(path)
        key = self._key(sha)
        if not self.fs.exists(key):
            self.fs.put_file(str(path), key)
        return sha, os.path.getsize(path)

    def read_bytes(self, sha256: str) -> bytes:
        return self.local_path(sha256).read_bytes()

    def local_path(self, sha256: str) -> Path:
        """A local copy of the blob, downloaded once and checked against its digest."""
        target = blobs.blob_path(self.cache / "blobs", sha256)
        if target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        os.close(fd)
        try:
            self.fs.get_file(self._key(sha256), tmp)
            if blobs.sha256_file(tmp) != sha256:
                raise StoreError(f"artifact {sha256[:12]} in {self.uri} does not match its digest; it was changed")
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return target

    def iter_blobs(self):
        """Every blob as ``(sha256, size, modified)``; ``modified`` is None where the file system
        does not say. Keys of any other shape (packages) are not blobs and never listed."""
        self.fs.invalidate_cache()  # a cached listing would miss blobs written by other processes
        for key, info in self.fs.find(self.base, maxdepth=2, detail=True).items():
            sha = blobs.digest_of_key(key[len(self.base):].strip("/"))
            if sha is not None and info.get("type", "file") == "file":
                yield sha, int(info.get("size") or 0), _modified(info)

    def delete_blob(self, sha256: str) -> None:
        """Remove the blob, and this machine's verified copy of it."""
        key = self._key(sha256)
        if self.fs.exists(key):
            self.fs.rm_file(key)
        blobs.blob_path(self.cache / "blobs", sha256).unlink(missing_ok=True)

    def package_uri(self, name: str, version: int) -> str:
        return self._url(f"{self.base}/packages/{name}/{version}")

    def put_package(self, staging: Path, name: str, version: int) -> str:
        uri = self.package_uri(name, version)
        key = uri.split("://", 1)[1]
        if self.fs.exists(key):
            self.fs.rm(key, recursive=True)
        for path in sorted(p for p in staging.rglob("*") if p.is_file()):
            self.fs.put_file(str(path), f"{key}/{path.relative_to(staging).as_posix()}")
        shutil.rmtree(staging)
        return uri

    def fetch_package(self, uri: str) -> Path:
        """A fresh local copy of the package at ``uri`` (verified by the caller against the registry)."""
        key = uri.split("://", 1)[1]
        target = Path(tempfile.mkdtemp(prefix="package-", dir=self._scratch()))
        for remote in self.fs.find(key):
            rel = remote[len(key):].lstrip("/")
            if not rel or ".." in rel.split("/"):
                continue
            dest = target.joinpath(*rel.split("/"))
            dest.parent.mkdir(parents=True, exist_ok=True)
            self.fs.get_file(remote, str(dest))
        return target

    def _scratch(self) -> Path:
        folder = self.cache / "packages"
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def _modified(info: dict) -> float | None:
    """When a listed file was last written, in epoch seconds, as each file system names it."""
    for field in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(field)
        if value is None:
            continue
        if hasattr(value, "timestamp"):
            return value.timestamp()
        try:
            return float(value)
        except (TypeError, ValueError):
            continue
    return None


def open_artifact_store(uri: str, local_root: Path):
    from ..config import is_remote_uri

    if is_remote_uri(uri):
        return FsspecArtifactStore(uri, cache_root=local_root / "cache")
    return LocalArtifactStore(Path(uri))
