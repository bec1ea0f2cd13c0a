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


def key_material(notebook: Path, parameters: dict, upstream_keys: dict[str, str], input_digests: dict,
                 kernel: str, checks: dict | None = None) -> dict:
    """What a step's cache key hashes. ``input_digests``: :func:`file_digests` of its input files;
    ``checks``: its ``validate:`` / ``evaluate:`` blocks (absent from the key when it has none)."""
    material = {
        "notebook": notebook_source_hash(notebook),
        "code": code_dependencies(notebook),
        "parameters": parameters,
        "upstream": dict(sorted(upstream_keys.items())),
        "inputs": dict(sorted(input_digests.items())),
        "kernel": kernel,
    }
    if checks:
        material["checks"] = checks
    return material


def key_of(material: dict) -> str:
    blob = json.dumps(material, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def step_key(notebook: Path, parameters: dict, upstream_keys: dict[str, str], input_digests: dict, kernel: str) -> str:
    """``input_digests``: :func:`file_digests` of the step's input files."""
    return key_of(key_material(notebook, parameters, upstream_keys, input_digests, kernel))


# -- what changed ----------------------------------------------------------------------------------
# A finished step run keeps its key's material in short digests (tag ``mlops.step_key_parts``), so
# a later run whose key differs can name the input that changed instead of only "not cached".
SHORT = 12  # hex characters: 48 bits, plenty to tell two versions of one input apart


def _short(text: str | None) -> str | None:
    return None if text is None else text[:SHORT]


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:SHORT]


def key_parts(material: dict) -> dict:
    """The material of a key, compactly: a short digest per notebook, module, parameter, upstream
    key and input file; package versions and the kernel as they are."""
    parts = {
        "notebook": _short(material["notebook"]),
        "local": {path: _short(digest) for path, digest in material["code"]["local"].items()},
        "packages": dict(material["code"]["packages"]),
        "parameters": {name: _digest(value) for name, value in sorted(material["parameters"].items())},
        "upstream": {name: _short(key) for name, key in material["upstream"].items()},
        "inputs": {path: _short(digest) for path, digest in material["inputs"].items()},
        "kernel": material["kernel"],
    }
    if material.get("checks"):  # a step's validate:/evaluate: blocks, as the key has them
        parts["checks"] = {name: _digest(block) for name, block in sorted(material["checks"].items())}
    return parts


def changed_parts(before: dict, after: dict, shown_path=str) -> list[str]:
    """What differs between two :func:`key_parts`, in words (``local module utils.py changed``).

    ``shown_path`` turns an input file's recorded path into the text shown for it."""
    changes = []
    if before.get("notebook") != after.get("notebook"):
        changes.append("notebook code changed")
    for what, kind in (("local", "local module"), ("inputs", "input file")):
        old, new = before.get(what) or {}, after.get(what) or {}
        for path in sorted(set(old) | set(new)):
            name = shown_path(path) if what == "inputs" else path
            if path not in old:
                changes.append(f"{kind} {name} is new")
            elif path not in new:
                changes.append(f"{kind} {name} is no longer used")
            elif old[path] != new[path]:
                changes.append(f"{kind} {name} {'appeared' if old[path] is None else 'changed' if new[path] else 'is gone'}")
    old, new = before.get("packages") or {}, after.get("packages") or {}
    for module in sorted(set(old) | set(new)):
        if module not in old:
            changes.append(f"imports package {new[module] or module}")
        elif module not in new:
            changes.append(f"no longer imports {module}")
        elif old[module] != new[module]:
            changes.append(f"package {module}: {old[module] or 'not installed'} -> {new[module] or 'not installed'}")
    old, new = before.get("parameters") or {}, after.get("parameters") or {}
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            kind = "upstream outputs" if name == "upstream" else "output paths" if name == "outputs" else \
                f"parameter {name}"
            changes.append(f"{kind} changed" if name in old and name in new else
                           f"{kind} {'added' if name in new else 'removed'}")
    old, new = before.get("upstream") or {}, after.get("upstream") or {}
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            changes.append(f"upstream step {name} changed")
    if before.get("kernel") != after.get("kernel"):
        changes.append(f"kernel {before.get('kernel')} -> {after.get('kernel')}")
    old, new = before.get("checks") or {}, after.get("checks") or {}
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            changes.append(f"{name}: block {'changed' if name in old and name in new else 'added' if name in new else 'removed'}")
    return changes


def outputs_unchanged(recorded: dict[str, dict]) -> bool:
    """True when every output recorded at the cached run's end still has the recorded content."""
    for info in recorded.values():
        path = Path(info["path"])
        if not path.is_file() or sha256_file(path) != info["sha256"]:
            return False
    return True
