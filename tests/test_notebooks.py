"""Real notebooks in real kernels: papermill runs, re-run cells, and what lands in the SQLite file."""
from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from jupyter_client.manager import KernelManager

from jupyter_mlops.tracking import artifacts

from .conftest import NOTEBOOKS, PYTHON, python_env

BIN = Path(PYTHON).parent


def git(*args, cwd):
    subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=cwd, check=True,
                   capture_output=True)


def test_papermill_notebook_lands_in_sqlite(project):
    """Acceptance 1: magics + API in a notebook run by the papermill CLI, checked in the SQLite file."""
    repo = project / "repo"
    repo.mkdir()
    shutil.copy(NOTEBOOKS / "tracked.ipynb", repo / "tracked.ipynb")
    git("init", "-q", cwd=repo)
    git("add", ".", cwd=repo)
    git("commit", "-qm", "notebook", cwd=repo)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    out = project / "executed.ipynb"  # outside the repository, so the checkout stays clean
    proc = subprocess.run(
        [str(BIN / "papermill"), "tracked.ipynb", str(out), "-p", "alpha", "0.7", "-p", "epochs", "4", "-k", "python3"],
        cwd=repo, env=python_env(), capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    # The project's existing .mlops/ (a parent of the repository) is the nearest store: it wins over
    # making a new one at the repository's root.
    db = project / ".mlops" / "mlops.db"
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    (run,) = con.execute("SELECT * FROM runs").fetchall()
    assert run["status"] == "FINISHED" and run["name"] == "tracked"
    assert run["source_path"] == str(repo / "tracked.ipynb")
    assert run["source_hash"] == artifacts.sha256_file(repo / "tracked.ipynb")
    assert run["git_commit"] == head and run["git_dirty"] == 0
    params = dict(con.execute("SELECT key, value FROM params").fetchall())
    # papermill's injected parameters are logged on their own; the defaults it did not override are not.
    assert params == {"alpha": "0.7", "epochs": "4", "optimizer": "sgd", "layers": "[8, 4]", "batch_size": "32"}
    loss = con.execute("SELECT step, value FROM metrics WHERE key = 'loss' ORDER BY step").fetchall()
    assert [tuple(r) for r in loss] == [(0, 1.0), (1, 0.5), (2, 1 / 3), (3, 0.25)]
    assert con.execute("SELECT value FROM latest_metrics WHERE key = 'accuracy'").fetchone()[0] == 0.93
    assert dict(con.execute("SELECT key, value FROM tags").fetchall())["stage"] == "test"
    arts = {r["path"]: r for r in con.execute("SELECT * FROM artifacts")}
    assert set(arts) == {"table.csv", "notes.txt", "notebook/tracked.ipynb"}
    snapshot = artifacts.read_bytes(db.parent / "artifacts", arts["notebook/tracked.ipynb"]["sha256"])
    assert "".join(json.loads(snapshot)["cells"][1]["source"]).startswith("import jupyter_mlops")
    (dataset,) = con.execute("SELECT * FROM datasets").fetchall()
    assert (dataset["name"], dataset["rows"], dataset["columns"]) == ("train", 10, 2)
    env = con.execute("SELECT * FROM environments WHERE hash = ?", (run["environment_hash"],)).fetchone()
    packages = json.loads(env["packages"])
    assert "papermill" in packages and "ipykernel" in packages and env["python_version"].startswith("3.")

    listing = subprocess.run([str(BIN / "jupyter-mlops"), "runs"], cwd=repo, env=python_env(),
                             capture_output=True, text=True)
    assert listing.returncode == 0, listing.stderr
    assert run["uuid"][:8] in listing.stdout and "FINISHED" in listing.stdout and "metrics.accuracy" in listing.stdout


@contextlib.contextmanager
def running_kernel(cwd: Path, sockets: Path, **env):
    """A real python3 kernel on IPC sockets (no TCP port to collide on when tests run in parallel)."""
    km = KernelManager(kernel_name="python3", transport="ipc", ip=str(sockets / "k"))
    km.start_kernel(cwd=str(cwd), env=python_env(**env))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        yield kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


@pytest.fixture
def kernel(project, db_path, tmp_path_factory):
    with running_kernel(project, tmp_path_factory.mktemp("ipc"), MLOPS_TRACKING_URI=db_path) as kc:
        yield kc


def execute(kc, code: str) -> dict:
    outputs = []
    reply = kc.execute_interactive(code, timeout=60, output_hook=outputs.append)
    return {"status": reply["content"]["status"], "outputs": outputs, "reply": reply["content"]}


def test_rerunning_a_tracked_cell_three_times(kernel, db_path):
    """Acceptance 4: three runs, none left RUNNING; the cell magic and a start/end cell both."""
    cell = (NOTEBOOKS / "rerun.ipynb").read_text()
    sources = ["".join(c["source"]) for c in json.loads(cell)["cells"]]
    assert execute(kernel, sources[0])["status"] == "ok"
    for _ in range(3):
        assert execute(kernel, sources[1])["status"] == "ok"
    # A cell that starts a run and never ends it, re-run three times.
    for _ in range(3):
        assert execute(kernel, "%mlops start --name loose --experiment reruns\nmlops.log_metric('m', 1)")["status"] == "ok"
    con = sqlite3.connect(db_path)
    rows = con.execute("SELECT name, status FROM runs ORDER BY start_time").fetchall()
    assert [r[0] for r in rows] == ["cell-run"] * 3 + ["loose"] * 3
    assert [r[1] for r in rows] == ["FINISHED"] * 5 + ["RUNNING"]  # only the last one is still open
    reruns = con.execute("SELECT count(*) FROM tags WHERE key = 'rerun_of'").fetchone()[0]
    assert reruns == 4
    counts = con.execute(
        "SELECT (SELECT count(*) FROM metrics m WHERE m.run_uuid = r.uuid) FROM runs r ORDER BY r.start_time"
    ).fetchall()
    assert [c[0] for c in counts] == [3, 3, 3, 1, 1, 1]  # flushed after each cell, nothing doubled
    cell_sources = con.execute("SELECT count(*) FROM artifacts WHERE path = 'cell.py'").fetchone()[0]
    assert cell_sources == 3


def test_failing_cell_magic_marks_run_failed(kernel, db_path):
    execute(kernel, "import jupyter_mlops as mlops\n%load_ext jupyter_mlops")
    result = execute(kernel, "%%mlops run --name broken\nmlops.log_metric('m', 1)\n1 / 0")
    assert result["status"] == "error" and result["reply"]["ename"] == "ZeroDivisionError"
    con = sqlite3.connect(db_path)
    assert con.execute("SELECT status FROM runs").fetchone()[0] == "FAILED"
    tags = dict(con.execute("SELECT key, value FROM tags").fetchall())
    assert tags["mlops.error"] == "ZeroDivisionError: division by zero"
    assert "1 / 0" in tags["mlops.traceback"]


def test_bad_magic_input_is_a_usage_error_and_records_nothing(kernel, db_path):
    execute(kernel, "import jupyter_mlops as mlops\n%load_ext jupyter_mlops\n%mlops start --name x")
    for line, message in [
        ("%mlops param lr", "expected key=value, got 'lr'"),
        ("%mlops param model='rf", "unclosed ' quote"),
        ("%mlops param lr=0.1 x=[1,", "cannot read the value"),
        ("%mlops metric acc='high'", "metric 'acc'"),
        ("%mlops frobnicate", "invalid choice"),
    ]:
        result = execute(kernel, line)
        text = json.dumps(result["outputs"], default=str) + json.dumps(result["reply"], default=str)
        assert message in text, (line, text)
    execute(kernel, "%mlops end")
    con = sqlite3.connect(db_path)
    assert con.execute("SELECT count(*) FROM params").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM metrics").fetchone()[0] == 0
    assert con.execute("SELECT status FROM runs").fetchone()[0] == "FINISHED"


def test_notebook_path_under_jupyter_server(project, db_path, tmp_path_factory):
    """Jupyter Server tells the kernel its notebook by JPY_SESSION_NAME (ipykernel: ``__session__``)."""
    folder = project / "work"
    folder.mkdir()
    notebook = folder / "analysis.ipynb"
    notebook.write_text((NOTEBOOKS / "rerun.ipynb").read_text())
    with running_kernel(folder, tmp_path_factory.mktemp("ipc"), MLOPS_TRACKING_URI=db_path,
                        JPY_SESSION_NAME="work/analysis.ipynb") as kc:
        result = execute(kc, "import jupyter_mlops as mlops\nwith mlops.start_run('lab') as r: pass")
        assert result["status"] == "ok"
    con = sqlite3.connect(db_path)
    source, digest = con.execute("SELECT source_path, source_hash FROM runs").fetchone()
    assert source == str(notebook) and digest == artifacts.sha256_file(notebook)


def test_param_without_a_run_starts_one_visibly_and_each_log_confirms(kernel, db_path):
    execute(kernel, "import jupyter_mlops as mlops\n%load_ext jupyter_mlops")
    first = execute(kernel, "%mlops param optimizer=adam lr=0.1")
    text = "".join(o["content"].get("text", "") for o in first["outputs"] if o["msg_type"] == "stream")
    con = sqlite3.connect(db_path)
    (run_id, name) = con.execute("SELECT uuid, name FROM runs").fetchone()
    assert f"new run {run_id[:8]} ({name})" in text and "optimizer='adam'" in text and "%mlops end" in text
    assert dict(con.execute("SELECT key, value FROM params").fetchall()) == {"optimizer": "adam", "lr": "0.1"}
    metric = execute(kernel, "%mlops metric auc=0.91 --step 3")
    said = "".join(o["content"].get("text", "") for o in metric["outputs"] if o["msg_type"] == "stream")
    assert said.strip() == f"mlops: metric auc=0.91 at step 3 -> run {run_id[:8]}"
    quiet = execute(kernel, "%mlops tag stage=dev --quiet")
    assert not [o for o in quiet["outputs"] if o["msg_type"] == "stream"]
    assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 1  # no second run for the metric or tag


def test_a_bad_filter_in_a_magic_is_one_line_with_the_position(kernel, db_path):
    execute(kernel, "import jupyter_mlops as mlops\n%load_ext jupyter_mlops")
    result = execute(kernel, "%mlops runs --filter \"metrics.auc >> 0.9\"")
    assert result["status"] == "error" and result["reply"]["ename"] == "UsageError"
    message = result["reply"]["evalue"]
    assert "position" in message and "\n" not in message
    assert len(result["reply"]["traceback"]) <= 2  # IPython shows a UsageError without the library's frames
