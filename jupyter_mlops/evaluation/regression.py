"""Regression metrics per slice: MAE, RMSE, R², each from five per-slice sums.

The sums (rows, |error|, error², y, y²) are ``bincount``s over the slice codes; intervals come
from resampling random equal blocks of each slice's rows (bootstrap.block_ids): exactly the row
bootstrap for slices of at most MAX_BLOCKS rows, the bootstrap of i.i.d. block sums above.
"""
from __future__ import annotations

import numpy as np

from . import bootstrap

METRICS = ("mae", "rmse", "r2")
WITH_INTERVALS = METRICS
MAX_BLOCKS = 256


def _metrics(sums: np.ndarray) -> dict:
    n, abs_err, sq_err, sy, syy = (sums[..., i] for i in range(5))
    with np.errstate(invalid="ignore", divide="ignore"):
        total = syy - np.where(n > 0, sy * sy / np.where(n > 0, n, 1), 0)
        return {"mae": np.where(n > 0, abs_err / np.where(n > 0, n, 1), np.nan),
                "rmse": np.where(n > 0, np.sqrt(np.maximum(sq_err, 0) / np.where(n > 0, n, 1)), np.nan),
                "r2": np.where((n > 1) & (total > 0), 1 - sq_err / np.where(total > 0, total, 1), np.nan)}


def regression_slices(codes, groups, y, yhat, rng, n_resamples, confidence) -> dict:
    y, yhat = y.astype(np.float64), yhat.astype(np.float64)
    err = yhat - y
    stats = np.stack([np.ones_like(y), np.abs(err), err * err, y, y * y], axis=1)
    sums = np.stack([np.bincount(codes, weights=stats[:, i], minlength=groups) for i in range(5)], axis=1)
    values = _metrics(sums)
    intervals = {}
    if n_resamples:
        counts = sums[:, 0].astype(np.int64)
        block, per_group = bootstrap.block_ids(rng, codes, counts, MAX_BLOCKS)
        cell = codes * MAX_BLOCKS + block
        block_sums = np.stack([np.bincount(cell, weights=stats[:, i], minlength=groups * MAX_BLOCKS)
                               for i in range(5)], axis=1).reshape(groups, MAX_BLOCKS, 5)
        redrawn = _metrics(bootstrap.resample_blocks(rng, block_sums, per_group, n_resamples))
        intervals = {m: bootstrap.percentile_interval(redrawn[m], confidence) for m in METRICS}
    return {"cells": sums, "values": values, "intervals": intervals}
