"""The Python API refuses bad input before it reaches the store: these tests read nothing back
from it, so they run once, on the project's SQLite store (tests/test_api.py runs on both back ends)."""
from __future__ import annotations

import pytest

import jupyter_mlops as mlops
from jupyter_mlops.exceptions import InvalidInputError, MlopsError


def test_mistyped_artifact_path_is_an_error_not_text(project):
    with mlops.start_run(), pytest.raises(InvalidInputError, match="no file or folder at 'reslts.csv'"):
        mlops.log_artifact("reslts.csv")


def test_bad_step_and_key(project):
    with mlops.start_run():
        with pytest.raises(InvalidInputError, match="step 1.5"):
            mlops.log_metric("m", 1.0, step=1.5)
        with pytest.raises(InvalidInputError, match="metric name"):
            mlops.log_metric("", 1.0)


def test_logging_after_end_is_refused(project):
    run = mlops.start_run()
    run.end()
    with pytest.raises(MlopsError, match="has ended"):
        run.log_param("x", 1)


def test_unparsable_filter_names_position(project):
    with pytest.raises(InvalidInputError) as err:
        mlops.search_runs(filter="metrics.auc > 0.9 and and params.model = 'rf'")
    assert err.value.position == 22
    assert "position 22" in str(err.value)
