"""How a step process imports papermill: fast, yet without breaking anything else it imports."""
from __future__ import annotations

import subprocess

from .conftest import PYTHON, python_env


def test_import_papermill_skips_the_iri_grammar_yet_leaves_it_importable():
    code = (
        "import sys\n"
        "from jupyter_mlops.pipeline.execution import import_papermill\n"
        "papermill = import_papermill()\n"
        "import nbformat, jsonschema\n"
        "assert 'rfc3987_syntax' not in sys.modules, 'the grammar was built'\n"
        "assert callable(papermill.execute_notebook)\n"
        "nbformat.validate(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('1')]))\n"
        "import rfc3987_syntax\n"  # whoever asks for it by name still gets it
        "assert rfc3987_syntax.is_valid_syntax('iri', 'http://example.org/a')\n"
        "print('ok')\n"
    )
    done = subprocess.run([PYTHON, "-c", code], env=python_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
