"""``mlops.evaluate``: metrics per slice with bootstrap intervals, fairness gaps, explanations.

Recorded on the run: ``eval.<metric>`` for the whole set, ``slice.<feature>=<value>.<metric>``
per slice (``.ci_low`` / ``.ci_high`` for the interval, ``.count`` for its rows),
``fairness.<gap>``, ``importance.<feature>`` (top columns); the tag ``mlops.evaluation`` (what
was evaluated, on which data, with which settings) and the artifacts ``evaluation/evaluation.json``
and ``evaluation/report.html``. The approval gates and the model card read these back.

It runs past 400 lines on purpose: it is the one place that wires an evaluation together (data,
task, slices, fairness, explanations, recording); the measuring itself lives in its siblings.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from ..exceptions import InvalidInputError
from ..tracking.slice_keys import key_part
from . import classification, fairness, regression
from . import slices as slicing

DEFAULT_MIN_SLICE_COUNT = 30
DEFAULT_RESAMPLES = 1000
TAG = "mlops.evaluation"
JSON_ARTIFACT = "evaluation/evaluation.json"
HTML_ARTIFACT = "evaluation/report.html"
OVERALL = "overall"


@dataclass
class EvaluationResult:
    """What ``evaluate`` found; ``to_dict()`` is what ``evaluation/evaluation.json`` holds."""

    task: str
    target: str
    rows: int
    settings: dict
    overall: dict  # metric -> {"value", "ci_low", "ci_high"}
    slices: list[dict]  # one per slice: spec, label, values, count, small, metrics, cells
    fairness: dict = field(default_factory=dict)  # gap -> {"value", "ci_low", "ci_high"}
    sensitive_groups: list[dict] = field(default_factory=list)
    calibration: dict | None = None
    confusion: dict | None = None  # overall: labels and matrix
    importance: list[dict] | None = None
    shap: list[dict] | None = None
    notes: list[str] = field(default_factory=list)
    subject: str = ""
    run_id: str | None = None

    @property
    def small_slices(self) -> list[str]:
        return [s["label"] for s in self.slices if s["small"]]

    def slice_table(self):
        """The slices as a DataFrame: one row per slice, a column per metric (and its interval)."""
        import pandas as pd

        rows = []
        for s in self.slices:
            row = {"slice": s["spec"], "value": s["label"], "count": s["count"], "small": s["small"]}
            for metric, m in s["metrics"].items():
                row[metric] = m["value"]
                if "ci_low" in m:
                    row[f"{metric}_ci_low"], row[f"{metric}_ci_high"] = m["ci_low"], m["ci_high"]
            rows.append(row)
        return pd.DataFrame(rows)

    def metrics(self) -> dict:
        """The flat ``{key: value}`` recorded on the run (undefined values left out)."""
        out = {}
        for metric, m in self.overall.items():
            _put(out, f"eval.{metric}", m)
        for s in self.slices:
            out[slicing.metric_key(s["label"], "count")] = float(s["count"])
            for metric, m in s["metrics"].items():
                _put(out, slicing.metric_key(s["label"], metric), m)
        for gap, m in self.fairness.items():
            _put(out, f"fairness.{gap}", m)
        for row in (self.importance or [])[:TOP_FEATURES]:
            out[f"importance.{key_part(row['feature'])}"] = row["importance"]
        for row in (self.shap or [])[:TOP_FEATURES]:
            out[f"shap.{key_part(row['feature'])}"] = row["mean_abs_shap"]
        return {k: v for k, v in out.items() if v is not None and not np.isnan(v)}

    def to_dict(self) -> dict:
        return {"task": self.task, "target": self.target, "rows": self.rows, "settings": self.settings,
                "subject": self.subject, "run_id": self.run_id, "overall": self.overall, "slices": self.slices,
                "fairness": self.fairness, "sensitive_groups": self.sensitive_groups, "calibration": self.calibration,
                "confusion": self.confusion, "importance": self.importance, "shap": self.shap, "notes": self.notes}

    def to_html(self) -> str:
        from .report import render

        return render(self.to_dict())

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        main = "accuracy" if self.task == "classification" else "rmse"
        value = self.overall.get(main, {}).get("value")
        return (f"<EvaluationResult {self.task} rows={self.rows} {main}={value:.4g} slices={len(self.slices)} "
                f"small={len(self.small_slices)} fairness={sorted(self.fairness)}>")


TOP_FEATURES = 10


def _put(out: dict, key: str, m: dict) -> None:
    out[key] = m["value"]
    if "ci_low" in m:
        out[f"{key}.ci_low"], out[f"{key}.ci_high"] = m["ci_low"], m["ci_high"]


def _number(v):
    v = float(v)
    return None if np.isnan(v) else v


def evaluate(model_or_run, data, target: str = "y", slices=(), sensitive_features=(), *, predictions=None,
             probabilities=None, features=None, task: str | None = None, pos_label=None,
             min_slice_count: int = DEFAULT_MIN_SLICE_COUNT, n_bootstrap: int = DEFAULT_RESAMPLES,
             confidence: float = 0.95, seed: int = 0, explain: bool = True, shap: bool = False, run=None, record: bool = True,
             trust=None, store=None) -> EvaluationResult:
    """Evaluate on ``data`` (a DataFrame or a CSV/Parquet path) holding the ``target`` column."""
    from ..tracking.store import open_store
    from . import subjects

    opened = [store]

    def the_store():  # opened only when a run or reference is read or a result recorded
        if opened[0] is None:
            opened[0] = open_store()
        return opened[0]

    frame = _frame(data)
    if target not in frame.columns:
        raise InvalidInputError(f"evaluate: target column {target!r} is not in the evaluation data")
    if len(frame) == 0:
        raise InvalidInputError("evaluate: the evaluation data has no rows")
    _check_settings(min_slice_count, n_bootstrap, confidence)
    specs = slicing.parse_specs(slices, frame.columns)
    sensitive = slicing.parse_specs([",".join(sensitive_features)] if not isinstance(sensitive_features, str)
                                   and sensitive_features else sensitive_features, frame.columns, "sensitive_features")
    sensitive = sensitive[0] if sensitive else ()
    if sensitive and sensitive not in specs:
        specs.append(sensitive)
    subject = subjects.resolve(model_or_run, the_store, trust)
    y_true = frame[target].to_numpy()
    if frame[target].isna().any():
        raise InvalidInputError(f"evaluate: target column {target!r} has missing values")
    X = None
    if subject.model is not None:
        X = subjects.features_of(subject.model, frame, target, features)
        y_pred = np.asarray(subject.model.predict(X))
    elif predictions is not None:
        y_pred = _column(frame, predictions, "predictions")
    else:
        raise InvalidInputError("evaluate: no model to predict with: pass a model, a run or a reference, "
                                "or predictions= (a column name or an array)")
    task = task or _task_of(subject.model, y_true, y_pred)
    if task not in ("classification", "regression"):
        raise InvalidInputError(f"evaluate: task must be 'classification' or 'regression', got {task!r}")
    rng = np.random.default_rng(seed)
    settings = {"slices": [",".join(s) for s in specs], "sensitive_features": list(sensitive),
                "min_slice_count": int(min_slice_count), "n_bootstrap": int(n_bootstrap),
                "confidence": float(confidence), "seed": int(seed)}
    groupings = [slicing.group_rows(frame, spec) for spec in specs]
    if task == "classification":
        result = _classification(subject, X, y_true, y_pred, probabilities, frame, pos_label, groupings, sensitive,
                                 rng, n_bootstrap, confidence, min_slice_count, settings)
    else:
        result = _regression(y_true, y_pred, groupings, sensitive, rng, n_bootstrap, confidence, min_slice_count,
                             settings)
    result.target, result.subject = target, subject.description
    if explain and subject.model is not None:
        _explain(result, subject.model, X, y_true, task, seed, shap)
    if record:
        result.run_id = _record(result, the_store(), subject, run, frame)
    return result


def _frame(data):
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data.reset_index(drop=True)
    if isinstance(data, str) or hasattr(data, "__fspath__"):
        from pathlib import Path

        path = Path(data)
        if not path.is_file():
            raise InvalidInputError(f"evaluate: no file at {str(data)[:200]!r}")
        return pd.read_parquet(path) if path.suffix in (".parquet", ".pq") else pd.read_csv(path)
    raise InvalidInputError(f"evaluate: data must be a DataFrame or a CSV/Parquet path, got {type(data).__name__}")


def _column(frame, given, what: str) -> np.ndarray:
    if isinstance(given, str):
        if given not in frame.columns:
            raise InvalidInputError(f"evaluate: {what} column {given!r} is not in the evaluation data")
        return frame[given].to_numpy()
    values = np.asarray(given)
    if len(values) != len(frame):
        raise InvalidInputError(f"evaluate: {what} has {len(values)} rows, the data {len(frame)}")
    return values


def _check_settings(min_slice_count, n_bootstrap, confidence) -> None:
    if not isinstance(min_slice_count, (int, np.integer)) or min_slice_count < 0:
        raise InvalidInputError(f"evaluate: min_slice_count must be a non-negative integer, got {min_slice_count!r}")
    if not isinstance(n_bootstrap, (int, np.integer)) or not 0 <= n_bootstrap <= 100_000:
        raise InvalidInputError(f"evaluate: n_bootstrap must be an integer from 0 to 100000, got {n_bootstrap!r}")
    if not isinstance(confidence, float) or not 0 < confidence < 1:
        raise InvalidInputError(f"evaluate: confidence must be a float between 0 and 1, got {confidence!r}")


def _task_of(model, y_true, y_pred) -> str:
    """The model's kind when it says; else regression for non-whole numbers, classification otherwise
    (scikit-learn is imported only when there is a model to ask: it takes seconds to import)."""
    if model is not None:
        from sklearn.base import is_classifier, is_regressor

        estimator = getattr(model, "estimator", model)
        if is_classifier(estimator):
            return "classification"
        if is_regressor(estimator):
            return "regression"
    values = np.asarray(y_true)
    if values.dtype.kind == "f" and not np.all(np.mod(values[np.isfinite(values)], 1) == 0):
        return "regression"
    return "classification"


# -- classification ------------------------------------------------------------------------------
def _classification(subject, X, y_true, y_pred, probabilities, frame, pos_label, groupings, sensitive, rng,
                    n_resamples, confidence, min_count, settings) -> EvaluationResult:
    model = subject.model
    estimator_classes = getattr(model, "classes_", None)
    if estimator_classes is None:
        estimator_classes = getattr(getattr(model, "estimator", None), "classes_", None)
    classes = list(estimator_classes) if estimator_classes is not None else \
        sorted(set(np.unique(y_true)) | set(np.unique(y_pred)), key=str)
    unknown = set(np.unique(y_true)) - set(classes)
    if unknown:
        raise InvalidInputError(f"evaluate: the target holds labels the model does not predict: "
                                f"{sorted(map(str, unknown))[:5]}")
    proba = None
    if probabilities is not None:
        proba = np.asarray(_column(frame, probabilities, "probabilities") if isinstance(probabilities, str)
                           else probabilities, dtype=np.float64)
    elif model is not None and hasattr(model, "predict_proba") and estimator_classes is not None:
        try:
            proba = np.asarray(model.predict_proba(X), dtype=np.float64)
        except Exception as exc:  # noqa: BLE001 - a model without working probabilities: no AUC or calibration
            settings.setdefault("notes", []).append(f"no probabilities: {exc}")
    index = {c: i for i, c in enumerate(classes)}
    y_codes = np.array([index[v] for v in y_true]) if len(classes) > 2 else None
    binary = len(classes) <= 2
    notes = []
    if binary:
        if pos_label is None:
            pos_label = classes[-1]
        if pos_label not in classes:
            raise InvalidInputError(f"evaluate: pos_label {pos_label!r} is not one of the labels {classes}")
        settings["pos_label"] = _plain(pos_label)
        y = (y_true == pos_label)
        yhat = (y_pred == pos_label)
        if proba is not None and proba.ndim == 2:
            proba = proba[:, index[pos_label]] if proba.shape[1] == len(classes) else proba[:, -1]
        order = np.argsort(proba) if proba is not None else None
        bins = classification.score_bins(proba) if proba is not None else None
        ties = classification.has_ties(proba, order) if proba is not None else False

        def measure(codes, groups):
            return classification.binary_slices(codes, groups, y, yhat, proba, order, bins, rng, n_resamples, confidence,
                                                ties)
    else:
        yhat_codes = np.array([index.get(v, -1) for v in y_pred])
        if (yhat_codes < 0).any():
            raise InvalidInputError("evaluate: the predictions hold labels outside the model's classes")
        if proba is not None and proba.shape[1] != len(classes):
            proba = None
            notes.append("probabilities do not match the classes: no ROC AUC")

        def measure(codes, groups):
            return classification.multiclass_slices(codes, groups, y_codes, yhat_codes, len(classes), proba, rng,
                                                    n_resamples, confidence)
    settings["classes"] = [_plain(c) for c in classes]
    zeros = np.zeros(len(y_true), dtype=np.int64)
    whole = measure(zeros, 1)
    overall = _metric_rows(whole, 0)
    result = EvaluationResult("classification", "", len(y_true), settings, overall, [], notes=notes)
    if binary:
        cells = whole["cells"][0]
        result.confusion = {"labels": [_plain(c) for c in classes if c != pos_label] + [_plain(pos_label)],
                            "matrix": [[int(cells[0]), int(cells[1])], [int(cells[2]), int(cells[3])]],
                            "cells": ["tn", "fp", "fn", "tp"]}
        if proba is not None:
            calib = classification.calibration(zeros, 1, y, proba)["bins"]
            result.calibration = {k: [_number(v) for v in calib[k][0]] for k in calib}
    else:
        result.confusion = {"labels": settings["classes"], "matrix": whole["cells"][0].astype(int).tolist()}
    sensitive_measured = None
    for grouping in groupings:
        measured = measure(grouping.codes, grouping.size)
        result.slices += _slice_rows(grouping, measured, min_count, binary)
        if grouping.features == sensitive:
            sensitive_measured = (grouping, measured)
    if sensitive_measured is not None:
        grouping, measured = sensitive_measured
        _fairness(result, grouping, measured, binary, rng, n_resamples, confidence)
    return result


def _metric_rows(measured: dict, group: int) -> dict:
    rows = {}
    for metric, values in measured["values"].items():
        row = {"value": _number(values[group])}
        if metric in measured["intervals"]:
            low, high = measured["intervals"][metric]
            row["ci_low"], row["ci_high"] = _number(low[group]), _number(high[group])
        rows[metric] = row
    return rows


def _slice_rows(grouping, measured, min_count: int, binary: bool) -> list[dict]:
    rows = []
    for g in range(grouping.size):
        count = int(grouping.counts[g])
        row = {"spec": grouping.spec, "label": grouping.label(g),
               "values": dict(zip(grouping.features, map(_plain, grouping.values[g]))),
               "count": count, "small": count < min_count, "metrics": _metric_rows(measured, g)}
        if binary:
            row["cells"] = dict(zip(("tn", "fp", "fn", "tp"), map(int, measured["cells"][g])))
        rows.append(row)
    return rows


def _fairness(result: EvaluationResult, grouping, measured, binary: bool, rng, n_resamples, confidence) -> None:
    gaps = {}
    if binary:
        values, intervals, per_group = fairness.binary_gaps(measured["cells"], rng, n_resamples, confidence)
        for gap, value in values.items():
            gaps[gap] = {"value": _number(value)}
            if gap in intervals:
                gaps[gap]["ci_low"], gaps[gap]["ci_high"] = map(_number, intervals[gap])
    else:
        per_group = {}
        result.notes.append("demographic parity and equalized odds are defined for binary classifiers; "
                            "only metric differences across the sensitive groups are given")
    for name, value in fairness.metric_differences(measured["values"], grouping.counts).items():
        gaps[name] = {"value": _number(value)}
    result.fairness = gaps
    result.sensitive_groups = [
        {"label": grouping.label(g), "values": dict(zip(grouping.features, map(_plain, grouping.values[g]))),
         "count": int(grouping.counts[g]), **{k: _number(v[g]) for k, v in per_group.items()}}
        for g in range(grouping.size)]


# -- regression ------------------------------------------------------------------------------------
def _regression(y_true, y_pred, groupings, sensitive, rng, n_resamples, confidence, min_count, settings):
    try:
        y, yhat = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError("evaluate: a regression target and its predictions must be numbers") from None
    zeros = np.zeros(len(y), dtype=np.int64)
    whole = regression.regression_slices(zeros, 1, y, yhat, rng, n_resamples, confidence)
    result = EvaluationResult("regression", "", len(y), settings, _metric_rows(whole, 0), [])
    for grouping in groupings:
        measured = regression.regression_slices(grouping.codes, grouping.size, y, yhat, rng, n_resamples, confidence)
        result.slices += _slice_rows(grouping, measured, min_count, False)
        if grouping.features == sensitive:
            result.fairness = {k: {"value": _number(v)} for k, v in
                               fairness.metric_differences(measured["values"], grouping.counts).items()}
            result.sensitive_groups = [
                {"label": grouping.label(g), "values": dict(zip(grouping.features, map(_plain, grouping.values[g]))),
                 "count": int(grouping.counts[g])} for g in range(grouping.size)]
    return result


# -- explanations and recording ------------------------------------------------------------------------
def _explain(result: EvaluationResult, model, X, y_true, task: str, seed: int, with_shap: bool) -> None:
    """Permutation importance always; SHAP when asked (importing shap alone takes seconds)."""
    from . import explain

    result.importance = explain.permutation_importance(model, X, y_true, task, seed)
    if with_shap:
        result.shap, note = explain.shap_summary(model, X, task, seed)
        result.notes.append(note)


def _record(result: EvaluationResult, store, subject, run, frame) -> str:
    from ..tracking import lifecycle
    from ..tracking.capture import dataset_fingerprint

    if run is not None:
        run_id = store.resolve_run_id(run if isinstance(run, str) else run.id)
    elif subject.run_id is not None:
        run_id = subject.run_id
    else:
        active = lifecycle.active_run()
        run_id = (active if active is not None and active.active else lifecycle.start_run()).id
    result.run_id = run_id
    tag = {"subject": result.subject, "task": result.task, "target": result.target, "rows": result.rows,
           **result.settings, "small_slices": result.small_slices[:50]}
    info = dataset_fingerprint(frame)
    tag["data_fingerprint"] = info["fingerprint"]
    from . import recording, report

    recording.record(store, run_id, result.metrics(), {TAG: json.dumps(tag, default=str)},
                     {JSON_ARTIFACT: json.dumps(result.to_dict(), indent=1, default=str).encode(),
                      HTML_ARTIFACT: report.render(result.to_dict()).encode()},
                     dataset=("evaluation", info, frame))
    return run_id


def _plain(value):
    return value.item() if hasattr(value, "item") else value
