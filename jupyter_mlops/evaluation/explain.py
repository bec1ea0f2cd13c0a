"""Why the model predicts what it predicts: permutation importance, and SHAP when it is installed.

Permutation importance (scikit-learn) is the drop in the model's score when one column is
shuffled; it needs only ``predict``, so it works for any model. SHAP values explain single
predictions; their mean magnitude per column summarises the model. Both run on a seeded sample
of at most ``max_rows`` rows: their cost grows with rows × columns × repeats.
"""
from __future__ import annotations

import numpy as np

from ..extras import available

MAX_ROWS = 5000
SHAP_ROWS = 200
TOP = 10


def permutation_importance(model, X, y, task: str, seed: int, max_rows: int = MAX_ROWS, repeats: int = 5) -> list[dict]:
    """``[{"feature", "importance", "std"}]`` sorted by importance (drop in accuracy or R²)."""
    from sklearn.inspection import permutation_importance as sk_importance
    from sklearn.metrics import accuracy_score, r2_score

    X, y = _sample(X, y, max_rows, seed)
    metric = accuracy_score if task == "classification" else r2_score

    def score(estimator, features, truth):
        return metric(truth, estimator.predict(features))

    result = sk_importance(_Predictor(model), X, y, scoring=score, n_repeats=repeats, random_state=seed)
    rows = [{"feature": str(c), "importance": float(m), "std": float(sd)}
            for c, m, sd in zip(X.columns, result.importances_mean, result.importances_std)]
    return sorted(rows, key=lambda r: -r["importance"])


def shap_summary(model, X, task: str, seed: int, max_rows: int = SHAP_ROWS) -> tuple[list[dict] | None, str]:
    """Mean |SHAP value| per column (``None`` and why when shap is missing or cannot explain the model)."""
    if not available("shap"):
        return None, "shap is not installed (pip install shap): no SHAP summary"
    import shap

    X, _ = _sample(X, None, max_rows, seed)
    estimator = getattr(model, "estimator", model)  # a loaded package: its scikit-learn model
    try:
        if hasattr(estimator, "coef_"):
            explainer, how = shap.LinearExplainer(estimator, shap.sample(X, min(100, len(X)), random_state=seed)), \
                "LinearExplainer"
            values = explainer.shap_values(X)
        elif hasattr(estimator, "estimators_") or hasattr(estimator, "tree_"):
            explainer, how = shap.TreeExplainer(estimator), "TreeExplainer"
            values = explainer.shap_values(X)
        else:
            background = shap.sample(X, min(50, len(X)), random_state=seed)
            predict = estimator.predict_proba if hasattr(estimator, "predict_proba") and task == "classification" \
                else estimator.predict
            explainer, how = shap.PermutationExplainer(predict, background, seed=seed), "PermutationExplainer"
            values = explainer(X, silent=True).values
    except Exception as exc:  # noqa: BLE001 - shap cannot take every model: say so instead of failing the evaluation
        return None, f"SHAP could not explain {type(estimator).__name__}: {type(exc).__name__}: {str(exc)[:200]}"
    raw = values.values if hasattr(values, "values") else values
    if isinstance(raw, list):  # older shap: one array per class
        raw = np.stack(raw, axis=-1)
    magnitude = np.abs(np.asarray(raw, dtype=np.float64))
    if magnitude.ndim == 3:  # rows × features × classes: averaged over the classes
        magnitude = magnitude.mean(axis=-1)
    means = magnitude.mean(axis=0)
    rows = [{"feature": str(c), "mean_abs_shap": float(v)} for c, v in zip(X.columns, means)]
    return sorted(rows, key=lambda r: -r["mean_abs_shap"]), f"{how} on {len(X)} rows"


class _Predictor:
    """Anything with ``predict`` as an object scikit-learn's permutation_importance accepts."""

    def __init__(self, model):
        self.model = model

    def fit(self, *args):  # never called: permutation_importance only checks it is there
        return self

    def predict(self, X):
        return self.model.predict(X)


def _sample(X, y, max_rows: int, seed: int):
    if len(X) <= max_rows:
        return X, y
    rows = np.random.default_rng(seed).choice(len(X), size=max_rows, replace=False)
    rows.sort()
    return X.iloc[rows], (None if y is None else np.asarray(y)[rows])
