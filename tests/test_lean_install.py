"""The lean install: the core and a serving image work without the notebook side.

``pip install jupyter_mlops`` and ``pip install "jupyter_mlops[serve,onnx]"`` carry no JupyterLab,
papermill, matplotlib, IPython, ipykernel or ipywidgets. Two things keep that true: the installed
metadata does not ask for them, and nothing on the core's paths imports them. The second is checked
in a child process blind to them, as a venv without them would be: it tracks a run, approves and
exports it, verifies, scores and monitors (with its HTML report); the plain install's child is also
blind to the extras' packages (FastAPI, ONNX Runtime, Dask, ...), the serving image's serves.
"""
from __future__ import annotations

import json
import subprocess
from importlib.metadata import requires
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .conftest import PYTHON, python_env

NOTEBOOK_SIDE = ("jupyterlab", "papermill", "matplotlib", "IPython", "ipykernel", "ipywidgets")
# What the plain install does not bring either: the core's paths must not need these.
EXTRAS_ONLY = ("fastapi", "uvicorn", "onnxruntime", "skl2onnx", "dask", "distributed", "pyarrow", "psycopg")
ABSENT = {"core": NOTEBOOK_SIDE + EXTRAS_ONLY, "serve": NOTEBOOK_SIDE}

CHILD = Path(__file__).parent / "helpers" / "lean_install_paths.py"


def installed_with(*extras: str) -> set[str]:
    """The distributions ``pip install "jupyter_mlops[extras]"`` asks for, by the installed metadata."""
    names = set()
    for line in requires("jupyter_mlops"):
        requirement = Requirement(line)
        if requirement.marker is None or any(requirement.marker.evaluate({"extra": e}) for e in ("", *extras)):
            names.add(canonicalize_name(requirement.name))
    return names


def test_the_installed_core_and_serve_extras_ask_for_none_of_the_notebook_side():
    core, serving = installed_with(), installed_with("serve", "onnx")
    assert {"jupyter-server", "scikit-learn", "fsspec"} <= core
    assert {"fastapi", "onnxruntime"} <= serving - core
    notebook_side = {canonicalize_name(name) for name in NOTEBOOK_SIDE}
    assert (core & notebook_side, serving & notebook_side) == (set(), set())
    assert notebook_side <= installed_with("notebook", "lab")  # the names are spelled as the extras spell them


@pytest.mark.parametrize("part", ["core", "serve"])
def test_the_core_and_the_serving_image_run_without_the_notebook_side(tmp_path, part):
    done = subprocess.run([PYTHON, str(CHILD), ",".join(ABSENT[part]), part], cwd=tmp_path, env=python_env(),
                          capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.split("SEEN ", 1)[1])
    assert (seen["runs"], seen["verify"], seen["predict"], seen["monitor"]) == (0, 0, 0, 0), done.stdout
    assert seen["labels"] == seen["expected"]
    assert (tmp_path / "scored.csv").read_text().count("\n") == 570  # the header and every row
    assert "<html" in (tmp_path / "drift.html").read_text().lower()
    if part == "serve":
        assert seen["served"] == seen["expected"]
