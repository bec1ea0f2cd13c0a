"""Data validation against a profile: every failure named by column and rule, never a traceback."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jupyter_mlops.monitoring.validation import DataValidationError, validate
from jupyter_mlops.tracking.profile import profile_dataframe, save_profile


@pytest.fixture
def training() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 500
    return pd.DataFrame({
        "age": rng.integers(18, 80, n),
        "income": rng.normal(50_000, 10_000, n),
        "plan": rng.choice(["basic", "pro"], n),
        "churned": rng.random(n) < 0.3,
    })


def rules(result) -> set[tuple]:
    return {(failure.column, failure.rule) for failure in result.failures}


def test_same_data_passes_from_a_dict_or_a_profile_file(training, tmp_path):
    profile = profile_dataframe(training, target="churned")
    assert validate(training, against=profile).passed
    path = save_profile(profile, tmp_path / "profile.json")
    training.drop(columns="churned").to_csv(tmp_path / "new.csv", index=False)
    result = validate(tmp_path / "new.csv", against=path)  # the target may be absent at scoring time
    assert result.passed and result.rows == 500 and "Passed" in result._repr_html_()


def test_every_rule_names_its_column(training):
    profile = profile_dataframe(training, target="churned")
    bad = training.head(100).copy()
    bad = bad.drop(columns="income").assign(extra=1)
    bad["age"] = bad["age"].astype("float64")
    bad.loc[:40, "age"] = np.nan
    bad.loc[50, "age"] = 150.0
    bad.loc[51, "age"] = 30.5
    bad["plan"] = bad["plan"].where(bad.index % 3 > 0, "enterprise")
    bad["churned"] = bad["churned"].astype(str)
    result = validate(bad, against=profile)
    assert not result.passed
    assert rules(result) == {
        ("income", "missing column"), ("extra", "unknown column"), ("age", "missing share"),
        ("age", "range"), ("age", "dtype"), ("plan", "unseen category"), ("churned", "dtype"),
    }
    text = result.describe()
    assert "column 'age': range: 1 value(s) outside the reference range [18, 79]: 150" in text
    assert "'enterprise'" in text and "41.0% missing" in text
    html = result._repr_html_()
    assert "Failed" in html and "unseen category" in html
    with pytest.raises(DataValidationError, match=r"(?s)scores.csv failed validation:\n.*- column 'income': missing column: expected a numerical"):
        result.raise_for_failures("scores.csv")


def test_margins_are_configurable(training):
    profile = profile_dataframe(training)
    wider = training.assign(income=training["income"] * 1.05)
    assert ("income", "range") in rules(validate(wider, against=profile))
    assert validate(wider, against=profile, range_margin=0.5).passed
    holes = training.assign(plan=training["plan"].where(training.index % 10 > 0))
    assert ("plan", "missing share") in rules(validate(holes, against=profile))
    assert validate(holes, against=profile, missing_margin=0.2).passed
    assert validate(training.assign(x=1), against=profile, allow_unknown_columns=True).passed


def test_empty_and_all_missing_data_fail_clearly(training):
    profile = profile_dataframe(training)
    empty = validate(training.iloc[:0], against=profile)
    assert rules(empty) == {(None, "not enough data")} and "data: not enough data: the data has no rows" in empty.describe()
    all_nan = training.assign(income=np.nan, plan=None)
    assert rules(validate(all_nan, against=profile)) == {("income", "missing share"), ("plan", "missing share")}


def test_bad_profile_or_data_source_is_named(training, tmp_path):
    from jupyter_mlops.exceptions import InvalidInputError

    with pytest.raises(InvalidInputError, match="profile version"):
        validate(training, against={"version": 0, "columns": {}})
    with pytest.raises(InvalidInputError, match="new.xlsx: unsupported file type"):
        (tmp_path / "new.xlsx").write_text("x")
        validate(tmp_path / "new.xlsx", against=profile_dataframe(training))
