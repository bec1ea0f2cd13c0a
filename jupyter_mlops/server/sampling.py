"""Which points of long metric series a chart draws: per bucket of consecutive points, its lowest
and highest value, so spikes survive (plain striding would drop them), plus each series' last point
as it was logged. NaN never wins a min or a max unless a bucket holds nothing else.

With numpy over every series of a request at once rather than a loop per bucket or per series:
a charts panel asks for 100 runs x 1,000 points per metric, and a loop per bucket took ~0.15 s of
each metric, a numpy call per series still ~0.1 s, a sort by bucket and value ~25 ms.
"""
from __future__ import annotations

import numpy as np


def kept_indices(values: np.ndarray, max_points: int) -> np.ndarray:
    """Indices of the points of one series to draw, at most ``max_points``."""
    return kept_of_series(values, np.array([len(values)]), max_points)


def kept_of_series(values: np.ndarray, lengths: np.ndarray, max_points: int) -> np.ndarray:
    """Indices into ``values`` (series laid end to end, ``lengths`` points each) of the points to
    draw, sorted: all of a series of at most ``max_points``, else at most ``max_points`` of it."""
    lengths = np.asarray(lengths, dtype=np.int64)
    offsets = np.concatenate(([0], np.cumsum(lengths)))
    long = lengths > max_points
    whole = np.flatnonzero(np.repeat(~long, lengths))
    if not long.any():
        return whole
    buckets = max(1, (max_points - 1) // 2)
    n = lengths[long]
    # Each long series' bucket edges (as a lone series would be cut), and every point of the long
    # series numbered by its bucket, buckets counted across all of them.
    edges = (np.arange(buckets + 1)[None, :] * (n[:, None] / buckets)).astype(np.int64)
    edges[:, -1] = n
    sizes = np.diff(edges, axis=1).ravel()
    points = np.flatnonzero(np.repeat(long, lengths))
    chosen = values[points]
    nan = np.isnan(chosen)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    lowest = points[_first_extreme(np.where(nan, np.inf, chosen), starts, sizes, np.minimum)]
    highest = points[_first_extreme(np.where(nan, -np.inf, chosen), starts, sizes, np.maximum)]
    lasts = offsets[1:][long] - 1
    kept = np.unique(np.concatenate([lowest, highest, lasts, whole]))
    # Only a max_points of 2 keeps more (its one bucket's lowest and highest, and the last point):
    # each series' first max_points of them.
    series_of = np.searchsorted(offsets, kept, side="right") - 1
    counts = np.bincount(series_of, minlength=len(lengths))
    if (counts <= max_points).all():
        return kept
    rank = np.arange(len(kept)) - np.concatenate(([0], np.cumsum(counts)[:-1]))[series_of]
    return kept[rank < max_points]


def _first_extreme(values: np.ndarray, starts: np.ndarray, sizes: np.ndarray, ufunc) -> np.ndarray:
    """Per bucket (``sizes`` consecutive values from ``starts``, none empty), the index of its first
    lowest (``np.minimum``) or highest (``np.maximum``) value: one pass of ``reduceat``, no sort."""
    extreme = ufunc.reduceat(values, starts)
    hits = np.flatnonzero(values == np.repeat(extreme, sizes))
    bucket_of_hit = np.repeat(np.arange(len(sizes)), sizes)[hits]
    return hits[np.searchsorted(bucket_of_hit, np.arange(len(sizes)))]
