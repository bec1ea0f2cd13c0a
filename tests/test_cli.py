"""``jupyter mlops``: listing, formats, the demo, and one-line errors with non-zero exits."""
from __future__ import annotations

import json
import subprocess

import pytest

import jupyter_mlops as mlops
from jupyter_mlops.cli import main
from jupyter_mlops.tracking.schema import LATEST_VERSION

from .conftest import NOTEBOOKS, PYTHON, ROOT, python_env


@pytest.fixture
def two_runs(project, backend):
    with mlops.start_run("alpha", experiment="cli", params={"model": "rf"}) as a:
        mlops.log_metric("auc", 0.9)
    with mlops.start_run("beta", experiment="cli", params={"model": "svm"}) as b:
        mlops.log_metric("auc", 0.8)
    return a.id, b.id


def test_runs_in_every_format(two_runs, capsys):
    assert main(["runs", "--experiment", "cli"]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split()[:4] == ["run_id", "name", "experiment", "status"]
    assert two_runs[0][:8] in table and "metrics.auc" in table

    assert main(["runs", "--format", "json", "--filter", "params.model = 'rf'"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["alpha"] and rows[0]["metrics.auc"] == 0.9

    assert main(["runs", "--format", "csv", "--order-by", "metrics.auc ASC"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("run_id,name") and [line.split(",")[1] for line in lines[1:]] == ["beta", "alpha"]


def test_experiments_and_show(two_runs, capsys):
    assert main(["experiments"]) == 0
    assert "cli" in capsys.readouterr().out
    assert main(["show", two_runs[1][:10]]) == 0
    shown = capsys.readouterr().out
    assert two_runs[1] in shown and "model  svm" in shown and "auc  0.8" in shown
    assert main(["show", two_runs[1], "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["params"] == {"model": "svm"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["runs", "--filter", "metrics.auc >> 1"], "position 13"),
        (["show", "nope-not-a-run"], "no run 'nope-not-a-run'"),
        (["show", "fb35"], "run id prefix 'fb35' is too short: give 6 or more characters of the run id"),
    ],
)
def test_bad_input_exits_non_zero_with_one_line(two_runs, capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_short_prefix_asks_for_six_characters_even_when_it_matches(two_runs, capsys):
    assert main(["show", two_runs[0][:5]]) == 2
    err = capsys.readouterr().err
    assert err == (f"jupyter mlops show: error: run id prefix {two_runs[0][:5]!r} is too short: "
                   "give 6 or more characters of the run id\n")
    assert main(["show", two_runs[0][:6]]) == 0


def test_not_a_database_through_the_real_command(project):
    (project / "notes.db").write_text("not sqlite")
    proc = subprocess.run([PYTHON, "-m", "jupyter_mlops", "--uri", "notes.db", "runs"], cwd=project,
                          env=python_env(), capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "notes.db is not an SQLite database" in proc.stderr


def test_demo_runs_the_notebook_and_prints_the_run(project):
    proc = subprocess.run([PYTHON, "-m", "jupyter_mlops", "demo", "--notebook", str(ROOT / "notebooks" / "demo.ipynb")],
                          cwd=project, env=python_env(), capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "demo-rf" in proc.stdout and "FINISHED" in proc.stdout and "metrics.test_auc" in proc.stdout
    record = mlops.get_run(mlops.search_runs(experiment="demo")["run_id"][0])
    assert record.metrics["test_auc"] > 0.95
    assert {"roc.png", "model/model.skops", "notebook/demo.ipynb"} <= {a["path"] for a in record.artifacts}
    assert [d["name"] for d in record.datasets] == ["train", "test"]
    assert (project / ".mlops" / "executed" / "demo-output.ipynb").is_file()


def test_demo_reports_a_failing_notebook(project):
    broken = project / "broken.ipynb"
    broken.write_text((NOTEBOOKS / "rerun.ipynb").read_text().replace("range(3)", "range(undefined_name)"))
    proc = subprocess.run([PYTHON, "-m", "jupyter_mlops", "demo", "--notebook", str(broken)], cwd=project,
                          env=python_env(), capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 1
    assert "undefined_name" in proc.stderr


def test_doctor_reports_the_store_and_problems(project, capsys, monkeypatch):
    assert main(["doctor"]) == 0
    report = capsys.readouterr().out
    assert "tracking store  sqlite:///" in report and "from the nearest existing .mlops/ folder" in report
    assert f"schema version {LATEST_VERSION}" in report and report.count("PROBLEM") == 0
    monkeypatch.setenv("MLOPS_TRACKING_URI", "postgresql://me:secret@127.0.0.1:1/nowhere")
    assert main(["doctor"]) == 1
    report = capsys.readouterr().out
    assert "secret" not in report and "me:***@127.0.0.1:1" in report
    problem = [line for line in report.splitlines() if line.startswith("PROBLEM")]
    assert len(problem) == 1 and "check that the server runs" in problem[0]
