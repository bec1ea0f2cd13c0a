"""The registry commands: approve, reject, export, models, versions, alias, verify, audit."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier

import jupyter_mlops as mlops
from jupyter_mlops.cli import main


@pytest.fixture
def trained(backend):
    data = load_breast_cancer(as_frame=True)
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(data.data, data.target)
    with mlops.start_run("train") as run:
        mlops.log_metric("accuracy", 0.97)
        mlops.log_model(model, training_data=data.frame, target="target")
    return run.id


def test_approve_export_alias_list_verify_and_audit(trained, capsys):
    run = trained
    assert main(["approve", run[:8], "--by", "ana", "--reason", "beats baseline"]) == 0
    assert f"approved run {run} by ana" in capsys.readouterr().out
    assert main(["export", run[:8], "--name", "cancer", "--by", "ana", "--zip"]) == 0
    out = capsys.readouterr().out
    assert "exported cancer/1 -> " in out and "cancer-1.zip" in out and "onnx: " in out
    assert main(["alias", "cancer", "1", "production", "--by", "bo"]) == 0
    assert "cancer@production -> cancer/1" in capsys.readouterr().out

    assert main(["models"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["name", "latest", "aliases", "created"] and "production=1" in table[1]
    assert main(["versions", "cancer", "--format", "json"]) == 0
    (version,) = json.loads(capsys.readouterr().out)
    assert version["aliases"] == ["production"] and version["metrics"] == {"accuracy": 0.97}
    assert main(["versions", "cancer"]) == 0
    assert "accuracy=0.97" in capsys.readouterr().out

    folder = Path(version["package_uri"])
    for target in ("cancer@production", str(folder), str(folder.parent / "cancer-1.zip")):
        assert main(["verify", target]) == 0
        assert "OK (manifest sha256" in capsys.readouterr().out

    assert main(["audit", "cancer"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[3] for line in lines[1:]] == ["alias", "export"]
    assert main(["audit", "--format", "json"]) == 0
    assert [e["action"] for e in json.loads(capsys.readouterr().out)] == ["alias", "export", "approve"]


def test_verify_prints_each_problem_and_exits_1(trained, capsys):
    mlops.approve(trained, by="ana")
    folder = Path(mlops.export(trained, name="m")["package_uri"])
    (folder / "README.md").write_text("changed")
    (folder / "extra.txt").write_text("x")
    assert main(["verify", "m/1"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "m/1: FAILED"
    assert "  README.md: content differs from its sha256 in MANIFEST" in err
    assert "  extra.txt: not listed in MANIFEST" in err


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["export", "RUN", "--name", "m"], 1, "is not approved; only approved runs are exported"),
        (["export", "RUN", "--name", "../evil"], 2, "invalid model name '../evil'"),
        (["reject", "RUN", "--reason", " "], 2, "give a reason"),
        (["versions", "nope"], 2, "no registered model named 'nope'"),
        (["alias", "nope", "1", "production"], 2, "model 'nope' has no version 1"),
        (["verify", "nope@production"], 2, "model 'nope' has no alias 'production'"),
        (["approve", "zzzzzzzz"], 2, "no run"),
    ],
)
def test_bad_registry_input_is_one_line_and_non_zero(trained, capsys, argv, code, message):
    argv = [trained if a == "RUN" else a for a in argv]
    assert main(argv) == code
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_rejected_and_gated(trained, capsys, project):
    assert main(["reject", trained, "--by", "bo", "--reason", "leaks the label"]) == 0
    assert "rejected run" in capsys.readouterr().out
    assert main(["export", trained, "--name", "m"]) == 1
    assert "rejected by bo (leaks the label)" in capsys.readouterr().err
    (project / "pyproject.toml").write_text('[tool.jupyter_mlops.approval]\nrequire = ["metrics.accuracy >= 0.99"]\n')
    assert main(["approve", trained, "--by", "ana"]) == 1
    assert "fails the approval gate 'metrics.accuracy >= 0.99'" in capsys.readouterr().err


@pytest.mark.parametrize(("option", "value"), [("--log-predictions", "1.5"), ("--max-body-bytes", "ten"),
                                               ("--runtime", "tensorrt")])
def test_serve_refuses_bad_options_before_loading_anything(capsys, option, value):
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "m", option, value])
    assert exit_.value.code == 2 and option in capsys.readouterr().err
