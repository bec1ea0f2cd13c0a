"""Read a notebook's papermill ``parameters`` cell with :mod:`json` and :mod:`ast` alone.

``import papermill`` takes seconds and ``nbformat`` pulls in ``jsonschema``; a pipeline spec must
load in milliseconds, so the notebook is read as plain JSON and the cell tagged ``parameters``
(papermill's convention; the first such cell wins, as in papermill) is parsed, never executed.
Results are cached per file path, modification time and size, so re-loading a spec re-reads only
the notebooks that changed.
"""
from __future__ import annotations

import ast
import json
import os
from functools import lru_cache
from pathlib import Path

from ..exceptions import SpecError

PARAMETERS_TAG = "parameters"


def parameters_cell(notebook_path) -> tuple[dict[str, str | None], bool]:
    """The names the notebook's ``parameters`` cell assigns, and whether it has such a cell.

    Each name maps to its default as written in the cell (``"0.25"``, ``"'rf'"``), or ``None`` for
    a bare annotation (``model: str``). Only top-level assignments count, as in papermill.
    IPython magics (``%...``) and shell escapes (``!...``) in the cell are skipped.
    Raises ``SpecError`` naming the notebook when it is not nbformat 4 JSON or the cell is not Python.
    """
    path = os.path.abspath(os.fspath(notebook_path))
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise _error(notebook_path, None, f"cannot read the notebook ({exc.strerror})") from None
    declared, has_cell = _read(path, stat.st_mtime_ns, stat.st_size)
    return dict(declared), has_cell  # a copy: the cached dict must not be edited by callers


@lru_cache(maxsize=256)
def _read(path: str, mtime_ns: int, size: int) -> tuple[dict[str, str | None], bool]:
    try:
        nb = json.loads(Path(path).read_bytes())
    except json.JSONDecodeError as exc:
        raise _error(path, exc.lineno, f"not valid notebook JSON ({exc.msg}); re-save it from Jupyter") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _error(path, None, f"cannot read the notebook ({exc})") from None
    cells = nb.get("cells") if isinstance(nb, dict) else None
    version = nb.get("nbformat") if isinstance(nb, dict) else None
    if not isinstance(cells, list) or not isinstance(version, int) or version < 4:
        raise _error(path, 1, "not an nbformat 4 notebook (needs 'nbformat': 4 and a 'cells' list); "
                              "open and re-save it with Jupyter")
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict):
            raise _error(path, None, f"cell {number} is not a JSON object; re-save the notebook with Jupyter")
        tags = (cell.get("metadata") or {}).get("tags") or ()
        if cell.get("cell_type") == "code" and isinstance(tags, list) and PARAMETERS_TAG in tags:
            return _assigned_names(path, number, cell.get("source", "")), True
    return {}, False


def _assigned_names(path: str, number: int, source) -> dict[str, str | None]:
    code = "".join(source) if isinstance(source, list) else str(source)
    # Magics and shell escapes are not Python; blank them so line numbers stay right.
    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in code.splitlines())
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        raise _error(path, None, f"the parameters cell (cell {number}) is not valid Python: "
                                 f"{exc.msg} on its line {exc.lineno}") from None
    declared: dict[str, str | None] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    declared[target.id] = ast.get_source_segment(code, node.value)
                elif isinstance(target, (ast.Tuple, ast.List)):  # a, b = 1, 2
                    declared.update((elt.id, None) for elt in target.elts if isinstance(elt, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            declared[node.target.id] = ast.get_source_segment(code, node.value) if node.value else None
    return declared


def _error(path, line, message):
    return SpecError(message, path=os.fspath(path), line=line)
