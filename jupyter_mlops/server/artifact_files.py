"""Artifact files for download: a run's logical path -> its blob, never a file outside the store.

A request names an artifact by the path it was logged under (``notebook/train.ipynb``); the
file served is the content-addressed blob recorded for that path (for a remote artifact store,
its local copy, downloaded once and checked against the digest). Paths that climb (``..``),
absolute paths, and blobs that resolve (through a symlink) outside the artifact folder are
refused, whatever the database says.
"""
from __future__ import annotations

import json
import mimetypes
import re
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from sqlalchemy import select

from ..exceptions import InvalidInputError
from ..tracking import schema as s

SHA256 = re.compile(r"[0-9a-f]{64}")  # used with fullmatch: "$" would let a trailing newline in
MEDIA_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}")  # RFC 6838


class ArtifactOutsideStoreError(PermissionError):
    """The blob recorded for an artifact resolves outside the artifact folder."""


def check_logical_path(path: str) -> str:
    """The artifact path as logged, or InvalidInputError when it is absolute or climbs out."""
    if not path or "\x00" in path:
        raise InvalidInputError("artifact path is empty or contains a NUL byte")
    if path.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", path):
        raise InvalidInputError(f"artifact path {path!r} is absolute; give the path the artifact was logged under")
    parts = PurePosixPath(path.replace("\\", "/")).parts
    if any(part == ".." for part in parts):
        raise InvalidInputError(f"artifact path {path!r} contains '..'; artifacts are addressed inside their run")
    return path


def resolve(store, run_id: str, path: str) -> tuple[Path, dict]:
    """``(file, row)`` for artifact ``path`` of run ``run_id``; LookupError when the run has no such artifact."""
    path = check_logical_path(path)
    uuid = store.resolve_run_id(run_id)
    a = s.artifacts
    with store.engine.connect() as conn:
        row = conn.execute(
            select(a.c.path, a.c.sha256, a.c.size, a.c.media_type).where(a.c.run_uuid == uuid, a.c.path == path)
        ).mappings().first()
    if row is None:
        raise FileNotFoundError(f"run {uuid} has no artifact {path!r}")
    row = dict(row)
    if not SHA256.fullmatch(row["sha256"]):
        raise ArtifactOutsideStoreError(f"artifact {path!r} of run {uuid} has a malformed digest")
    root = Path(store.artifact_root).resolve()  # a remote store's verified copies are cached below it too
    target = store.artifacts.local_path(row["sha256"]).resolve()
    if not target.is_relative_to(root):
        raise ArtifactOutsideStoreError(f"artifact {path!r} of run {uuid} resolves outside the artifact store")
    if not target.is_file():
        raise FileNotFoundError(f"artifact {path!r} of run {uuid} is recorded but its file is missing from {root}")
    return target, row


def read_artifact_text(store, run_id: str, path: str) -> str:
    target, _ = resolve(store, run_id, path)
    return target.read_text(encoding="utf-8")


def read_artifact_json(store, run_id: str, path: str) -> dict:
    return json.loads(read_artifact_text(store, run_id, path))


def content_disposition(path: str) -> str:
    """``attachment`` with the artifact's file name: an ASCII ``filename`` for old clients and the
    exact name as RFC 5987 ``filename*`` (UTF-8, percent-encoded), so names with accents, quotes or
    newlines download under their own name and never break the header."""
    name = path.rsplit("/", 1)[-1] or "artifact"
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def media_type(recorded: str | None, path: str) -> str:
    """The Content-Type to send: the recorded media type when it is a plain ``type/subtype``, else
    a guess from the name; a stored value can hold anything, and it is never echoed into a header."""
    for candidate in (recorded, mimetypes.guess_type(path)[0]):
        if candidate and MEDIA_TYPE.fullmatch(candidate):
            return candidate
    return "application/octet-stream"
