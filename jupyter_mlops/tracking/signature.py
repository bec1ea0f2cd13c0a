"""A model's signature: input columns with dtypes and its output, inferred from example data.

Serving and batch scoring validate requests against it, and the exporter writes it into the
package, so a caller learns what a model expects without loading it.
"""
from __future__ import annotations

from ..exceptions import InvalidInputError


def as_frame(data, columns=None):
    """``data`` as a DataFrame; arrays get the estimator's feature names or ``x0, x1, ...``."""
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame()
    array = np.asarray(data)
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2:
        raise InvalidInputError(f"expected a table of rows and columns, got an array of shape {array.shape}")
    names = list(columns) if columns is not None else [f"x{i}" for i in range(array.shape[1])]
    return pd.DataFrame(array, columns=[str(c) for c in names])


def infer_signature(estimator, example) -> dict:
    """Inputs from the example's columns and dtypes; outputs from predicting on its first rows."""
    import numpy as np

    frame = as_frame(example, getattr(estimator, "feature_names_in_", None))
    inputs = [{"name": str(c), "dtype": str(frame[c].dtype)} for c in frame.columns]
    signature = {"inputs": inputs, "outputs": []}
    head = frame.head(5)
    try:
        prediction = np.asarray(estimator.predict(head if hasattr(estimator, "feature_names_in_") else head.to_numpy()))
        signature["outputs"].append({"name": "prediction", "dtype": str(prediction.dtype),
                                     "shape": [-1, *prediction.shape[1:]]})
    except Exception as exc:  # noqa: BLE001 - a signature without outputs is still useful for validation
        signature["output_error"] = f"{type(exc).__name__}: {exc}"
    classes = getattr(estimator, "classes_", None)
    if classes is not None:
        signature["task"] = "classification"
        signature["classes"] = np.asarray(classes).tolist()
    else:
        signature["task"] = "regression" if hasattr(estimator, "predict") else "transform"
    return signature


def input_example(example, columns=None, rows: int = 5) -> dict:
    """The first ``rows`` rows as a ``dataframe_split`` JSON object (the format serving accepts)."""
    frame = as_frame(example, columns).head(rows)
    return {"columns": [str(c) for c in frame.columns], "data": frame.astype(object).where(frame.notna(), None).values.tolist()}
