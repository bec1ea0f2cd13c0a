"""Drift: the known-shifted columns and only those are flagged; each statistic equals scipy's."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from jupyter_mlops.monitoring.drift import DriftThresholds, detect_drift
from jupyter_mlops.monitoring.summaries import bin_index
from jupyter_mlops.tracking.profile import profile_dataframe

SHIFTED = {"income", "plan", "promo"}


def generate(n: int, seed: int, shift: bool = False) -> pd.DataFrame:
    """Ten columns; with ``shift`` the numerical ``income``, categorical ``plan`` and binary ``promo`` move."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10, 0.5, n) * (1.4 if shift else 1.0)
    age = rng.normal(40, 12, n)
    age[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame({
        "income": income,
        "age": age,
        "tenure": rng.exponential(3, n),
        "score": rng.uniform(0, 1, n),
        "balance": rng.normal(0, 1000, n),
        "visits": rng.poisson(4, n),
        "plan": rng.choice(["basic", "pro", "team"], n, p=[0.2, 0.4, 0.4] if shift else [0.6, 0.3, 0.1]),
        "region": rng.choice(["north", "south", "east", "west"], n),
        "promo": rng.random(n) < (0.5 if shift else 0.2),
        "channel": rng.choice(["web", "store", "phone"], n, p=[0.5, 0.3, 0.2]),
    })


def clean(series: pd.Series) -> pd.Series:
    return series.replace([np.inf, -np.inf], np.nan).dropna()


def union_counts(ref: pd.Series, cur: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    keys = sorted(set(clean(ref)) | set(clean(cur)), key=str)
    ref_counts, cur_counts = clean(ref).value_counts(), clean(cur).value_counts()
    return (np.array([ref_counts.get(k, 0) for k in keys]), np.array([cur_counts.get(k, 0) for k in keys]))


def binned_wasserstein(ref: np.ndarray, cur: np.ndarray, bins: int) -> float:
    """scipy's distance between ref and cur binned on ref's equal-width edges, mass at each bin's own mean."""
    edges = np.linspace(ref.min(), ref.max(), bins + 1)

    def points(values):
        index = np.searchsorted(edges, values, side="right") - 1
        index[values == edges[-1]] = bins - 1           # np.histogram's closed last bin
        grouped = pd.Series(values).groupby(index)      # -1 below the range, ``bins`` above it
        return grouped.mean().to_numpy(), grouped.size().to_numpy()

    (ref_points, ref_weights), (cur_points, cur_weights) = points(ref), points(cur)
    return stats.wasserstein_distance(ref_points, cur_points, ref_weights, cur_weights) / max(np.std(ref), 0.001)


@pytest.mark.parametrize("ref_rows, cur_rows", [(800, 900), (800, 30_000), (20_000, 30_000)],
                         ids=["small-exact", "small-asymptotic", "large"])
def test_only_the_shifted_columns_are_flagged_and_statistics_equal_scipy(ref_rows, cur_rows):
    reference = generate(ref_rows, seed=1)
    current = generate(cur_rows, seed=2, shift=True)
    profile = profile_dataframe(reference)
    result = detect_drift(profile, current, chunk_rows=7_000)

    assert set(result.drifted_columns) == SHIFTED
    assert result.drift_share == pytest.approx(0.3) and result.dataset_drift is False
    small = ref_rows <= 1000
    for column in result.columns:
        ref, cur = clean(reference[column.column]), clean(current[column.column])
        assert column.reference_count == len(ref) and column.current_count == len(cur)
        if column.test == "ks":
            expected = stats.ks_2samp(ref.to_numpy(), cur.to_numpy())
            assert column.statistic == pytest.approx(expected.statistic, abs=1e-9)
            assert column.p_value == pytest.approx(expected.pvalue, abs=1e-9)
        elif column.test == "chisquare":
            expected = stats.chi2_contingency(np.vstack(union_counts(ref, cur)))
            assert column.statistic == pytest.approx(expected.statistic, abs=1e-9)
            assert column.p_value == pytest.approx(expected.pvalue, abs=1e-9)
        elif column.test == "z":
            expected = stats.chi2_contingency(np.vstack(union_counts(ref, cur)), correction=False)
            assert column.statistic ** 2 == pytest.approx(expected.statistic, abs=1e-9)
            assert column.p_value == pytest.approx(expected.pvalue, abs=1e-9)
        elif column.test == "wasserstein":
            expected = binned_wasserstein(ref.to_numpy(float), cur.to_numpy(float), bins=500)
            assert column.statistic == pytest.approx(expected, abs=1e-9)
            # and the binned distance stays close to the raw-data one
            raw = stats.wasserstein_distance(ref, cur) / np.std(ref)
            assert column.statistic == pytest.approx(raw, abs=0.01)
        else:
            assert column.test == "jensenshannon"
            ref_counts, cur_counts = union_counts(ref, cur)
            expected = distance.jensenshannon(ref_counts / len(ref), cur_counts / len(cur))
            assert column.statistic == pytest.approx(expected, abs=1e-9)
        assert column.test in (("ks", "chisquare", "z") if small else ("wasserstein", "jensenshannon"))
    assert result["promo"].test == ("z" if small else "jensenshannon")
    assert result["visits"].test == ("ks" if small else "wasserstein")


def test_same_distribution_shows_no_drift_in_either_regime():
    for ref_rows in (1000, 50_000):
        result = detect_drift(profile_dataframe(generate(ref_rows, seed=3)), generate(40_000, seed=4))
        assert result.drifted_columns == [] and result.dataset_drift is False


def test_dataset_drift_from_half_the_columns_and_thresholds_are_configurable():
    reference = generate(5000, seed=1)
    current = generate(5000, seed=2, shift=True)
    profile = profile_dataframe(reference)
    columns = ["income", "plan", "promo", "age", "region", "score"]
    assert detect_drift(profile, current, columns=columns).dataset_drift is True
    loose = detect_drift(profile, current, thresholds=DriftThresholds(wasserstein=5.0, jensenshannon=0.9))
    assert loose.drifted_columns == []
    strict = detect_drift(profile, current, thresholds=DriftThresholds(drift_share=0.3))
    assert strict.dataset_drift is True


def test_low_cardinality_numerical_columns_use_discrete_tests():
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"grade": rng.integers(0, 3, 5000), "flag": rng.integers(0, 2, 600)[np.arange(5000) % 600]})
    current = pd.DataFrame({"grade": rng.integers(0, 3, 4000), "flag": rng.integers(0, 2, 4000)})
    large = detect_drift(profile_dataframe(reference), current)
    assert large["grade"].test == "jensenshannon"
    ref_counts, cur_counts = union_counts(reference["grade"], current["grade"])
    assert large["grade"].statistic == pytest.approx(
        distance.jensenshannon(ref_counts / 5000, cur_counts / 4000), abs=1e-9)
    small = detect_drift(profile_dataframe(reference.iloc[:900]), current)
    assert small["grade"].test == "chisquare" and small["flag"].test == "z"
    # a sixth distinct value in the current data makes the column continuous again
    widened = current.assign(grade=np.where(np.arange(4000) % 2, current["grade"], np.arange(4000) % 7))
    assert detect_drift(profile_dataframe(reference.iloc[:900]), widened)["grade"].test == "ks"


def test_chunked_csv_and_parquet_give_the_same_verdicts(tmp_path):
    reference = generate(3000, seed=1)
    current = generate(20_000, seed=2, shift=True)
    profile = profile_dataframe(reference)
    whole = detect_drift(profile, current, chunk_rows=1_000_000).to_frame()
    current.to_csv(tmp_path / "current.csv", index=False)
    current.to_parquet(tmp_path / "current.parquet")
    for source in (tmp_path / "current.csv", str(tmp_path / "current.parquet"),
                   (current.iloc[i:i + 3000] for i in range(0, 20_000, 3000))):
        chunked = detect_drift(profile, source, chunk_rows=2_500).to_frame()
        assert chunked[["column", "test", "status"]].equals(whole[["column", "test", "status"]])
        assert np.allclose(chunked["statistic"], whole["statistic"], rtol=1e-9, atol=1e-12)


def test_bin_index_agrees_with_numpy_histogram_on_edges():
    rng = np.random.default_rng(5)
    low, high, bins = -1.3, 2.7, 500
    edges = np.linspace(low, high, bins + 1)
    values = np.concatenate([rng.uniform(-2, 3, 100_000), edges, np.nextafter(edges, np.inf),
                             np.nextafter(edges, -np.inf)])
    index = bin_index(values, low, high, bins)
    inside = (values >= low) & (values <= high)
    expected, _ = np.histogram(values, bins=edges)
    assert np.array_equal(np.bincount(index[inside] - 1, minlength=bins), expected)
    assert np.array_equal(index[values < low], np.zeros((values < low).sum()))
    assert (index[values > high] == bins + 1).all()


def test_bad_columns_get_a_verdict_with_the_reason_not_a_traceback():
    reference = generate(2000, seed=1)
    reference["empty_ref"] = np.nan
    current = generate(2000, seed=2).drop(columns=["region"])
    current["age"] = np.nan
    current["score"] = "high"
    current["empty_ref"] = 1.0
    result = detect_drift(profile_dataframe(reference), current)
    assert (result["region"].status, result["region"].reason) == ("missing", "column missing from the current data")
    assert result.missing_columns == ["region"] and not result.ok  # a failed check, whatever the drift verdict
    assert (result["age"].status, result["age"].reason) == ("not enough data", "every current value is missing")
    assert result["score"].status == "skipped" and "numerical (float64), current is" in result["score"].reason
    assert result["empty_ref"].status == "not enough data" and "reference has no values" in result["empty_ref"].reason
    assert len(result.tested) == 7 and result.drift_share == 0


def test_empty_current_data_is_not_enough_data():
    profile = profile_dataframe(generate(500, seed=1))
    for empty in (generate(10, seed=2).iloc[:0], iter([])):
        result = detect_drift(profile, empty)
        assert {c.status for c in result.columns} == {"not enough data"}
        assert result.dataset_drift is None and result.drift_share is None
        assert "drift.share" not in result.metrics()
