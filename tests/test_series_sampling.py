"""Which points of a long metric series the charts draw: every bucket's extremes, never a NaN over a number."""
from __future__ import annotations

import math
import random
from itertools import pairwise

import numpy as np

from jupyter_mlops.server.queries import downsample
from jupyter_mlops.server.sampling import kept_indices, kept_of_series


def test_each_bucket_keeps_its_lowest_and_highest_value_and_the_last_point():
    rng = random.Random(7)
    for _ in range(200):
        n, max_points = rng.randint(1, 3000), rng.randint(3, 700)
        values = np.array([math.nan if rng.random() < 0.1 else rng.random() for _ in range(n)])
        kept = kept_indices(values, max_points)
        assert len(kept) <= max_points and list(kept) == sorted(set(kept.tolist()))
        if n <= max_points:
            assert len(kept) == n
            continue
        assert kept[-1] == n - 1
        buckets = (max_points - 1) // 2
        edges = (np.arange(buckets + 1) * (n / buckets)).astype(int)
        edges[-1] = n
        chosen = set(kept.tolist())
        for a, b in pairwise(edges.tolist()):
            numbers = [i for i in range(a, b) if not math.isnan(values[i])]
            if numbers:  # the first lowest and the first highest number of the bucket, never a NaN
                assert min(numbers, key=lambda i: values[i]) in chosen
                assert max(numbers, key=lambda i: values[i]) in chosen
                assert not any(math.isnan(values[i]) for i in chosen if a <= i < b and i != n - 1)


def test_a_spike_survives_and_short_series_come_back_whole():
    points = [(step, 1.0, 1000 + step) for step in range(10_000)]
    points[4321] = (4321, 50.0, 5321)
    kept = downsample(points, 100)
    assert len(kept) <= 100 and (4321, 50.0, 5321) in kept and kept[-1] == points[-1]
    assert downsample(points[:50], 100) == points[:50]


def test_series_laid_end_to_end_are_cut_as_each_would_be_alone():
    rng = np.random.default_rng(3)
    for max_points in (2, 3, 20, 201):
        lengths = rng.integers(0, 1500, size=30)
        lengths[:3] = (0, max_points, max_points + 1)  # empty, exactly full, one too many
        series = [np.where(rng.random(n) < 0.05, np.nan, rng.normal(size=n)) for n in lengths]
        offsets = np.concatenate(([0], np.cumsum(lengths)))
        alone = np.concatenate([kept_indices(values, max_points) + start for values, start in zip(series, offsets)])
        together = kept_of_series(np.concatenate(series), lengths, max_points)
        assert together.tolist() == alone.tolist()
