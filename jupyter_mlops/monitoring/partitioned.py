"""Drift on data larger than one machine: each partition folded into summaries on a Dask worker, merged.

The summaries the single-machine path folds chunk by chunk (:mod:`.summaries`) are already
mergeable, because they are counted on the reference's own grid: a numerical column is counts and
sums on the reference histogram's bins, counts below/at each reference value (exact KS), min/max/
sum, value counts while there are few, and its raw values while there are at most ``KEEP_VALUES``;
a categorical column is exact counts per category. Merging two partitions adds them (or keeps
both lists), so no sketch is needed and nothing is approximated: the merged summary is the one the
local path builds, and so are the verdicts. Statistics agree to floating-point summation order
(``TOLERANCE`` relative), because sums are added in a different order.
"""
from __future__ import annotations

import numpy as np

from ..tracking.profile import as_profile
from .drift import MISSING, NOT_ENOUGH_DATA, DriftResult, DriftThresholds, _columns, _summary, _type_problem, _verdict
from .summaries import DISCRETE_LIMIT, KEEP_VALUES, CategoricalSummary, NumericalSummary

TOLERANCE = 1e-9  # relative, on each statistic and p-value, against the single-machine path


class Folded:
    """One partition's (or several merged partitions') summaries, problems and row count."""

    def __init__(self, rows: int = 0, parts: int = 0, summaries=None, problems=None):
        self.rows, self.parts = rows, parts
        self.summaries: dict = summaries or {}
        self.problems: dict = problems or {}


def fold_partition(frame, columns: dict, names: list[str], thresholds: DriftThresholds) -> Folded:
    """What the local path does with one chunk, for one partition (``columns``: the profile's columns)."""
    frame = frame.rename(columns=str)
    folded = Folded(len(frame), 1)
    for name in names:
        if name not in frame.columns:
            folded.problems[name] = (MISSING, "column missing from the current data")
            continue
        problem = _type_problem(columns[name], frame[name])
        if problem:
            folded.problems[name] = ("skipped", problem)
            continue
        summary = _summary(columns[name], thresholds)
        summary.update(frame[name])
        folded.summaries[name] = summary
    return folded


def merge(a: Folded, b: Folded) -> Folded:
    """``a`` then ``b``: rows added, the first problem of a column kept, summaries merged."""
    merged = Folded(a.rows + b.rows, a.parts + b.parts, problems=dict(b.problems))
    merged.problems.update(a.problems)
    for name in set(a.summaries) | set(b.summaries):
        if name in merged.problems:
            continue
        left, right = a.summaries.get(name), b.summaries.get(name)
        merged.summaries[name] = left if right is None else right if left is None else _merge_summary(left, right)
    return merged


def _merge_summary(a, b):
    if isinstance(a, CategoricalSummary):
        out = CategoricalSummary(a.reference)
        out.rows = a.rows + b.rows
        out.counts = dict(a.counts)
        for key, count in b.counts.items():
            out.counts[key] = out.counts.get(key, 0) + count
        out.count = sum(out.counts.values())
        return out
    out: NumericalSummary = object.__new__(NumericalSummary)
    out.__dict__.update(a.__dict__)
    out.rows, out.count, out.infinite = a.rows + b.rows, a.count + b.count, a.infinite + b.infinite
    out.total = a.total + b.total
    out.min, out.max = min(a.min, b.min), max(a.max, b.max)
    out.hist_counts, out.hist_sums = a.hist_counts + b.hist_counts, a.hist_sums + b.hist_sums
    if a.ref_values is not None:
        out.right_index_counts = a.right_index_counts + b.right_index_counts
        out.left_index_counts = a.left_index_counts + b.left_index_counts
    out.kept = None if a.kept is None or b.kept is None or out.count > KEEP_VALUES else a.kept + b.kept
    if a.value_counts is None or b.value_counts is None:
        out.value_counts = None
    else:
        counts = dict(a.value_counts)
        for value, count in b.value_counts.items():
            counts[value] = counts.get(value, 0) + count
        out.value_counts = counts if len(counts) <= DISCRETE_LIMIT else None
    return out


def detect_drift_partitioned(reference, data, *, columns: list[str] | None = None,
                             thresholds: DriftThresholds | None = None, scheduler: str | None = None,
                             client=None) -> DriftResult:
    """``detect_drift`` for a Dask DataFrame (or a folder/glob of Parquet or CSV read as one): every
    partition folded where it lives, the folds merged pairwise on the cluster, verdicts as locally."""
    import dask

    from .dask_sources import dask_client, is_dask_frame, read_partitioned

    profile = as_profile(reference)
    thresholds = thresholds or DriftThresholds()
    names = _columns(profile, columns)
    frame = data if is_dask_frame(data) else read_partitioned(data)
    used = [name for name in names if name in set(map(str, frame.columns))]
    if used and len(used) < len(frame.columns):
        frame = frame[used]  # read only the profiled columns
    wanted = {name: profile["columns"][name] for name in names}
    shared = dask.delayed(wanted, pure=True)
    folds = [dask.delayed(fold_partition, pure=True)(part, shared, names, thresholds) for part in frame.to_delayed()]
    while len(folds) > 1:  # a tree: no single task holds every partition's fold
        folds = [dask.delayed(merge, pure=True)(*pair) if len(pair) == 2 else pair[0]
                 for pair in (folds[i:i + 2] for i in range(0, len(folds), 2))]
    with dask_client(scheduler, client):
        folded = folds[0].compute() if folds else Folded()
    if not used:  # none of the profiled columns: every one is missing
        folded.problems = {name: (MISSING, "column missing from the current data") for name in names}
    if folded.parts == 0:
        folded.problems = {name: (NOT_ENOUGH_DATA, "the current data has no rows") for name in names}
    results = [_verdict(name, profile["columns"][name], folded.summaries.get(name), folded.problems.get(name),
                        thresholds) for name in names]
    return DriftResult(results, thresholds, profile.get("rows", 0), folded.rows)


def same_verdicts(a: DriftResult, b: DriftResult, tolerance: float = TOLERANCE) -> list[str]:
    """How two results differ beyond ``tolerance`` (empty when they agree), column by column."""
    problems = []
    for x, y in zip(a.columns, b.columns):
        if (x.column, x.status, x.test) != (y.column, y.status, y.test):
            problems.append(f"{x.column}: {x.status}/{x.test} vs {y.status}/{y.test}")
            continue
        for field in ("statistic", "p_value"):
            u, v = getattr(x, field), getattr(y, field)
            if (u is None) != (v is None) or (u is not None and not np.isclose(u, v, rtol=tolerance, atol=1e-12)):
                problems.append(f"{x.column}: {field} {u} vs {v}")
    if a.current_rows != b.current_rows:
        problems.append(f"rows {a.current_rows} vs {b.current_rows}")
    return problems
