"""Optional dependencies, imported where a feature needs them, with one clear message when absent.

The core install (tracking, registry, monitoring, model loading) stays small enough for a serving
image; the notebook side (papermill, kernels, widgets, plots) is the ``notebook`` extra and
``serve``/``onnx`` bring the model server. A missing part names the extra that brings it instead
of surfacing as a bare ``ModuleNotFoundError`` deep in a traceback.
"""
from __future__ import annotations

import importlib
import importlib.util

from .exceptions import MlopsError

# The extra that installs each optional top-level module.
EXTRA_OF = {
    "papermill": "notebook", "ipykernel": "notebook", "IPython": "notebook", "ipywidgets": "notebook",
    "matplotlib": "notebook", "nbformat": "notebook",
    "fastapi": "serve", "uvicorn": "serve",
    "onnxruntime": "onnx", "skl2onnx": "onnx",
    "pyarrow": "parquet", "psycopg": "postgresql", "s3fs": "s3", "distributed": "dask",
}


class MissingExtraError(MlopsError, ImportError):
    """An optional dependency a feature needs is not installed; names the extra to install."""


def require(module: str, feature: str):
    """Import and return ``module``, or raise ``MissingExtraError`` saying how to install it for ``feature``."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        top = module.split(".")[0]
        if error.name is None or error.name.split(".")[0] != top:
            raise  # the module is there but something it imports is broken: not ours to rename
        extra = EXTRA_OF.get(top)
        hint = f'pip install "jupyter_mlops[{extra}]"' if extra else f"pip install {top}"
        raise MissingExtraError(f"{feature} needs {top}, which is not installed: {hint}") from None


def available(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it."""
    return importlib.util.find_spec(module.split(".")[0]) is not None
