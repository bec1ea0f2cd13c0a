"""Issue 7, acceptance 3: export, drifted data, policy fires, retraining, candidate, reproduce."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from jupyter_mlops.cli import main
from jupyter_mlops.pipeline.reproduce import NotReproducibleError, reproduce
from jupyter_mlops.registry import audit, versions

from .conftest import ROOT


def shifted_cancer_data(columns: int = 20) -> pd.DataFrame:  # noqa: F821
    """The breast-cancer rows with ``columns`` features moved by two standard deviations."""
    frame = load_breast_cancer(as_frame=True).frame
    rng = np.random.default_rng(1)
    for name in list(frame.columns[:columns]):
        frame[name] = frame[name] + 2 * frame[name].std() + rng.normal(0, 0.01, len(frame))
    return frame


def test_drift_retrains_exports_a_candidate_and_version_one_reproduces(project, capsys):
    shutil.copytree(ROOT / "notebooks", project / "notebooks", ignore=shutil.ignore_patterns("build"))
    assert main(["demo"]) == 0
    shifted_cancer_data().to_csv(project / "current.csv", index=False)
    (project / "pyproject.toml").write_text(
        "[tool.jupyter_mlops.retrain]\n"
        'when = "drift_share >= 0.5 or accuracy_drop > 0.05"\n'
        'pipeline = "notebooks/pipeline.yaml"\n'
        'parameters = {"prepare.data" = "{current}"}\n'
        "auto_promote = true\n")
    capsys.readouterr()

    assert main(["monitor", "cancer-clf@production", "current.csv", "--target", "target", "--retrain", "-j", "2"]) == 0
    out = capsys.readouterr().out
    assert "policy fired" in out and "candidate cancer-clf/2" in out

    candidate = versions.get_version("cancer-clf@candidate")
    assert candidate["version"] == 2 and candidate["approval"]["actor"] == "retrain-policy"
    log = audit.audit_log(limit=50)
    actions = [e["action"] for e in reversed(log)]
    tail = actions[actions.index("retrain-triggered"):]
    assert tail[:5] == ["retrain-triggered", "approve", "export", "alias", "retrain-evaluated"]
    evaluated = next(e for e in log if e["action"] == "retrain-evaluated")["details"]
    promoted = versions.get_version("cancer-clf@production")["version"] == 2
    assert promoted == (evaluated["candidate"] >= evaluated["production"])
    assert tail[5:] == (["alias"] if promoted else ["promotion-skipped"])
    triggered = next(e for e in log if e["action"] == "retrain-triggered")["details"]
    assert triggered["facts"]["drift_share"] >= 0.5

    # Version 1 reproduces: same notebooks, same (bundled) data, same metrics.
    result = reproduce("cancer-clf/1", jobs=2)
    assert result.matches, result.describe()
    assert {"cv_auc", "accuracy"} <= {r["metric"] for r in result.rows}

    # Version 2 was trained on current.csv: once that file changes, reproduce stops before running.
    (project / "current.csv").write_text((project / "current.csv").read_text().replace(".", ",", 1))
    with pytest.raises(NotReproducibleError, match="input data of step 'prepare'.*current.csv changed"):
        reproduce("cancer-clf/2")
    train = project / "notebooks" / "train.ipynb"
    train.write_text(train.read_text().replace("# Train", "# Train (edited)"))
    with pytest.raises(NotReproducibleError, match="the notebook of step 'train\\[.\\]'.*train.ipynb changed"):
        reproduce("cancer-clf/1")
