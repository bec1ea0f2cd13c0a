"""Fairness gaps across sensitive groups, with Fairlearn's definitions (``method="between_groups"``).

For a binary classifier, from each group's confusion cells:

- demographic parity difference / ratio: max − min / min ÷ max of the selection rate;
- equalized odds difference: the larger of the true-positive-rate and false-positive-rate
  differences (``agg="worst_case"``); equalized odds ratio: the smaller of their ratios;
- equal opportunity difference / ratio: of the true positive rate alone.

Groups are the crossing of all sensitive features, as Fairlearn takes several columns. The gaps'
intervals redraw the whole evaluation set (group sizes vary, as in a plain bootstrap). Any task
also gets ``<metric>_difference``: max − min of its metrics across the sensitive groups.
"""
from __future__ import annotations

import numpy as np

from . import bootstrap
from .classification import rates

GAPS = ("demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference",
        "equalized_odds_ratio", "equal_opportunity_difference", "equal_opportunity_ratio")


def _spread(values: np.ndarray, present: np.ndarray):
    """(max − min, min ÷ max) over axis −1 of groups that are present and defined."""
    masked = np.where(present & ~np.isnan(values), values, np.nan)
    import warnings

    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        high, low = np.nanmax(masked, axis=-1), np.nanmin(masked, axis=-1)
        ratio = np.where(high > 0, low / np.where(high > 0, high, 1), np.where(high == 0, 1.0, np.nan))
    return high - low, ratio


def gaps(cells: np.ndarray) -> dict:
    """The gaps of ``[..., groups, 4]`` confusion cells (vectorised over the leading axes)."""
    r = rates(cells)
    present = cells.sum(axis=-1) > 0
    tpr = r["recall"]
    dp_diff, dp_ratio = _spread(r["selection_rate"], present)
    tpr_diff, tpr_ratio = _spread(tpr, present)
    fpr_diff, fpr_ratio = _spread(r["false_positive_rate"], present)
    return {"demographic_parity_difference": dp_diff, "demographic_parity_ratio": dp_ratio,
            "equalized_odds_difference": np.maximum(tpr_diff, fpr_diff),
            "equalized_odds_ratio": np.minimum(tpr_ratio, fpr_ratio),
            "equal_opportunity_difference": tpr_diff, "equal_opportunity_ratio": tpr_ratio}


def binary_gaps(cells: np.ndarray, rng, n_resamples: int, confidence: float) -> tuple[dict, dict, dict]:
    """Gaps, their intervals, and the per-group rates they come from."""
    values = {k: float(v) for k, v in gaps(cells).items()}
    intervals = {}
    if n_resamples:
        redrawn = gaps(bootstrap.resample_total(rng, cells, n_resamples))
        for name, samples in redrawn.items():
            low, high = bootstrap.percentile_interval(samples, confidence)
            intervals[name] = (float(low), float(high))
    r = rates(cells)
    per_group = {"selection_rate": r["selection_rate"], "true_positive_rate": r["recall"],
                 "false_positive_rate": r["false_positive_rate"]}
    return values, intervals, per_group


def metric_differences(values: dict, counts: np.ndarray) -> dict:
    """``<metric>_difference``: max − min of each metric over the sensitive groups that have rows."""
    present = counts > 0
    return {f"{metric}_difference": float(_spread(np.asarray(v, dtype=np.float64), present)[0])
            for metric, v in values.items()}
