"""The cache key sees the code a notebook imports: local modules beside it and package versions."""
from __future__ import annotations

import sys

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from jupyter_mlops.pipeline import code_dependencies as deps
from jupyter_mlops.pipeline.runner import PipelineRunner
from jupyter_mlops.pipeline.spec import load_spec


def _notebook(path, *cells):
    nb = new_notebook(cells=[new_code_cell(c) for c in cells],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, path)


def test_editing_an_imported_helper_module_reruns_the_step(project):
    (project / "helpers.py").write_text("from more import FACTOR\n\ndef scale(x):\n    return x * FACTOR\n")
    (project / "more.py").write_text("FACTOR = 2\n")
    _notebook(project / "step.ipynb", "import jupyter_mlops as mlops\nfrom helpers import scale",
              "mlops.log_metric('scaled', scale(21))")
    (project / "pipeline.yaml").write_text("name: deps\nsteps:\n  one: {notebook: step.ipynb}\n")

    def run():
        result = PipelineRunner(load_spec(project / "pipeline.yaml"), jobs=1).run()
        assert result.ok, result.failures()
        return result.states["one"]

    assert run().status == "FINISHED"
    assert run().status == "CACHED"  # nothing changed
    (project / "more.py").write_text("FACTOR = 3\n")  # imported by helpers.py, not by the notebook
    edited = run()
    assert edited.status == "FINISHED"
    import jupyter_mlops as mlops

    assert mlops.get_run(edited.run_id).metrics["scaled"] == 63
    assert run().status == "CACHED"


def test_code_dependencies_name_local_files_and_package_versions(tmp_path):
    (tmp_path / "util.py").write_text("import yaml\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "io.py").write_text("X = 1\n")
    _notebook(tmp_path / "nb.ipynb", "import os, json\nimport numpy as np\nfrom sklearn.base import clone",
              "import util\nfrom pkg import io\n%matplotlib inline")
    found = deps.code_dependencies(tmp_path / "nb.ipynb")
    assert set(found["local"]) == {"util.py", "pkg/__init__.py", "pkg/io.py"}
    import numpy
    import sklearn

    assert found["packages"]["numpy"] == f"numpy=={numpy.__version__}"
    assert found["packages"]["sklearn"].endswith(f"=={sklearn.__version__}")  # the scikit-learn distribution
    assert found["packages"]["yaml"].lower().startswith("pyyaml==")  # found through util.py
    assert "os" not in found["packages"] and "json" not in found["packages"]  # the standard library


def test_a_package_upgrade_changes_the_key(tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "fakepkg").mkdir(parents=True)
    (site / "fakepkg" / "__init__.py").write_text("")
    info = site / "fake_pkg_dist-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-pkg-dist\nVersion: 1.0\n")
    (info / "top_level.txt").write_text("fakepkg\n")
    monkeypatch.syspath_prepend(str(site))
    work = tmp_path / "work"
    work.mkdir()
    _notebook(work / "nb.ipynb", "import fakepkg")
    deps.distribution_version.cache_clear()
    before = deps.code_dependencies(work / "nb.ipynb")["packages"]["fakepkg"]
    info.rename(site / "fake_pkg_dist-1.1.dist-info")
    (site / "fake_pkg_dist-1.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fake-pkg-dist\nVersion: 1.1\n")
    deps.distribution_version.cache_clear()
    sys.modules.pop("fakepkg", None)
    after = deps.code_dependencies(work / "nb.ipynb")["packages"]["fakepkg"]
    assert (before, after) == ("fake_pkg_dist==1.0", "fake_pkg_dist==1.1")
