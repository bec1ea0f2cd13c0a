"""Bootstrap confidence intervals without resampling rows.

Resampling a million rows a thousand times is a billion index draws. The metrics here are
functions of small per-slice tables (confusion cells, score-bin counts, block sums), and
resampling a slice's rows with replacement draws those tables from a multinomial with the
slice's own cell shares. So each slice's resamples are ``B`` multinomial draws over a handful
of cells: the same distribution as the row bootstrap for the confusion-matrix metrics, at a
cost that does not grow with the rows. Seeded: the same data and seed give the same intervals.
"""
from __future__ import annotations

import numpy as np


def resample_tables(rng: np.random.Generator, tables: np.ndarray, n_resamples: int) -> np.ndarray:
    """``tables`` (groups × cells... of counts) redrawn ``n_resamples`` times, each group keeping its total.

    Returns an array of shape ``(n_resamples, *tables.shape)``."""
    groups = tables.shape[0]
    flat = tables.reshape(groups, -1).astype(np.float64)
    totals = flat.sum(axis=1)
    shares = np.divide(flat, totals[:, None], out=np.zeros_like(flat), where=totals[:, None] > 0)
    draws = rng.multinomial(totals.astype(np.int64), shares, size=(n_resamples, groups))
    return draws.reshape((n_resamples, *tables.shape))


def resample_total(rng: np.random.Generator, tables: np.ndarray, n_resamples: int) -> np.ndarray:
    """All of ``tables`` redrawn as one sample (group sizes vary, as in a plain bootstrap of the data)."""
    flat = tables.reshape(-1).astype(np.float64)
    total = int(flat.sum())
    draws = rng.multinomial(total, flat / total if total else flat, size=n_resamples)
    return draws.reshape((n_resamples, *tables.shape))


def percentile_interval(samples: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over axis 0, ignoring resamples where the metric is undefined (NaN)."""
    tail = (1 - confidence) / 2 * 100
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: the interval is NaN too
            low, high = np.nanpercentile(samples, [tail, 100 - tail], axis=0)
    return low, high


def block_ids(rng: np.random.Generator, codes: np.ndarray, counts: np.ndarray, max_blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's block within its group: ``min(n, max_blocks)`` blocks per group, rows dealt at random.

    A group of at most ``max_blocks`` rows has one row per block, so resampling its blocks is the
    row bootstrap itself; a larger group's blocks are equal-sized random subsets (i.i.d. sums)."""
    blocks_per_group = np.minimum(counts, max_blocks).astype(np.int64)
    shuffled = rng.permutation(len(codes))
    order = shuffled[np.argsort(codes[shuffled], kind="stable")]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    position = np.empty(len(codes), dtype=np.int64)
    position[order] = np.arange(len(codes)) - starts[codes[order]]
    return position % np.maximum(blocks_per_group[codes], 1), blocks_per_group


def resample_blocks(rng: np.random.Generator, block_sums: np.ndarray, blocks_per_group: np.ndarray,
                    n_resamples: int) -> np.ndarray:
    """Sums of ``blocks_per_group[g]`` blocks drawn with replacement, per group and resample.

    ``block_sums`` is groups × blocks × statistics; returns resamples × groups × statistics."""
    groups, blocks, _ = block_sums.shape
    shares = np.zeros((groups, blocks))
    for g, m in enumerate(blocks_per_group):
        shares[g, :m] = 1.0 / m if m else 0.0
    weights = rng.multinomial(blocks_per_group, shares, size=(n_resamples, groups)).astype(np.float64)
    return np.einsum("rgb,gbs->rgs", weights, block_sums)
