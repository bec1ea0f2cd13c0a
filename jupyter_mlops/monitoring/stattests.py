"""The per-column drift statistics, computed from the counts in ``summaries`` with scipy.

Each function returns ``(statistic, p_value)`` (``p_value`` None for distances) and equals the
scipy function it is named after on the data it is defined on:

* ``ks``: ``scipy.stats.ks_2samp(reference_values, current_values)``: exact, from the counts of
  current values below / at each reference value (the empirical CDFs can only differ most at
  those points), so the current data never needs sorting or holding.
* ``chisquare``: ``scipy.stats.chi2_contingency`` of the 2 x K table of category counts.
* ``z``: Evidently's pooled two-proportion Z-test; its square equals ``chi2_contingency``'s
  statistic without continuity correction.
* ``wasserstein``: ``scipy.stats.wasserstein_distance`` between the two distributions *binned on
  the reference's histogram edges*, each bin's mass placed at that distribution's own mean inside
  the bin (values beyond the reference range in an open bin on each side), divided by the
  reference's standard deviation (at least 0.001) as Evidently does. Placing the mass at the bin
  mean keeps the integral of each CDF over every bin exact, so the binned distance differs from
  the raw-data distance only where the two CDFs cross inside one bin (1/500 of the range).
* ``jensenshannon``: ``scipy.spatial.distance.jensenshannon`` of the category (or distinct value)
  shares over the union of categories, natural logarithm, no zero filling (Evidently's defaults).
"""
from __future__ import annotations

import numpy as np
from scipy import stats
from scipy.spatial import distance

from .summaries import CategoricalSummary, NumericalSummary

TESTS = ("ks", "chisquare", "z", "wasserstein", "jensenshannon")


def choose_test(kind: str, reference_count: int, n_values: int, small_reference_rows: int = 1000) -> str:
    """Evidently's default test for a column (``_get_default_stattest``)."""
    small = reference_count <= small_reference_rows
    if kind == "numerical" and n_values > 5:
        return "ks" if small else "wasserstein"
    if small:
        return "chisquare" if n_values > 2 else "z"
    return "jensenshannon"


def ks(summary: NumericalSummary) -> tuple[float, float]:
    """Two-sided two-sample Kolmogorov-Smirnov test, as ``scipy.stats.ks_2samp`` (method "auto")."""
    reference = np.asarray(summary.reference["sample"], dtype="float64")
    current = summary.values()
    if current is not None:  # small enough for scipy's exact distribution: let scipy do it all
        result = stats.ks_2samp(reference, current)
        return float(result.statistic), float(result.pvalue)
    n_ref, n_cur = reference.size, summary.count
    ref_cdf = np.cumsum(np.unique(reference, return_counts=True)[1]) / n_ref  # at each distinct value
    below, at_or_below = summary.cdf_counts()
    ref_before = np.concatenate(([0.0], ref_cdf[:-1]))
    # scipy evaluates cdf_ref(x) - cdf_cur(x) at every data point; its extremes sit at reference
    # values (cdfs at r) and just before them (reference cdf of the previous value, current < r)
    diffs = np.concatenate((ref_cdf - at_or_below / n_cur, ref_before - below / n_cur, [0.0]))
    d = float(max(diffs.max(), np.clip(-diffs.min(), 0, 1)))
    m, n = sorted([float(n_ref), float(n_cur)], reverse=True)
    p_value = stats.kstwo.sf(d, np.round(m * n / (m + n)))
    return d, float(np.clip(p_value, 0, 1))


def discrete_table(summary) -> tuple[list, np.ndarray, np.ndarray]:
    """Categories (or distinct numerical values) with their reference and current counts."""
    if isinstance(summary, CategoricalSummary):
        return summary.table()
    reference = {value: count for value, count in summary.reference["frequencies"]}
    keys = sorted(set(reference) | set(summary.value_counts))
    return (keys, np.array([reference.get(k, 0) for k in keys], dtype=np.int64),
            np.array([summary.value_counts.get(k, 0) for k in keys], dtype=np.int64))


def chisquare(summary) -> tuple[float, float]:
    """Chi-square test of independence of the 2 x K contingency table (reference, current)."""
    _, ref, cur = discrete_table(summary)
    result = stats.chi2_contingency(np.vstack([ref, cur]))
    return float(result.statistic), float(result.pvalue)


def z(summary) -> tuple[float, float]:
    """Evidently's pooled two-proportion Z-test for columns with at most two values."""
    keys, ref, cur = discrete_table(summary)
    if len(keys) < 2:
        return 0.0, 1.0  # one value on both sides: nothing can have moved
    n1, n2 = int(ref.sum()), int(cur.sum())
    p1 = float(n1 - ref[0]) / n1
    p2 = float(n2 - cur[0]) / n2
    pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
    statistic = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(statistic), float(2 * (1 - stats.norm.cdf(np.abs(statistic))))


def binned_points(counts: np.ndarray, sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Support points (each non-empty bin's mean) and weights (its count) of a binned distribution."""
    filled = counts > 0
    return sums[filled] / counts[filled], counts[filled].astype("float64")


def wasserstein(summary: NumericalSummary) -> tuple[float, None]:
    """Wasserstein-1 distance on the reference's bins, normalised by the reference std (Evidently)."""
    histogram = summary.reference["histogram"]
    ref_counts = np.concatenate(([0], histogram["counts"], [0]))
    ref_sums = np.concatenate(([0.0], histogram["sums"], [0.0]))
    ref_points, ref_weights = binned_points(ref_counts, ref_sums)
    cur_points, cur_weights = binned_points(summary.hist_counts, summary.hist_sums)
    norm = max(float(summary.reference["std"]), 0.001)
    return float(stats.wasserstein_distance(ref_points, cur_points, ref_weights, cur_weights) / norm), None


def jensenshannon(summary) -> tuple[float, None]:
    """Jensen-Shannon distance of the category shares (Evidently: no zero filling, natural log)."""
    _, ref, cur = discrete_table(summary)
    return float(distance.jensenshannon(ref / ref.sum(), cur / cur.sum())), None


def run_test(name: str, summary) -> tuple[float, float | None]:
    return {"ks": ks, "chisquare": chisquare, "z": z, "wasserstein": wasserstein, "jensenshannon": jensenshannon}[name](summary)
