"""The package's layers import downward only: no cycles between the top-level packages.

Read from the source with ``ast`` (imports inside functions count too: a lazy import is still a
dependency), so the test sees what a reader of the code sees.
"""
from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "jupyter_mlops"
PACKAGES = ("tracking", "pipeline", "registry", "runtimes", "serving", "monitoring", "server")

# Bottom to top; a package may import only from packages on its own level or below it.
LAYERS = {
    "exceptions": 0, "config": 0, "safe_names": 0, "extras": 0,  # ground
    "tracking": 1,
    "runtimes": 2,  # scikit-learn and ONNX Runtime, ONNX conversion
    "pipeline": 3, "registry": 3, "monitoring": 3, "evaluation": 3,  # domain
    "serving": 4,
    "jobs": 5, "lineage": 5,  # schedules, the retraining loop, lineage: drive or read several domain packages
    "api": 6, "magics": 6, "widgets": 6, "cli": 6, "server": 6,  # doors
    "demo": 6, "doctor": 6, "execute": 6,  # behind CLI commands
}
# The package itself (``jupyter_mlops/__init__.py`` opens the API lazily) and its entry points.
NOT_LAYERED = {"__init__", "__main__", "__version__"}


def _top_level_of(module: Path) -> str:
    parts = module.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def _imported_packages(module: Path) -> set[str]:
    """Top-level parts of ``jupyter_mlops`` that ``module`` imports, absolute or relative."""
    tree = ast.parse(module.read_text(), filename=str(module))
    depth_of_module = len(module.relative_to(PACKAGE).parts) - 1  # folders below jupyter_mlops/
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                names = [node.module or ""]
            else:
                up = node.level - 1
                if up > depth_of_module:
                    continue
                base = list(module.relative_to(PACKAGE).parts[:depth_of_module - up])
                target = base + (node.module.split(".") if node.module else [])
                if not target:  # ``from .. import x``: x is a top-level package or module
                    found.update(alias.name for alias in node.names)
                    continue
                found.add(target[0])
                continue
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "jupyter_mlops" and len(parts) > 1:
                found.add(parts[1])
    return found


@functools.cache  # one parse of the tree for all the checks
def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module in PACKAGE.rglob("*.py"):
        if "labextension" in module.parts:
            continue
        source = _top_level_of(module)
        graph.setdefault(source, set()).update(_imported_packages(module) - {source})
    return graph


def _cycle_through(graph: dict[str, set[str]], start: str) -> list[str] | None:
    stack = [(start, [start])]
    seen = set()
    while stack:
        node, path = stack.pop()
        for nxt in graph.get(node, ()):
            if nxt == start:
                return path + [start]
            if nxt not in seen and nxt in PACKAGES:
                seen.add(nxt)
                stack.append((nxt, path + [nxt]))
    return None


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle_through(package):
    cycle = _cycle_through(_graph(), package)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_registry_does_not_import_serving():
    assert "serving" not in _graph().get("registry", set())


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_layers_import_downward_only(package):
    upward = {other for other in _graph().get(package, set())
              if other in LAYERS and LAYERS[other] > LAYERS[package]}
    assert not upward, f"{package} (layer {LAYERS[package]}) imports from a layer above it: {sorted(upward)}"


def test_every_part_of_the_package_has_a_layer():
    """A new package or top-level module is placed in LAYERS, so the checks above cover it."""
    graph = _graph()
    parts = set(graph) | set().union(*graph.values())
    assert not parts - set(LAYERS) - NOT_LAYERED, "add to LAYERS: " + ", ".join(sorted(parts - set(LAYERS) - NOT_LAYERED))


def test_the_graph_sees_relative_and_lazy_imports():
    """Guards the test itself: the known downward edges must be found, or the checks above prove nothing."""
    graph = _graph()
    assert "tracking" in graph["registry"]
    assert "registry" in graph["serving"]
    assert "exceptions" in graph["tracking"]


def test_a_module_past_400_lines_says_why_at_its_top():
    """Small modules with one job: one that grows past ~400 lines states its reason in its docstring."""
    unexplained = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text()
        if source.count("\n") > 420 and "past 400 lines" not in (ast.get_docstring(ast.parse(source)) or ""):
            unexplained.append(f"{path.relative_to(PACKAGE)} ({source.count(chr(10))} lines)")
    assert not unexplained, f"modules past 400 lines without a reason at their top: {unexplained}"
