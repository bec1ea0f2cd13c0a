"""``jupyter mlops predict``: extra columns pass through unscored; only missing or mistyped features are errors;
no progress bar left behind in the output."""
from __future__ import annotations

import os
import pty
import subprocess

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier

import jupyter_mlops as mlops
from jupyter_mlops.cli import main
from jupyter_mlops.exceptions import InputSchemaError

from .conftest import PYTHON, python_env


@pytest.fixture
def scored_file(backend, project):
    """Model ``m/1`` on the breast cancer features, and in.csv: an id, the features and the label."""
    data = load_breast_cancer(as_frame=True)
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(data.data, data.target)
    with mlops.start_run("train") as run:
        mlops.log_model(model, training_data=data.frame, target="target")
    mlops.approve(run.id, by="ana", reason="ok")
    mlops.export(run.id, name="m")
    frame = data.frame.assign(id=[f"c{i}" for i in range(len(data.frame))])[["id", *data.frame.columns]]
    frame.to_csv(project / "in.csv", index=False)
    return model, frame


def test_extra_columns_pass_through_and_are_not_scored(scored_file, project, capsys):
    model, frame = scored_file
    features = frame.drop(columns=["id", "target"])
    expected = model.predict(features).tolist()

    assert main(["predict", "m", "in.csv", "-o", "plain.csv"]) == 0
    assert capsys.readouterr().out.startswith("569 rows scored by m/1")
    plain = pd.read_csv(project / "plain.csv")
    assert list(plain.columns) == ["prediction"] and plain["prediction"].tolist() == expected

    assert main(["predict", "m", "in.csv", "-o", "kept.parquet", "--keep-input", "--probabilities"]) == 0
    kept = pd.read_parquet(project / "kept.parquet")
    assert list(kept.columns) == [*frame.columns, "prediction", "proba_0", "proba_1"]
    assert kept["id"].tolist() == frame["id"].tolist() and kept["target"].tolist() == frame["target"].tolist()
    assert kept["prediction"].tolist() == expected

    assert main(["predict", "m", "in.csv", "-o", "ids.csv", "--passthrough", "id", "target", "--passthrough", "id"]) == 0
    ids = pd.read_csv(project / "ids.csv")
    assert list(ids.columns) == ["id", "target", "prediction"] and ids["prediction"].tolist() == expected

    scored = mlops.predict("m", frame.iloc[:5])  # the Python API scores such a frame too
    assert scored["prediction"].tolist() == expected[:5]


@pytest.mark.parametrize(("change", "argv", "message"), [
    (lambda f: f.drop(columns=["mean area"]), [], "in.csv rows 1-569: missing column 'mean area'"),
    (lambda f: f.assign(**{"mean area": "big"}), [], "column 'mean area' must be float64; it holds non-numeric"),
    (lambda f: f, ["--passthrough", "customer"], "in.csv rows 1-569: no column 'customer' to pass through"),
])
def test_missing_or_mistyped_features_are_still_errors(scored_file, project, capsys, change, argv, message):
    change(scored_file[1]).to_csv(project / "in.csv", index=False)
    assert main(["predict", "m", "in.csv", "-o", "out.csv", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (project / "out.csv").exists()


def test_the_model_itself_stays_strict_unless_asked(scored_file):
    """What the REST API calls: an unknown column is refused; batch scoring asks prepare to ignore it."""
    model = mlops.load_model("m/1", runtime="sklearn")
    frame = scored_file[1].drop(columns=["target"])
    with pytest.raises(InputSchemaError, match="unknown column 'id'; the model takes 30 columns"):
        model.prepare(frame)
    assert list(model.prepare(frame, extra="ignore").columns) == model.input_columns
    with pytest.raises(InputSchemaError, match="missing column 'mean area'"):
        model.prepare(frame.drop(columns=["mean area"]), extra="ignore")
    with pytest.raises(ValueError, match="extra must be 'error' or 'ignore'"):
        model.prepare(frame, extra="keep")


def test_no_progress_bar_is_left_behind(scored_file, project):
    argv = [PYTHON, "-m", "jupyter_mlops", *(["--uri", os.environ["MLOPS_TRACKING_URI"]]
                                             if os.environ.get("MLOPS_TRACKING_URI") else []),
            "predict", "m", "in.csv", "-o", "out.csv"]
    piped = subprocess.run(argv, cwd=project, env=python_env(), capture_output=True, text=True, timeout=120,
                           check=False)
    assert piped.returncode == 0 and piped.stderr == ""  # was "0.00rows [00:00, ?rows/s]" after the summary
    assert piped.stdout.startswith("569 rows scored by m/1") and piped.stdout.count("\n") == 1

    leader, follower = pty.openpty()  # a terminal, as a user runs it: the one line and nothing else
    proc = subprocess.Popen(argv, cwd=project, env=python_env(), stdout=follower, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=120) == 0
    shown = b"".join(chunks).decode()
    assert shown.startswith("569 rows scored by m/1") and shown.count("\n") == 1 and "rows/s" not in shown
