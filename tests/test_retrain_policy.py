"""The retraining policy: its ``when`` language and its configuration errors."""
from __future__ import annotations

import pytest

from jupyter_mlops.exceptions import InvalidInputError
from jupyter_mlops.monitoring.policy import evaluate, load_policy

FACTS = {"drift_share": 0.6, "accuracy_drop": 0.01, "f1_drop": None, "dataset_drift": 1}


@pytest.mark.parametrize("when, expected", [
    ("drift_share >= 0.5", True),
    ("drift_share >= 0.5 and accuracy_drop > 0.05", False),
    ("drift_share >= 0.7 or accuracy_drop > 0.005", True),
    ("not dataset_drift", False),
    ("0.5 <= drift_share < 0.7", True),
    ("f1_drop > 0.01", False),  # unknown (None) is never true
    ("(drift_share > 0.9 or dataset_drift == 1) and accuracy_drop < 0.02", True),
])
def test_when_conditions(when, expected):
    assert evaluate(when, FACTS) is expected


@pytest.mark.parametrize("when, message", [
    ("__import__('os').system('x')", "only names, numbers"),
    ("drift_share >= 'a'", "only names, numbers"),
    ("drift_share >=", "cannot parse"),
    ("drift_shar > 0.5", "unknown name 'drift_shar'"),
    ("drift_share.real > 0", "only names, numbers"),
])
def test_bad_conditions_are_refused_not_run(when, message):
    with pytest.raises(InvalidInputError, match=message):
        evaluate(when, FACTS)


def test_policy_configuration_errors_name_the_field(tmp_path):
    base = {"_pyproject": str(tmp_path / "pyproject.toml")}
    with pytest.raises(InvalidInputError, match="no retraining policy"):
        load_policy(base)
    with pytest.raises(InvalidInputError, match="field 'pipeline' must be a string"):
        load_policy({**base, "retrain": {"when": "drift_share > 0.5"}})
    with pytest.raises(InvalidInputError, match="unknown field 'auto_promot'"):
        load_policy({**base, "retrain": {"when": "drift_share > 0.5", "pipeline": "p.yaml", "auto_promot": True}})
    policy = load_policy({**base, "retrain": {"when": "drift_share > 0.5", "pipeline": "p.yaml",
                                              "parameters": {"prepare.data": "{current}"}}})
    assert policy.pipeline == tmp_path / "p.yaml"
    assert policy.overrides("/data/new.csv") == ["prepare.data=/data/new.csv"]
