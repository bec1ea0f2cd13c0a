"""Fold the current data, chunk by chunk, into the few counts the drift tests need.

Memory stays bounded by the reference profile, not by the current data: a numerical column
becomes counts and sums on the reference's histogram bins (plus one open bin on each side),
counts below / at each reference value when the reference is small enough for the exact KS
test, and the raw values only while there are at most ``KEEP_VALUES`` of them.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..tracking.profile import category_key

KEEP_VALUES = 10_000  # scipy's ks_2samp is exact up to this many values: keep them and let it decide
DISCRETE_LIMIT = 5     # Evidently treats a numerical column with at most 5 distinct values as discrete


def bin_index(values: np.ndarray, low: float, high: float, bins: int) -> np.ndarray:
    """Bin of each value on ``linspace(low, high, bins + 1)``: 0 below ``low``, ``bins + 1`` above ``high``.

    Arithmetic first, then numpy.histogram's own correction against the edges, so a value on an
    edge lands where ``np.histogram`` / ``np.searchsorted`` would put it at a fraction of the cost.
    """
    index = np.empty(values.size, dtype=np.intp)
    inside = (values >= low) & (values <= high)
    index[values < low] = 0
    index[values > high] = bins + 1
    x = values[inside]
    if high > low:
        edges = np.linspace(low, high, bins + 1)
        found = ((x - low) * (bins / (high - low))).astype(np.intp)
        np.minimum(found, bins - 1, out=found)
        found[x < edges[found]] -= 1
        found[(x >= edges[found + 1]) & (found != bins - 1)] += 1
    else:
        found = np.zeros(x.size, dtype=np.intp)
    index[inside] = found + 1
    return index


class NumericalSummary:
    """One numerical column of the current data against its reference profile column."""

    kind = "numerical"

    def __init__(self, reference: dict, small_reference: bool):
        self.reference = reference
        self.rows = 0
        self.count = 0
        self.infinite = 0
        self.total = 0.0
        self.min = np.inf
        self.max = -np.inf
        histogram = reference.get("histogram")
        self.bins = len(histogram["counts"]) if histogram else 0
        self.hist_counts = np.zeros(self.bins + 2, dtype=np.int64)
        self.hist_sums = np.zeros(self.bins + 2)
        self.kept: list[np.ndarray] | None = []
        # exact KS against a small reference: the reference's distinct values and counts below / at each
        self.ref_values = None
        if small_reference and reference.get("sample_complete") and reference.get("sample"):
            self.ref_values = np.unique(np.asarray(reference["sample"], dtype="float64"))
            self.right_index_counts = np.zeros(self.ref_values.size + 1, dtype=np.int64)
            self.left_index_counts = np.zeros(self.ref_values.size + 1, dtype=np.int64)
        # value counts while few distinct values, to decide Evidently's "discrete" tests
        frequencies = reference.get("frequencies")
        self.value_counts: dict[float, int] | None = {} if frequencies and len(frequencies) <= DISCRETE_LIMIT else None

    def update(self, series: pd.Series) -> None:
        raw = series.to_numpy(dtype="float64", na_value=np.nan)
        finite = np.isfinite(raw)
        values = raw[finite] if not finite.all() else raw
        self.rows += raw.size
        self.infinite += int(np.isinf(raw).sum())
        if values.size == 0:
            return
        self.count += values.size
        self.total += float(values.sum())
        self.min = min(self.min, float(values.min()))
        self.max = max(self.max, float(values.max()))
        if self.bins:
            histogram = self.reference["histogram"]
            index = bin_index(values, histogram["min"], histogram["max"], self.bins)
            self.hist_counts += np.bincount(index, minlength=self.bins + 2)
            self.hist_sums += np.bincount(index, weights=values, minlength=self.bins + 2)
        if self.ref_values is not None:
            size = self.ref_values.size + 1
            self.right_index_counts += np.bincount(np.searchsorted(self.ref_values, values, side="right"), minlength=size)
            self.left_index_counts += np.bincount(np.searchsorted(self.ref_values, values, side="left"), minlength=size)
        if self.kept is not None:
            self.kept.append(values.copy())
            if self.count > KEEP_VALUES:
                self.kept = None
        if self.value_counts is not None:
            distinct, counts = np.unique(values, return_counts=True)
            for value, count in zip(distinct.tolist(), counts.tolist()):
                self.value_counts[value] = self.value_counts.get(value, 0) + count
            if len(self.value_counts) > DISCRETE_LIMIT:
                self.value_counts = None  # more than 5 distinct values: the continuous tests apply

    def values(self) -> np.ndarray | None:
        """Every current value, when there were at most ``KEEP_VALUES`` of them."""
        return None if self.kept is None else np.concatenate(self.kept) if self.kept else np.empty(0)

    def cdf_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """For each distinct reference value r: how many current values are < r and <= r."""
        # searchsorted "right" = number of reference values <= x, so x < r_j  <=>  that index <= j;
        # searchsorted "left" = number of reference values < x, so x <= r_j  <=>  that index <= j
        below = np.cumsum(self.right_index_counts)[:-1]
        at_or_below = np.cumsum(self.left_index_counts)[:-1]
        return below, at_or_below

    def n_values(self) -> int:
        """Distinct values in reference and current together, exact up to ``DISCRETE_LIMIT`` + 1."""
        if self.value_counts is None:
            return max(self.reference.get("n_unique", 0), DISCRETE_LIMIT + 1)
        reference = {value for value, _ in self.reference["frequencies"]}
        return len(reference | set(self.value_counts))

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None


class CategoricalSummary:
    """One categorical (or boolean) column of the current data: its value counts."""

    kind = "categorical"

    def __init__(self, reference: dict):
        self.reference = reference
        self.rows = 0
        self.count = 0
        self.counts: dict = {}

    def update(self, series: pd.Series) -> None:
        self.rows += len(series)
        for value, count in series.value_counts(dropna=True, sort=False).items():
            key = category_key(value)
            self.counts[key] = self.counts.get(key, 0) + int(count)
        self.count = sum(self.counts.values())

    def table(self) -> tuple[list, np.ndarray, np.ndarray]:
        """Categories with reference and current counts.

        The reference lists its top-K categories plus one "other" count; when it has such a
        bucket, current values outside the listed categories fall into it too, as nothing can
        tell them apart from the reference's rarer values.
        """
        reference = {value: count for value, count in self.reference["frequencies"]}
        other = self.reference.get("other", 0)
        keys = list(reference)
        current = dict.fromkeys(keys, 0)
        current_other = 0
        for value, count in self.counts.items():
            if value in current:
                current[value] += count
            elif other:
                current_other += count
            else:
                keys.append(value)
                current[value] = count
        ref_counts = [reference.get(key, 0) for key in keys]
        cur_counts = [current[key] for key in keys]
        if other:
            keys.append("(other)")
            ref_counts.append(other)
            cur_counts.append(current_other)
        return keys, np.asarray(ref_counts, dtype=np.int64), np.asarray(cur_counts, dtype=np.int64)

    def n_values(self) -> int:
        keys, _, _ = self.table()
        return max(len(keys), self.reference.get("n_unique", 0))
