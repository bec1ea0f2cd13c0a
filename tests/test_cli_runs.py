"""``jupyter mlops runs`` (limit, columns, terminal width), ``show`` (metric history) and ``compare``."""
from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import termios

import pytest

import jupyter_mlops as mlops
from jupyter_mlops.cli import main

from .conftest import PYTHON, python_env


def store_args() -> list[str]:
    """``--uri`` for a child process: python_env() drops MLOPS_* (the PostgreSQL backend's URI)."""
    uri = os.environ.get("MLOPS_TRACKING_URI")
    return ["--uri", uri] if uri else []


@pytest.fixture
def ranked_runs(backend):
    """Five runs ranked by metrics.rank; only the two ranked last logged metrics.old_metric."""
    ids = []
    for rank in range(5):
        with mlops.start_run(f"r{rank}", experiment="cli", params={"model": "rf" if rank % 2 else "svm"}) as run:
            mlops.log_metric("rank", rank)
            mlops.log_metric("val_auc", 0.8 + rank / 100)
            mlops.log_metric("test_auc", 0.7 + rank / 100)
            mlops.log_metric("loss", 1.0 / (rank + 1))
            if rank >= 3:
                mlops.log_metric("old_metric", 1.0)
        ids.append(run.id)
    return ids


def test_limit_says_how_many_more_and_columns_come_only_from_the_runs_shown(ranked_runs, capsys):
    assert main(["runs", "--limit", "3", "--order-by", "metrics.rank ASC"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in out[1:4]] == ["r0", "r1", "r2"]
    assert out[4] == "... 2 more runs (--limit 5 shows all)" and len(out) == 5
    assert "metrics.old_metric" not in out[0] and "metrics.val_auc" in out[0]

    assert main(["runs", "-n", "3", "-o", "metrics.rank ASC", "--format", "json"]) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)  # the note goes to stderr: stdout stays JSON
    assert len(rows) == 3 and not any("metrics.old_metric" in row for row in rows)
    assert captured.err == "... 2 more runs (--limit 5 shows all)\n"

    assert main(["runs", "--limit", "5"]) == 0
    out = capsys.readouterr().out
    assert "more run" not in out and "metrics.old_metric" in out


def test_default_limit_is_50(backend, capsys):
    for i in range(53):
        with mlops.start_run(f"many{i}", experiment="many"):
            pass
    assert main(["runs", "--experiment", "many"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 + 50 + 1 and out[-1] == "... 3 more runs (--limit 53 shows all)"


def test_columns_are_picked_by_globs_in_order(ranked_runs, capsys):
    assert main(["runs", "--columns", "metrics.*auc*, params.model", "-o", "metrics.rank DESC"]) == 0
    out = capsys.readouterr().out.splitlines()
    header = out[0].split()
    assert header[0] == "run_id" and set(header[1:3]) == {"metrics.val_auc", "metrics.test_auc"}
    assert header[3:] == ["params.model"]
    first = dict(zip(header, out[1].split()))
    assert first["run_id"] == ranked_runs[4][:8] and first["metrics.val_auc"] == "0.84" and first["params.model"] == "svm"

    assert main(["runs", "--columns", "name,metrics.nothing*", "--format", "csv", "-o", "metrics.rank ASC"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0] == "run_id,name" and lines[1] == f"{ranked_runs[0]},r0"
    assert captured.err == "jupyter mlops runs: note: no column of the runs shown matches 'metrics.nothing*'\n"


@pytest.mark.parametrize(("argv", "message"), [(["--limit", "0"], "1 or more"), (["--columns", " , "], "globs")])
def test_bad_runs_options_are_refused(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        main(["runs", *argv])
    assert exit_.value.code == 2 and message in capsys.readouterr().err


@pytest.fixture
def wide_runs(backend):
    with mlops.start_run("wide", experiment="wide", params={"notes": "a very long parameter value " * 4}) as run:
        for i in range(20):
            mlops.log_metric(f"fold_{i:02d}_balanced_accuracy", 0.5 + i / 100)
    return run.id


def run_in_terminal(argv: list[str], cwd, columns: int, rows: int = 40) -> str:
    """The real command with a pseudo-terminal of ``columns`` x ``rows`` as its stdout, as a user sees it."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = python_env()
    env.pop("COLUMNS", None)
    proc = subprocess.Popen([PYTHON, "-m", "jupyter_mlops", *store_args(), *argv], cwd=cwd, env=env,
                            stdout=follower, stderr=subprocess.PIPE)
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
    assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()
    return b"".join(chunks).decode().replace("\r\n", "\n")


def test_wide_output_fits_the_terminal(wide_runs, project):
    out = run_in_terminal(["runs", "--experiment", "wide"], project, columns=120).splitlines()
    assert max(len(line) for line in out) <= 120 and len(out) == 3
    assert out[0].split() == ["run_id", "name", "experiment", "status", "start_time", "duration_s", "params.notes"]
    assert out[1].endswith("a very long parameter value a v…")  # a cell cut at 32 characters
    assert out[2].startswith("(+20 columns not shown: metrics.fold_00_balanced_accuracy, ")
    assert out[2].endswith(", …; pick with --columns)")

    out = run_in_terminal(["runs", "-e", "wide", "--columns", "metrics.fold_1*"], project, columns=80).splitlines()
    assert max(len(line) for line in out) <= 80
    # names longer than a cell keep both ends
    assert out[0].split() == ["run_id", "metrics.fold_10…alanced_accuracy", "metrics.fold_11…alanced_accuracy"]
    assert out[1].split()[1:] == ["0.6", "0.61"]
    assert out[2] == "(+8 columns not shown; pick with --columns)"  # no name fits beside the hint in 80


def test_a_pipe_keeps_every_column_unless_columns_is_set(wide_runs, capsys, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    assert main(["runs", "--experiment", "wide"]) == 0
    out = capsys.readouterr().out
    assert "metrics.fold_19_balanced_accuracy" in out and "not shown" not in out
    monkeypatch.setenv("COLUMNS", "60")
    assert main(["runs", "--experiment", "wide"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 60 and "not shown" in lines[-1]


@pytest.fixture
def trained_run(backend):
    with mlops.start_run("train", experiment="cli") as run:
        for step in range(30):
            mlops.log_metric("loss", 1.0 / (step + 1), step=step)
        mlops.log_metric("auc", 0.91)
    return run.id


def test_show_draws_each_metric_history_as_a_sparkline(trained_run, capsys):
    assert main(["show", trained_run[:8]]) == 0
    lines = capsys.readouterr().out.splitlines()
    loss = next(line for line in lines if line.startswith("  loss"))
    spark = loss.split()[2]
    assert spark[0] == "█" and spark[-1] == "▁" and len(spark) == 24
    assert list(spark) == sorted(spark, reverse=True)  # a falling loss: never a rise
    assert loss.endswith("30 points, steps 0-29, min 0.0333333 max 1")
    auc = next(line for line in lines if line.startswith("  auc"))
    assert auc.split() == ["auc", "0.91"]  # one point: no history to draw


def test_show_metric_plots_value_against_step(trained_run, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["show", trained_run, "--metric", "loss"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"loss of run {trained_run[:8]} (train): 30 points, last 0.0333333, min 0.0333333, max 1"
    plot = [line.split("┤", 1)[1] if "┤" in line else None for line in lines[1:]]
    rows = [row for row in plot if row is not None]
    assert len(rows) == 12 and max(len(line) for line in lines) <= 80
    assert rows[0].startswith("•") and rows[-1].endswith("•")  # the highest value first, the lowest last
    assert lines[1].split()[0] == "1" and lines[12].split()[0] == "0.0333333"
    assert lines[-1].split()[:2] == ["0", "29"]

    assert main(["show", trained_run, "--metric", "loss", "--format", "json"]) == 0
    points = json.loads(capsys.readouterr().out)
    assert [p["step"] for p in points] == list(range(30)) and points[3]["value"] == 0.25

    assert main(["show", trained_run, "--metric", "accuracy"]) == 2
    err = capsys.readouterr().err
    assert err == f"jupyter mlops show: error: run {trained_run[:8]} has no metric 'accuracy' (its metrics: auc, loss)\n"


def test_compare_puts_differing_params_and_latest_metrics_side_by_side(backend, capsys):
    ids = []
    for model, auc in (("rf", 0.91), ("svm", 0.88), ("rf", 0.93)):
        with mlops.start_run(model, experiment="cli", params={"model": model, "seed": "0"}) as run:
            mlops.log_metric("auc", 0.5, step=0)
            mlops.log_metric("auc", auc, step=1)
        ids.append(run.id)
    with mlops.start_run("extra", experiment="cli", params={"seed": "0"}) as run:
        mlops.log_metric("loss", 0.2)
    ids.append(run.id)

    assert main(["compare", *[i[:8] for i in ids[:3]]]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["run"] + [i[:8] for i in ids[:3]]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:-1]}
    assert rows == {"name": ["rf", "svm", "rf"], "status": ["FINISHED"] * 3,
                    "params.model": ["rf", "svm", "rf"], "metrics.auc": ["0.91", "0.88", "0.93"]}
    assert lines[-1] == "(equal in every run: seed=0)"

    assert main(["compare", ids[0], ids[3]]) == 0
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()[1:-1]}
    assert rows["params.model"] == ["rf", "-"] and rows["metrics.auc"] == ["0.91", "-"]
    assert rows["metrics.loss"] == ["-", "0.2"]


@pytest.mark.parametrize(("runs", "message"), [
    (["SAME", "SAME"], "give two or more different runs to compare"),
    (["SAME", "abc"], "run id prefix 'abc' is too short"),
    (["SAME", "zzzzzzzz"], "no run 'zzzzzzzz'"),
])
def test_compare_refuses_in_one_line(trained_run, capsys, runs, message):
    assert main(["compare", *[trained_run if r == "SAME" else r for r in runs]]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
