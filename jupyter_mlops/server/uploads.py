"""An uploaded file, streamed into the artifact store chunk by chunk: never held in memory whole.

The body goes to a scratch file beside the artifact store while its sha256 is computed; at the
end it becomes the content-addressed blob (a rename for a local store, an upload for an fsspec
one). A digest the client announced is checked against the one computed, so what the store
keeps is exactly what the client sent.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from ..exceptions import InvalidInputError
from ..tracking import artifacts as blobs

# Streamed bodies may be this large (the server's default limit for other requests stays).
MAX_UPLOAD_BYTES = 64 << 30


class DigestMismatchError(InvalidInputError):
    """The bytes received do not hash to the digest the client announced."""


class BlobUpload:
    """One upload in progress: ``write`` chunks, then ``finish`` (or ``abort``)."""

    def __init__(self, store):
        self.store = store
        folder = Path(store.artifact_root) / ".uploads"
        folder.mkdir(parents=True, exist_ok=True)
        fd, self.path = tempfile.mkstemp(dir=folder, prefix="upload-")
        self.file = os.fdopen(fd, "wb")
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.file.write(chunk)
        self.digest.update(chunk)
        self.size += len(chunk)

    def finish(self, expected_sha256: str | None = None) -> tuple[str, int]:
        """The blob's ``(sha256, size)``, now in the artifact store."""
        self.file.close()
        sha = self.digest.hexdigest()
        try:
            if expected_sha256 is not None and sha != expected_sha256:
                raise DigestMismatchError(f"the upload's sha256 is {sha}, not {expected_sha256} as announced: "
                                          f"{self.size} bytes arrived; nothing was stored")
            artifacts = self.store.artifacts
            if getattr(artifacts, "is_remote", True):
                artifacts.put_file(self.path)
            else:
                target = blobs.blob_path(Path(artifacts.root), sha)
                if not target.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(self.path, target)  # same file system: the scratch folder is inside it
        finally:
            self.abort()
        return sha, self.size

    def abort(self) -> None:
        self.file.close()
        if os.path.exists(self.path):
            os.unlink(self.path)
