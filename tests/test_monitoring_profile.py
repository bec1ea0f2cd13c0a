"""Reference profile: bounded JSON whatever the data size, exact enough for the drift tests."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from jupyter_mlops.exceptions import InvalidInputError
from jupyter_mlops.tracking.profile import (
    histogram_edges,
    load_profile,
    profile_dataframe,
    save_profile,
)


def frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 10, n)
    age[::10] = np.nan
    return pd.DataFrame({
        "age": age,
        "visits": rng.poisson(3, n),
        "plan": rng.choice(["basic", "pro", "team"], n, p=[0.6, 0.3, 0.1]),
        "city": [f"city{i}" for i in rng.integers(0, 500, n)],
        "churned": rng.random(n) < 0.2,
    })


def test_numerical_column_statistics_match_numpy():
    df = frame(5000)
    column = profile_dataframe(df)["columns"]["age"]
    values = df["age"].dropna().to_numpy()
    assert column["kind"] == "numerical" and column["dtype"] == "float64"
    assert column["count"] == values.size
    assert column["missing"] == pytest.approx(0.1)
    assert column["mean"] == pytest.approx(values.mean(), rel=1e-12)
    assert column["std"] == pytest.approx(values.std(), rel=1e-12)
    assert (column["min"], column["max"]) == (values.min(), values.max())
    assert column["quantiles"]["0.5"] == pytest.approx(np.median(values))
    hist = column["histogram"]
    expected, _ = np.histogram(values, bins=len(hist["counts"]), range=(values.min(), values.max()))
    assert hist["counts"] == expected.tolist()
    assert sum(hist["sums"]) == pytest.approx(values.sum(), rel=1e-12)
    assert histogram_edges(hist)[[0, -1]].tolist() == [values.min(), values.max()]
    assert column["n_unique"] == values.size and column["frequencies"] is None


def test_sample_holds_every_value_up_to_1000_rows_and_is_seeded_beyond():
    small = profile_dataframe(frame(1000))["columns"]["age"]
    assert small["sample_complete"] and sorted(small["sample"]) == small["sample"]
    assert len(small["sample"]) == small["count"] == 900
    big_df = frame(20_000)
    big = profile_dataframe(big_df)["columns"]["age"]
    assert not big["sample_complete"] and len(big["sample"]) == 1000
    assert set(big["sample"]) <= set(big_df["age"].dropna())
    assert profile_dataframe(big_df)["columns"]["age"]["sample"] == big["sample"]
    assert profile_dataframe(big_df, seed=1)["columns"]["age"]["sample"] != big["sample"]


def test_categorical_top_k_plus_other_and_booleans():
    df = frame(5000)
    profile = profile_dataframe(df, top_k=50)
    plan = profile["columns"]["plan"]
    assert plan["kind"] == "categorical" and plan["n_unique"] == 3 and plan["other"] == 0
    assert dict(map(tuple, plan["frequencies"])) == df["plan"].value_counts().to_dict()
    city = profile["columns"]["city"]
    assert len(city["frequencies"]) == 50 and city["other_unique"] == city["n_unique"] - 50
    assert sum(c for _, c in city["frequencies"]) + city["other"] == 5000
    churned = profile["columns"]["churned"]
    assert churned["kind"] == "categorical" and churned["dtype"] == "bool"
    assert {value for value, _ in churned["frequencies"]} == {True, False}
    visits = profile["columns"]["visits"]
    assert visits["kind"] == "numerical" and visits["frequencies"] is not None


def test_size_is_bounded_whatever_the_row_count():
    small = len(json.dumps(profile_dataframe(frame(2_000))))
    large = len(json.dumps(profile_dataframe(frame(400_000))))
    assert large < 80_000
    assert large < 1.5 * small


def test_edge_cases_give_json_without_nan(tmp_path):
    df = pd.DataFrame({"empty": [np.nan] * 4, "inf": [1.0, np.inf, -np.inf, 2.0], "const": [3.0] * 4,
                       "when": pd.to_datetime(["2024-01-01", None, "2024-02-01", "2024-03-01"])})
    profile = profile_dataframe(df, target="const")
    assert profile["target"] == "const"
    assert profile["columns"]["empty"]["count"] == 0 and profile["columns"]["empty"]["missing"] == 1.0
    assert profile["columns"]["inf"]["infinite"] == 2 and profile["columns"]["inf"]["max"] == 2.0
    assert profile["columns"]["const"]["histogram"]["counts"] == [4]
    assert profile["columns"]["when"]["kind"] == "datetime"
    path = save_profile(profile, tmp_path / "p" / "profile.json")
    assert load_profile(path) == profile
    assert profile_dataframe(df.iloc[:0])["rows"] == 0


def test_bad_input_is_named():
    with pytest.raises(InvalidInputError, match="target column 'nope'"):
        profile_dataframe(frame(10), target="nope")
    with pytest.raises(InvalidInputError, match="DataFrame"):
        profile_dataframe([1, 2, 3])


def test_load_profile_names_the_file_and_never_unpickles(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 1,\n "columns": [}')
    with pytest.raises(InvalidInputError, match=r"bad\.json.*line 2"):
        load_profile(bad)
    pickled = tmp_path / "profile.pkl"
    import pickle

    pickled.write_bytes(pickle.dumps({"version": 1, "columns": {}}))
    with pytest.raises(InvalidInputError, match="profile.pkl"):
        load_profile(pickled)
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"version": 99, "columns": {}}))
    with pytest.raises(InvalidInputError, match="version 99"):
        load_profile(foreign)
    with pytest.raises(InvalidInputError, match="cannot read profile"):
        load_profile(tmp_path / "missing.json")
