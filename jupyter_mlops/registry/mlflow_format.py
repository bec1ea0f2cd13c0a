"""An ``MLmodel`` file beside our own metadata, so ``mlflow.pyfunc.load_model(package)`` works.

It declares MLflow's scikit-learn flavor with the skops serialization format: no pickle is
involved. MLflow reads the trusted skops types from this file; our own loader never does (it
takes them from the registry), which is why the list here is only a convenience for MLflow.
"""
from __future__ import annotations

import json
import time
import uuid

# pandas dtype kind -> MLflow column type
_COLSPEC = {"f": "double", "i": "long", "u": "long", "b": "boolean", "O": "string", "M": "datetime"}


def _column_type(dtype: str) -> str:
    import numpy as np

    try:
        kind = np.dtype(dtype).kind
    except TypeError:  # pandas extension dtypes ("string", "category", ...)
        return "string"
    if dtype == "float32":
        return "float"
    if dtype == "int32":
        return "integer"
    return _COLSPEC.get(kind, "string")


def mlmodel(model_path: str, signature: dict, trusted_types: list[str], python_version: str,
            sklearn_version: str, predict_fn: str = "predict") -> dict:
    inputs = [{"type": _column_type(i["dtype"]), "name": i["name"], "required": True}
              for i in signature.get("inputs", [])]
    outputs = [{"type": "tensor", "tensor-spec": {"dtype": o["dtype"], "shape": o.get("shape", [-1])}}
               for o in signature.get("outputs", [])]
    document = {
        "flavors": {
            "python_function": {"loader_module": "mlflow.sklearn", "model_path": model_path,
                                "predict_fn": predict_fn, "python_version": python_version,
                                "env": {"virtualenv": "python_env.yaml"}},
            "sklearn": {"pickled_model": model_path, "serialization_format": "skops",
                        "skops_trusted_types": list(trusted_types), "sklearn_version": sklearn_version,
                        "code": None},
        },
        "model_uuid": uuid.uuid4().hex,
        "utc_time_created": time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime()),
    }
    if inputs:
        document["signature"] = {"inputs": json.dumps(inputs), "outputs": json.dumps(outputs) if outputs else None,
                                 "params": None}
    return document


def python_env(python_version: str, pip_version: str | None) -> dict:
    """MLflow's ``python_env.yaml``: the interpreter and the pinned requirements file."""
    return {"python": python_version, "build_dependencies": [f"pip=={pip_version}" if pip_version else "pip"],
            "dependencies": ["-r requirements.txt"]}
