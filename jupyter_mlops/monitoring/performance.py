"""Model performance on current data with known outcomes, set against the reference metrics.

Drift says the inputs moved; these numbers say whether it hurt. Classification: accuracy, F1
(binary for 0/1 or boolean labels, else macro) and ROC AUC when scores are given; regression:
RMSE and MAE. ``change`` is current minus reference for every metric both sides have.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..exceptions import InvalidInputError

CLASSIFICATION = ("accuracy", "f1", "roc_auc")
REGRESSION = ("rmse", "mae")


def task_of(y_true: np.ndarray) -> str:
    from sklearn.utils.multiclass import type_of_target

    kind = type_of_target(y_true)
    if kind in ("binary", "multiclass"):
        return "classification"
    if kind in ("continuous", "continuous-multioutput"):
        return "regression"
    raise InvalidInputError(f"cannot tell classification from regression for a target of type {kind!r}")


def performance_metrics(y_true, y_pred, scores=None) -> dict:
    """Metrics on the rows where both the outcome and the prediction are known."""
    from sklearn import metrics

    y_true, y_pred = pd.Series(np.asarray(y_true)).infer_objects(), pd.Series(np.asarray(y_pred)).infer_objects()
    if len(y_true) != len(y_pred):
        raise InvalidInputError(f"target has {len(y_true)} rows but predictions have {len(y_pred)}")
    known = (y_true.notna() & y_pred.notna()).to_numpy()
    if not known.any():
        return {"status": "not enough data", "rows": 0}
    truth, predicted = y_true[known].to_numpy(), y_pred[known].to_numpy()
    task = task_of(truth)
    values: dict = {"status": "ok", "task": task, "rows": int(known.sum())}
    if task == "regression":
        values["rmse"] = float(np.sqrt(metrics.mean_squared_error(truth, predicted)))
        values["mae"] = float(metrics.mean_absolute_error(truth, predicted))
        return values
    values["accuracy"] = float(metrics.accuracy_score(truth, predicted))
    labels = set(pd.unique(np.concatenate([truth, predicted])).tolist())
    binary = labels <= {0, 1}  # also True/False
    values["f1"] = float(metrics.f1_score(truth, predicted, average="binary" if binary else "macro"))
    if scores is not None:
        score = np.asarray(scores)[known]
        if len(set(truth.tolist())) < 2:
            values["roc_auc"] = None  # undefined with one class present
        elif score.ndim == 2 and score.shape[1] > 2:
            values["roc_auc"] = float(metrics.roc_auc_score(truth, score, multi_class="ovr"))
        else:
            values["roc_auc"] = float(metrics.roc_auc_score(truth, score[:, -1] if score.ndim == 2 else score))
    return values


def compare(current: dict, reference: dict | None) -> dict:
    """``current`` metrics beside ``reference`` ones, with ``change`` = current - reference."""
    names = CLASSIFICATION + REGRESSION
    now = {k: v for k, v in current.items() if k in names and v is not None}
    before = {k: float(v) for k, v in (reference or {}).items() if k in names and v is not None}
    return {"status": current.get("status"), "rows": current.get("rows", 0), "current": now, "reference": before,
            "change": {k: now[k] - before[k] for k in now if k in before}}
