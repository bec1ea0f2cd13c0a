"""Slices of an evaluation set: which rows belong to ``sex=F`` or ``sex=F,age_band=30-40``.

A slice spec is one feature (``"sex"``) or a comma-separated crossing (``"sex,age_band"``).
Rows are grouped once per spec into integer codes, so every metric afterwards is a ``bincount``
over the codes rather than a pandas ``groupby`` per slice and metric.

Metric keys follow ``slice.<feature>=<value>[,<feature>=<value>].<metric>`` (tracking/slice_keys.py,
which the gates and the model card read them back with); the report keeps the values as they were.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..exceptions import InvalidInputError
from ..tracking.slice_keys import slice_key, slice_label

MISSING = "missing"


@dataclass
class Grouping:
    """Rows of one slice spec: ``codes[i]`` is the group of row ``i``; ``values[g]`` the group's values."""

    features: tuple[str, ...]
    codes: np.ndarray  # int64, one per row
    values: list[tuple]  # per group, one value per feature, as found in the data
    counts: np.ndarray  # rows per group

    @property
    def spec(self) -> str:
        return ",".join(self.features)

    @property
    def size(self) -> int:
        return len(self.values)

    def label(self, group: int) -> str:
        """``sex=F,age_band=30-40``: the slice as it appears in metric keys."""
        return slice_label(self.features, self.values[group])


def parse_specs(slices, columns, where: str = "slices") -> list[tuple[str, ...]]:
    """``["sex", "sex,age_band"]`` as feature tuples, each feature a column of the data."""
    if slices is None:
        return []
    if isinstance(slices, str):
        slices = [slices]
    specs = []
    for spec in slices:
        parts = tuple(p.strip() for p in (spec.split(",") if isinstance(spec, str) else spec))
        if not parts or any(not p for p in parts):
            raise InvalidInputError(f"{where}: {spec!r} is not a feature or a comma-separated list of features")
        missing = [p for p in parts if p not in columns]
        if missing:
            raise InvalidInputError(f"{where}: column {missing[0]!r} is not in the evaluation data")
        if len(set(parts)) != len(parts):
            raise InvalidInputError(f"{where}: {spec!r} names a feature twice")
        if parts not in specs:
            specs.append(parts)
    return specs


def group_rows(frame, features: tuple[str, ...]) -> Grouping:
    """Group the rows of ``frame`` by the values of ``features`` (missing values are a group of their own)."""
    import pandas as pd

    codes = np.zeros(len(frame), dtype=np.int64)
    uniques = []
    for feature in features:
        column_codes, column_uniques = pd.factorize(frame[feature], sort=True, use_na_sentinel=True)
        column_codes = np.where(column_codes < 0, len(column_uniques), column_codes)  # missing: one more code
        values = list(column_uniques) + [MISSING]
        codes = codes * len(values) + column_codes
        uniques.append(values)
    if len(codes) and codes.max() < 4 * len(codes) + 1024:  # the crossings that occur, numbered in order: linear
        present = np.bincount(codes) > 0
        observed = np.flatnonzero(present)
        codes = (np.cumsum(present) - 1)[codes]
    else:  # many sparse crossings: sorting is cheaper than a count per possible crossing
        observed, codes = np.unique(codes, return_inverse=True)
    values = []
    for combined in observed:
        parts = []
        for values_of in reversed(uniques):
            combined, index = divmod(int(combined), len(values_of))
            parts.append(_plain(values_of[index]))
        values.append(tuple(reversed(parts)))
    counts = np.bincount(codes, minlength=len(observed))
    return Grouping(tuple(features), codes.astype(np.int64), values, counts)


def _plain(value):
    """numpy scalars as Python ones, so values print and serialise as the data showed them."""
    return value.item() if hasattr(value, "item") else value


def metric_key(label: str, metric: str) -> str:
    return slice_key(label, metric)
