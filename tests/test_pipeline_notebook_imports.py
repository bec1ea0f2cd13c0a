"""The modules a step notebook imports, found without running it (the kernel pool preloads them)."""
from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from jupyter_mlops.pipeline.notebook_imports import imported_modules


def test_top_level_imports_of_code_cells_in_order_without_duplicates(tmp_path):
    path = tmp_path / "step.ipynb"
    nbformat.write(new_notebook(cells=[
        new_code_cell("n_estimators = 100", metadata={"tags": ["parameters"]}),
        new_markdown_cell("import not_code"),
        new_code_cell("import jupyter_mlops as mlops\nfrom sklearn.ensemble import RandomForestClassifier\n"
                      "import numpy, os.path"),
        new_code_cell("%matplotlib inline\nfrom sklearn.ensemble import ExtraTreesClassifier\nfrom . import local\n"
                      "def f():\n    import inside_a_function\n"),
        new_code_cell("this is not python ("),
    ]), path)
    assert imported_modules(path) == ("jupyter_mlops", "sklearn.ensemble", "numpy", "os.path")


def test_unreadable_notebook_contributes_nothing(tmp_path):
    (tmp_path / "broken.ipynb").write_text("{not json")
    assert imported_modules(tmp_path / "broken.ipynb") == ()
    assert imported_modules(tmp_path / "missing.ipynb") == ()
