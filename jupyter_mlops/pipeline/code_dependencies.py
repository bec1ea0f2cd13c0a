"""The code a step's notebook depends on beyond its own cells, for its cache key.

A notebook that does ``from utils import clean`` gives a different result when ``utils.py``
beside it changes, and ``import sklearn`` when scikit-learn is upgraded; a cache that ignored
both would hand back stale results. Imports are found as the kernel pool's preload scan finds
them (the notebook's top-level ``import`` statements); local modules are followed into their
own imports. Everything here reads files and package metadata: nothing is imported.
"""
from __future__ import annotations

import hashlib
import importlib.util
import sys
from functools import cache
from importlib import metadata
from pathlib import Path

from .notebook_imports import _top_level_imports, imported_modules

# Local packages bigger than this are hashed by their .py files' names and sizes only.
MAX_LOCAL_FILES = 2000


def code_dependencies(notebook: Path) -> dict:
    """``{"local": {path: sha256}, "packages": {module: "dist==version" or None}}`` for ``notebook``.

    Local modules are looked up in the notebook's folder (the step's working folder, first on the
    kernel's ``sys.path``); anything else that is not in the standard library counts as a
    third-party package and contributes its installed distribution's version.
    """
    folder = Path(notebook).resolve().parent
    local: dict[str, str] = {}
    packages: dict[str, str | None] = {}
    pending = [name.split(".")[0] for name in imported_modules(notebook)]
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen or name in sys.stdlib_module_names or name == "__future__":
            continue
        seen.add(name)
        files = _local_files(folder, name)
        if files:
            for path in files:
                rel = str(path.relative_to(folder))
                if rel not in local:
                    local[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
                    pending += [n.split(".")[0] for n in _imports_of(path)]
        else:
            packages[name] = distribution_version(name)
    return {"local": dict(sorted(local.items())), "packages": dict(sorted(packages.items()))}


def _local_files(folder: Path, name: str) -> list[Path]:
    module = folder / f"{name}.py"
    if module.is_file():
        return [module]
    package = folder / name
    if (package / "__init__.py").is_file() or (package.is_dir() and any(package.glob("*.py"))):
        return sorted(package.rglob("*.py"))[:MAX_LOCAL_FILES]
    return []


def _imports_of(path: Path) -> list[str]:
    try:
        return _top_level_imports(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return []


@cache
def distribution_version(module: str) -> str | None:
    """``"dist==version"`` of the installed distribution providing top-level ``module``, or ``None``.

    Tries the module name as a distribution name first (numpy, pandas), then the ``top_level.txt``
    and finally the ``RECORD`` of the distributions installed beside the module (sklearn comes
    from scikit-learn, yaml from PyYAML). ``importlib.metadata.packages_distributions`` would do
    the same for every installed distribution at once, which costs seconds in a big environment.
    """
    try:
        return f"{module}=={metadata.version(module)}"
    except metadata.PackageNotFoundError:
        pass
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    locations = list(spec.submodule_search_locations or []) or ([spec.origin] if spec.origin else [])
    if not locations or spec.origin in ("built-in", "frozen"):
        return None
    site = Path(locations[0]).parent
    infos = sorted(site.glob("*.dist-info"))
    for info in infos:
        top = info / "top_level.txt"
        if top.is_file() and module in top.read_text(errors="replace").split():
            return _dist_of(info)
    for info in infos:
        record = info / "RECORD"
        if record.is_file() and f"\n{module}/" in "\n" + record.read_text(errors="replace"):
            return _dist_of(info)
    return None


def _dist_of(info: Path) -> str:
    name, _, version = info.name.removesuffix(".dist-info").rpartition("-")
    return f"{name}=={version}"
