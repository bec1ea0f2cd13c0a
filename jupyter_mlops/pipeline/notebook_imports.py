"""The modules a notebook imports at top level, read with :mod:`json` and :mod:`ast` alone.

Importing scikit-learn and friends costs a fresh kernel seconds; the kernel pool imports these
modules in kernels started ahead of the steps (see ``kernels.start_kernel``), so a step pays
only for its own cells without anyone having to list them under ``preload``. Unreadable
notebooks and cells that are not plain Python (magics, syntax errors) contribute nothing:
the step itself will report those when it runs.
"""
from __future__ import annotations

import ast
import json
from pathlib import Path


def imported_modules(notebook_path) -> tuple[str, ...]:
    """Absolute module names imported by the top level of the notebook's code cells, in order."""
    try:
        cells = json.loads(Path(notebook_path).read_bytes()).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return ()
    found: dict[str, None] = {}
    for cell in cells if isinstance(cells, list) else ():
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        for name in _top_level_imports(source):
            found.setdefault(name, None)
    return tuple(found)


def _top_level_imports(source: str) -> list[str]:
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except (SyntaxError, ValueError):
        return []
    names = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return names
