"""Record every scikit-learn ``fit`` without the user writing a ``log_*`` call (``mlops.autolog()``).

Why it is built this way:

- ``fit`` is patched where it is defined (walking each estimator's MRO, since e.g. ``GridSearchCV``
  inherits ``BaseSearchCV.fit``), so subclasses are covered; ``disable`` puts the originals back.
- Only the outermost ``fit`` is recorded: a Pipeline fitting its steps, a search fitting clones and
  an ensemble fitting members are one model. A thread-local depth makes nested fits cost two
  attribute writes; a process-wide lock keeps fits in joblib's worker threads (and any fit made
  while another thread's fit is being recorded) from writing into the same, single active run.
- The model is stored with skops, never pickle, together with the types skops does not trust by
  default, so a loader can trust exactly those and nothing more.
- Recording is best effort: a failure to log never breaks the user's ``fit``, and an exception
  from the user's ``fit`` reaches the user unchanged.
"""
from __future__ import annotations

import functools
import inspect
import logging
import math
import os
import threading

from . import lifecycle

log = logging.getLogger("jupyter_mlops")

_ORIGINAL = "__mlops_autolog_original__"

_patched: dict[type, object] = {}  # class -> its own original ``fit``
_recording = threading.Lock()  # held while one outermost fit is recorded


class _Depth(threading.local):
    value = 0


_depth = _Depth()


# -- patching ------------------------------------------------------------------------------
def enable(disable: bool = False) -> None:
    """Patch ``fit`` of every scikit-learn estimator (idempotent), or restore it with ``disable=True``."""
    if disable:
        _restore()
        return
    from sklearn.utils import all_estimators

    for _, cls in all_estimators():
        for owner in cls.__mro__:
            if owner.__module__.startswith("sklearn") and owner not in _patched:
                _patch(owner)


def _patch(owner: type) -> None:
    fit = owner.__dict__.get("fit")
    if inspect.isfunction(fit) and not hasattr(fit, _ORIGINAL):
        _patched[owner] = fit
        owner.fit = _wrap(fit)


def _restore() -> None:
    for owner, original in list(_patched.items()):
        if hasattr(owner.__dict__.get("fit"), _ORIGINAL):
            owner.fit = original
        del _patched[owner]


def _wrap(original):
    @functools.wraps(original)
    def fit(self, *args, **kwargs):
        depth = _depth.value
        if depth or not _recording.acquire(blocking=False):
            _depth.value = depth + 1
            try:
                return original(self, *args, **kwargs)
            finally:
                _depth.value = depth
        _depth.value = 1
        try:
            return _recorded_fit(original, self, args, kwargs)
        finally:
            _depth.value = 0
            _recording.release()

    setattr(fit, _ORIGINAL, original)
    return fit


# -- recording one fit ---------------------------------------------------------------------
def _recorded_fit(original, estimator, args, kwargs):
    run, started = _open_run(estimator)
    if run is not None:
        _safely(_log_estimator, run, estimator)
    try:
        result = original(estimator, *args, **kwargs)
    except BaseException as exc:
        if started:
            _end(run, "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED", exc)
        raise
    if run is not None:
        for step in (_log_search, _log_metrics, _log_model):
            _safely(step, run, estimator, args, kwargs)
        if started:
            _end(run, "FINISHED")
    return result


def _open_run(estimator):
    """The run to record into and whether this fit started it; ``(None, False)`` if none can be had."""
    try:
        run = lifecycle.active_run()
        if run is not None and run.active:
            return run, False
        return lifecycle.start_run(name=type(estimator).__name__, track_reruns=False), True
    except Exception as exc:  # noqa: BLE001 - autolog must never break the user's fit
        log.warning("jupyter_mlops autolog: not recording %s.fit: %s", type(estimator).__name__, exc)
        return None, False


def _log_estimator(run, estimator) -> None:
    cls = type(estimator)
    run.set_tag("estimator_class", f"{cls.__module__}.{cls.__qualname__}")
    run.log_params({k: _param_value(v) for k, v in estimator.get_params(deep=False).items()})


def _end(run, status: str, exc: BaseException | None = None) -> None:
    try:
        if exc is not None:
            run.set_tag("mlops.error", f"{type(exc).__name__}: {exc}")
        run.end(status)
    except Exception as err:  # noqa: BLE001 - autolog must never break the user's fit
        log.warning("jupyter_mlops autolog: could not end run %s: %s", run.id[:8], err)


def _safely(step, *args) -> None:
    try:
        step(*args)
    except Exception as exc:  # noqa: BLE001 - autolog must never break the user's fit
        log.warning("jupyter_mlops autolog: %s failed: %s", step.__name__.strip("_"), exc)


def _param_value(value):
    """Estimators (also inside Pipeline steps and the like) are recorded by class name."""
    if hasattr(value, "get_params") and not isinstance(value, type):
        return type(value).__name__
    if isinstance(value, (list, tuple)):
        return [_param_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _param_value(v) for k, v in value.items()}
    return value


def _log_search(run, estimator, args, kwargs) -> None:
    """What a hyper-parameter search found: ``best_<param>`` params and ``best_cv_score``."""
    best = getattr(estimator, "best_params_", None)
    if isinstance(best, dict):
        run.log_params({f"best_{k}": _param_value(v) for k, v in best.items()})
    if getattr(estimator, "best_score_", None) is not None:
        run.log_metric("best_cv_score", estimator.best_score_)


def _log_metrics(run, estimator, args, kwargs) -> None:
    metrics = _training_metrics(estimator, *_fit_data(args, kwargs))
    if metrics:
        run.log_metrics(metrics)


# -- training metrics ----------------------------------------------------------------------
def _fit_data(args, kwargs):
    X = args[0] if args else kwargs.get("X")
    y = args[1] if len(args) > 1 else kwargs.get("y")
    return X, y, kwargs.get("sample_weight")


def _training_metrics(estimator, X, y, weight) -> dict:
    """Scores on the data the model was fitted on; a score that cannot be computed is left out."""
    from sklearn.base import is_classifier, is_regressor

    if X is None or y is None:
        return {}
    if is_classifier(estimator):
        candidates = _classifier_metrics(estimator, X, y, weight)
    elif is_regressor(estimator):
        candidates = _regressor_metrics(estimator, X, y, weight)
    else:
        return {}
    metrics = {}
    for key, compute in candidates.items():
        try:
            metrics[key] = float(compute())
        except Exception as exc:  # noqa: BLE001 - e.g. no predict after refit=False, multi-output targets
            log.debug("jupyter_mlops autolog: skipped %s for %s: %s", key, type(estimator).__name__, exc)
    return metrics


def _classifier_metrics(estimator, X, y, weight) -> dict:
    from sklearn import metrics as m

    predicted = _once(lambda: estimator.predict(X))
    w = {"sample_weight": weight}
    scores = {
        "training_score": lambda: estimator.score(X, y, **({} if weight is None else w)),
        "training_accuracy": lambda: m.accuracy_score(y, predicted(), **w),
        "training_f1": lambda: m.f1_score(y, predicted(), average="weighted", zero_division=0, **w),
        "training_precision": lambda: m.precision_score(y, predicted(), average="weighted", zero_division=0, **w),
        "training_recall": lambda: m.recall_score(y, predicted(), average="weighted", zero_division=0, **w),
    }
    if hasattr(estimator, "predict_proba"):
        scores["training_roc_auc"] = lambda: _roc_auc(estimator, X, y, weight)
    return scores


def _roc_auc(estimator, X, y, weight) -> float:
    from sklearn.metrics import roc_auc_score

    proba = estimator.predict_proba(X)
    if proba.shape[1] == 2:
        return roc_auc_score(y, proba[:, 1], sample_weight=weight)
    return roc_auc_score(y, proba, multi_class="ovr", labels=estimator.classes_, sample_weight=weight)


def _regressor_metrics(estimator, X, y, weight) -> dict:
    from sklearn import metrics as m

    predicted = _once(lambda: estimator.predict(X))
    w = {"sample_weight": weight}
    return {
        "training_score": lambda: estimator.score(X, y, **({} if weight is None else w)),
        "training_r2": lambda: m.r2_score(y, predicted(), **w),
        "training_mae": lambda: m.mean_absolute_error(y, predicted(), **w),
        "training_rmse": lambda: math.sqrt(m.mean_squared_error(y, predicted(), **w)),
        "training_mse": lambda: m.mean_squared_error(y, predicted(), **w),
    }


def _once(compute):
    """``compute`` run on first call only (one ``predict`` pass serves every metric)."""
    return functools.lru_cache(maxsize=1)(compute)


# -- the model -----------------------------------------------------------------------------
def _log_model(run, estimator, args, kwargs) -> None:
    from ..exceptions import InvalidInputError
    from .models import log_model

    features = args[0] if args else kwargs.get("X")
    labels = args[1] if len(args) > 1 else kwargs.get("y")
    try:
        training, target = _training_sample(features, labels)
        log_model(run, estimator, input_example=features, training_data=training, target=target)
    except InvalidInputError as exc:
        _model_error(run, str(exc))


def _training_sample(features, labels):
    """The fit data as one frame (features plus the label as ``target``) for the reference profile
    that monitoring needs, sampled to ``MLOPS_AUTOLOG_PROFILE_ROWS`` rows (default 100,000) so a
    large fit does not pay for profiling every row; ``(None, None)`` when it cannot be framed."""
    import numpy as np
    import pandas as pd

    from .signature import as_frame

    if features is None:
        return None, None
    frame = as_frame(features)
    target = None
    label_values = None if labels is None else np.asarray(labels)
    if label_values is not None and label_values.ndim == 1 and len(label_values) == len(frame):
        target = "target" if "target" not in frame.columns else "__target__"
        frame = frame.assign(**{target: label_values})
    limit = int(os.environ.get("MLOPS_AUTOLOG_PROFILE_ROWS", "100000"))
    if len(frame) > limit:
        frame = frame.sample(n=limit, random_state=0)
    return (frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(frame)), target


def _model_error(run, message: str) -> None:
    log.warning("jupyter_mlops autolog: model not stored: %s", message)
    run.set_tag("mlops.model_error", message)
