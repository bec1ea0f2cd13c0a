"""Classification metrics per slice from per-slice tables.

Binary: confusion cells ``[tn, fp, fn, tp]`` per slice (one ``bincount``); accuracy, precision,
recall, F1, selection rate and false positive rate follow from them, for the data and for every
bootstrap resample at once. ROC AUC is exact per slice (Mann-Whitney with tied scores counted
half, as scikit-learn's ``roc_auc_score``); its interval comes from score-bin counts, shifted so
it sits around the exact value. Calibration: Brier score and the expected calibration error over
ten equal-width probability bins. Multiclass: accuracy and macro precision, recall and F1 from a
confusion matrix per slice (classes absent from a slice's labels and predictions left out).

A metric that is undefined for a slice (recall with no positives) is NaN, never 0.
"""
from __future__ import annotations

import numpy as np

from . import bootstrap

BINARY_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "brier", "ece")
MULTICLASS_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")
WITH_INTERVALS = ("accuracy", "precision", "recall", "f1", "roc_auc")
CALIBRATION_BINS = 10
SCORE_BINS = 50  # score quantiles for the AUC's resamples (the interval is then shifted onto the exact AUC)


def _ratio(num, den):
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def confusion_cells(codes: np.ndarray, groups: int, y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
    """groups × 4 counts ``[tn, fp, fn, tp]`` for 0/1 ``y`` and ``yhat``."""
    cells = codes * 4 + y.astype(np.int64) * 2 + yhat.astype(np.int64)
    return np.bincount(cells, minlength=groups * 4).reshape(groups, 4)


def rates(cells: np.ndarray) -> dict:
    """Metrics of ``[..., 4]`` confusion cells, vectorised over the leading axes."""
    tn, fp, fn, tp = (cells[..., i].astype(np.float64) for i in range(4))
    n = tn + fp + fn + tp
    return {"accuracy": _ratio(tn + tp, n), "precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn),
            "f1": _ratio(2 * tp, 2 * tp + fp + fn), "selection_rate": _ratio(tp + fp, n),
            "false_positive_rate": _ratio(fp, fp + tn)}


def grouped_auc(codes: np.ndarray, groups: int, y: np.ndarray, score: np.ndarray, order: np.ndarray,
                ties: bool = True) -> np.ndarray:
    """Exact ROC AUC per group; ``order`` is ``np.argsort(score)``, shared by every grouping, and
    ``ties`` whether any two scores are equal (without ties, ranks need no averaging)."""
    if groups == 1:
        within = order
    else:  # by group, then by score; small integer codes sort by radix (8x faster than int64 here)
        small = codes[order].astype(np.int16 if groups < 2 ** 15 else np.int64)
        within = order[np.argsort(small, kind="stable")]
    c = codes[within] if groups > 1 else np.zeros(len(within), dtype=np.int64)
    counts = np.bincount(c, minlength=groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    positives = np.flatnonzero(y[within])
    n_pos = np.bincount(c[positives], minlength=groups).astype(np.float64)
    n_neg = counts - n_pos
    if not ties:  # a positive's rank is its place within its group
        rank_sum = np.bincount(c[positives], weights=positives.astype(np.float64), minlength=groups) \
            - starts * n_pos + n_pos
        return _ratio(rank_sum - n_pos * (n_pos + 1) / 2, n_pos * n_neg)
    s = score[within]
    rank = np.arange(1, len(c) + 1, dtype=np.float64) - starts[c]
    if len(c):
        new_run = np.concatenate([[True], (c[1:] != c[:-1]) | (s[1:] != s[:-1])])
        run_id = np.cumsum(new_run) - 1
        run_first = np.flatnonzero(new_run)
        run_last = np.concatenate([run_first[1:], [len(c)]]) - 1
        rank = ((rank[run_first] + rank[run_last]) / 2)[run_id]  # tied scores share their mean rank
    rank_sum = np.bincount(c[positives], weights=rank[positives], minlength=groups)
    return _ratio(rank_sum - n_pos * (n_pos + 1) / 2, n_pos * n_neg)


def score_bins(score: np.ndarray) -> np.ndarray:
    """Each row's score-quantile bin (at most SCORE_BINS bins), for the AUC's resamples."""
    edges = np.unique(np.quantile(score, np.linspace(0, 1, SCORE_BINS + 1)[1:-1]))
    return np.searchsorted(edges, score, side="left")


def binned_auc(table: np.ndarray) -> np.ndarray:
    """AUC of ``[..., bins, 2]`` counts (negatives, positives), ties within a bin counted half."""
    neg, pos = table[..., 0].astype(np.float64), table[..., 1].astype(np.float64)
    below = np.cumsum(neg, axis=-1) - neg
    u = (pos * (below + 0.5 * neg)).sum(axis=-1)
    return _ratio(u, pos.sum(axis=-1) * neg.sum(axis=-1))


def calibration(codes: np.ndarray, groups: int, y: np.ndarray, proba: np.ndarray) -> dict:
    """Brier score and expected calibration error per group, and the overall reliability table."""
    counts = np.bincount(codes, minlength=groups).astype(np.float64)
    brier = _ratio(np.bincount(codes, weights=(proba - y) ** 2, minlength=groups), counts)
    bins = np.minimum((proba * CALIBRATION_BINS).astype(np.int64), CALIBRATION_BINS - 1)
    cell = codes * CALIBRATION_BINS + bins
    size = groups * CALIBRATION_BINS
    in_bin = np.bincount(cell, minlength=size).reshape(groups, -1)
    said = np.bincount(cell, weights=proba, minlength=size).reshape(groups, -1)
    seen = np.bincount(cell, weights=y.astype(np.float64), minlength=size).reshape(groups, -1)
    ece = _ratio(np.abs(seen - said).sum(axis=1), counts)
    return {"brier": brier, "ece": ece, "bins": {"count": in_bin, "mean_predicted": _ratio(said, in_bin),
                                                  "fraction_positive": _ratio(seen, in_bin)}}


def has_ties(score: np.ndarray, order: np.ndarray) -> bool:
    ordered = score[order]
    return bool(np.any(ordered[1:] == ordered[:-1]))


def binary_slices(codes, groups, y, yhat, proba, order, bins, rng, n_resamples, confidence, ties=True) -> dict:
    """Point values and intervals of every binary metric for each group of ``codes``."""
    cells = confusion_cells(codes, groups, y, yhat)
    values = {k: v for k, v in rates(cells).items() if k in BINARY_METRICS}
    intervals = {}
    if n_resamples:
        redrawn = rates(bootstrap.resample_tables(rng, cells, n_resamples))
        for metric in ("accuracy", "precision", "recall", "f1"):
            intervals[metric] = bootstrap.percentile_interval(redrawn[metric], confidence)
    if proba is not None:
        values["roc_auc"] = grouped_auc(codes, groups, y, proba, order, ties)
        calib = calibration(codes, groups, y, proba)
        values["brier"], values["ece"] = calib["brier"], calib["ece"]
        if n_resamples:
            table = np.bincount(codes * (2 * (SCORE_BINS + 1)) + bins * 2 + y.astype(np.int64),
                                minlength=groups * 2 * (SCORE_BINS + 1)).reshape(groups, SCORE_BINS + 1, 2)
            shift = values["roc_auc"] - binned_auc(table)
            low, high = bootstrap.percentile_interval(binned_auc(bootstrap.resample_tables(rng, table, n_resamples)),
                                                      confidence)
            intervals["roc_auc"] = (np.clip(low + shift, 0, 1), np.clip(high + shift, 0, 1))
    return {"cells": cells, "values": values, "intervals": intervals}


def multiclass_slices(codes, groups, y_codes, yhat_codes, classes: int, proba, rng, n_resamples, confidence) -> dict:
    """Accuracy and macro precision / recall / F1 per group from confusion matrices; ROC AUC (one-vs-rest,
    macro) per group where the group has every class, without an interval."""
    cm = np.bincount(codes * classes * classes + y_codes * classes + yhat_codes,
                     minlength=groups * classes * classes).reshape(groups, classes, classes)
    values = _macro(cm)
    intervals = {}
    if n_resamples:
        redrawn = _macro(bootstrap.resample_tables(rng, cm, n_resamples))
        intervals = {m: bootstrap.percentile_interval(redrawn[m], confidence) for m in ("accuracy", "precision", "recall", "f1")}
    if proba is not None:
        from sklearn.metrics import roc_auc_score

        auc = np.full(groups, np.nan)
        for g in range(groups):
            rows = codes == g
            if len(np.unique(y_codes[rows])) == classes:
                auc[g] = roc_auc_score(y_codes[rows], proba[rows], multi_class="ovr", average="macro",
                                       labels=np.arange(classes))
        values["roc_auc"] = auc
    return {"cells": cm, "values": values, "intervals": intervals}


def _macro(cm: np.ndarray) -> dict:
    cm = cm.astype(np.float64)
    diag = np.diagonal(cm, axis1=-2, axis2=-1)
    actual, predicted = cm.sum(axis=-1), cm.sum(axis=-2)
    present = (actual + predicted) > 0  # scikit-learn averages over the labels seen in y or the predictions
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, diag / np.where(predicted > 0, predicted, 1), 0.0)
        recall = np.where(actual > 0, diag / np.where(actual > 0, actual, 1), 0.0)
        f1 = np.where(actual + predicted > 0, 2 * diag / np.where(actual + predicted > 0, actual + predicted, 1), 0.0)
    n_present = present.sum(axis=-1)

    def macro(per_class):
        return _ratio((per_class * present).sum(axis=-1), n_present)

    return {"accuracy": _ratio(diag.sum(axis=-1), cm.sum(axis=(-2, -1))), "precision": macro(precision),
            "recall": macro(recall), "f1": macro(f1)}
