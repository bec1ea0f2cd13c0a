"""Content-addressed artifact files: each file is stored once under ``<root>/ab/cdef...`` by its sha256.

Two runs that log the same notebook or model share one file; the digest recorded in the store
lets anyone check later that a file is the one that was logged.
"""
from __future__ import annotations

import hashlib
import mimetypes
import os
import re
import tempfile
from pathlib import Path

from ..exceptions import InvalidInputError

CHUNK = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}\Z")


def blob_path(root: Path, sha256: str) -> Path:
    """Where the blob of ``sha256`` lives; a digest read from the store is checked first, since a
    forged one (``../../etc/passwd``) would otherwise point outside ``root``."""
    if not isinstance(sha256, str) or not _SHA256.match(sha256):
        raise InvalidInputError(f"artifact digest {str(sha256)[:80]!r} is not a sha256 (64 lowercase hex digits)")
    return root / sha256[:2] / sha256[2:]


def media_type_of(name: str) -> str:
    if name.endswith(".ipynb"):
        return "application/x-ipynb+json"
    if name.endswith(".skops"):
        return "application/x-skops"
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def put_bytes(root: Path, data: bytes) -> tuple[str, int]:
    """Store ``data``; returns ``(sha256, size)``. Writing the same content twice is a no-op."""
    sha = hashlib.sha256(data).hexdigest()
    target = blob_path(root, sha)
    if not target.exists():
        _atomic_write(target, lambda fh: fh.write(data))
    return sha, len(data)


def put_file(root: Path, source: str | os.PathLike) -> tuple[str, int]:
    """Copy the file at ``source`` into the store; returns ``(sha256, size)``."""
    sha = sha256_file(source)
    target = blob_path(root, sha)
    if not target.exists():
        def copy(fh):
            with open(source, "rb") as src:
                for chunk in iter(lambda: src.read(CHUNK), b""):
                    fh.write(chunk)

        _atomic_write(target, copy)
    return sha, os.path.getsize(source)


def _atomic_write(target: Path, write) -> None:
    # Write beside the target and rename, so a reader never sees half a file.
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def digest_of_key(key: str) -> str | None:
    """The sha256 a relative key ``ab/cdef...`` stores, or None when the key is not a blob's."""
    head, sep, tail = key.partition("/")
    digest = head + tail
    return digest if sep and len(head) == 2 and _SHA256.match(digest) else None


def iter_blobs(root: Path):
    """``(sha256, size, modified)`` of every blob under ``root``; nothing else there is listed."""
    try:
        folders = [f for f in os.scandir(root) if len(f.name) == 2 and f.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return
    for folder in folders:
        for entry in os.scandir(folder.path):
            sha = digest_of_key(f"{folder.name}/{entry.name}")
            if sha is not None and entry.is_file(follow_symlinks=False):
                info = entry.stat(follow_symlinks=False)
                yield sha, info.st_size, info.st_mtime


def read_bytes(root: Path, sha256: str) -> bytes:
    return blob_path(root, sha256).read_bytes()
