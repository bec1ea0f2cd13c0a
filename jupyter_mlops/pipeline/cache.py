"""Step cache keys: a step is skipped when its key and its outputs are what they were.

The key hashes what determines a step's result: the notebook's code (cell types and sources,
not outputs or execution counts), the local modules it imports and the versions of the packages
it imports (see ``code_dependencies``), the parameters injected into it, its upstream steps'
keys and the content of the input files it reads, plus the kernel it runs on.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..tracking.artifacts import sha256_file
from .code_dependencies import code_dependencies


def notebook_source_hash(path: Path) -> str:
    """sha256 over the notebook's cells (type + source); editing outputs or metadata keeps it."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    digest = hashlib.sha256()
    for cell in nb.get("cells", []):
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(source)
        digest.update(cell.get("cell_type", "").encode() + b"\0" + source.encode() + b"\0")
    return digest.hexdigest()


def file_digests(paths) -> dict[str, str | None]:
    """sha256 of each file, ``None`` for a missing one."""
    return {str(p): (sha256_file(p) if Path(p).is_file() else None) for p in paths}


def step_key(notebook: Path, parameters: dict, upstream_keys: dict[str, str], input_digests: dict, kernel: str) -> str:
    """``input_digests``: :func:`file_digests` of the step's input files."""
    material = {
        "notebook": notebook_source_hash(notebook),
        "code": code_dependencies(notebook),
        "parameters": parameters,
        "upstream": dict(sorted(upstream_keys.items())),
        "inputs": dict(sorted(input_digests.items())),
        "kernel": kernel,
    }
    blob = json.dumps(material, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def outputs_unchanged(recorded: dict[str, dict]) -> bool:
    """True when every output recorded at the cached run's end still has the recorded content."""
    for info in recorded.values():
        path = Path(info["path"])
        if not path.is_file() or sha256_file(path) != info["sha256"]:
            return False
    return True
