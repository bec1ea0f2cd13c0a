"""What a run captures about where it ran: git state, papermill parameters, environment."""
from __future__ import annotations

import contextlib
import sqlite3
import subprocess
from pathlib import Path

from jupyter_client.manager import KernelManager

import jupyter_mlops as mlops
from jupyter_mlops.cli import main
from jupyter_mlops.tracking import artifacts, capture
from jupyter_mlops.tracking.store import open_store

from .conftest import PYTHON, python_env

BIN = Path(PYTHON).parent


def git(*args, cwd):
    subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=cwd, check=True,
                   capture_output=True)


def test_script_in_a_dirty_repository_records_commit_and_diff(project):
    git("init", "-q", cwd=project)
    script = project / "train.py"
    script.write_text("import jupyter_mlops as mlops\nwith mlops.start_run('s') as r:\n    print(r.id)\n")
    git("add", "train.py", cwd=project)
    git("commit", "-qm", "first", cwd=project)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True).stdout.strip()
    script.write_text(script.read_text() + "# tuned\n")
    out = subprocess.run([PYTHON, str(script)], cwd=project, env=python_env(), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    record = mlops.get_run(out.stdout.strip())
    assert record.git_commit == head and record.git_dirty is True
    arts = {a["path"]: a for a in record.artifacts}
    diff = artifacts.read_bytes(open_store().artifact_root, arts["git/diff.patch"]["sha256"]).decode()
    assert "+# tuned" in diff
    snapshot = artifacts.read_bytes(open_store().artifact_root, arts["source/train.py"]["sha256"]).decode()
    assert snapshot.endswith("# tuned\n")
    # The store folder inside the repository does not count as a change.
    git("stash", cwd=project)
    assert capture.git_state(project)["dirty"] is False


def test_outside_a_repository_git_is_empty(project):
    assert capture.git_state(project) == {}


def test_papermill_parameter_cell_is_read_as_literals():
    source = "# Parameters\nalpha = 0.7\nname = \"x\"\nlayers = [1, 2]\nfn = print\n"
    assert capture._literal_assignments(source) == {"alpha": 0.7, "name": "x", "layers": [1, 2]}


def test_environment_is_stored_once(project):
    with mlops.start_run():
        pass
    with mlops.start_run():
        pass
    envs = mlops.search_runs()
    assert len(envs) == 2
    store = open_store()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM environments").scalar() == 1
    env = store.environment(capture.environment()["hash"])
    assert env["packages"]["SQLAlchemy"] and env["python_version"].startswith("3.")


# -- the notebook's path, however the kernel was started ------------------------------------------
def notebook(path, *sources: str) -> None:
    """A small notebook of code cells (nbformat 4)."""
    import nbformat

    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources]), path)


def tracking_notebook(path, name: str) -> None:
    notebook(path, "import jupyter_mlops as mlops", "",
             f"with mlops.start_run({name!r}) as run:\n    mlops.log_metric('m', 1.0)")


def runs_by_name(db_path) -> dict:
    con = sqlite3.connect(db_path)
    con.row_factory = sqlite3.Row
    runs = {row["name"]: dict(row) for row in con.execute("SELECT * FROM runs")}
    for run in runs.values():
        run["tags"] = dict(con.execute("SELECT key, value FROM tags WHERE run_uuid = ?", (run["uuid"],)).fetchall())
        run["artifacts"] = [r[0] for r in con.execute("SELECT path FROM artifacts WHERE run_uuid = ?", (run["uuid"],))]
    return runs


def test_nbconvert_and_jupyter_execute_record_each_notebooks_path(project, db_path):
    """`jupyter nbconvert --execute` of two notebooks in one folder (each in a kernel of its own, which
    learns its notebook from the command that started it), then `jupyter execute` of a third."""
    folder = project / "notebooks"
    for name in ("first", "second", "third"):
        tracking_notebook(folder / f"{name}.ipynb", name)
    command = [str(BIN / "jupyter"), "nbconvert", "--to", "notebook", "--execute", "notebooks/first.ipynb",
               "notebooks/second.ipynb", "--output-dir", str(project / "executed")]
    for argv in (command, [str(BIN / "jupyter"), "execute", "notebooks/third.ipynb"]):
        out = subprocess.run(argv, cwd=project, env=python_env(), capture_output=True, text=True, timeout=300,
                             check=False)
        assert out.returncode == 0, out.stderr[-3000:]
    runs = runs_by_name(db_path)
    for name in ("first", "second", "third"):
        path = folder / f"{name}.ipynb"
        assert runs[name]["source_path"] == str(path), runs[name]
        assert runs[name]["source_hash"] == artifacts.sha256_file(path)
        assert f"notebook/{name}.ipynb" in runs[name]["artifacts"]  # the snapshot taken at the run's end
        assert capture.SOURCE_UNKNOWN_TAG not in runs[name]["tags"]


@contextlib.contextmanager
def kernel_in(folder, sockets, session: str | None = None, **env):
    """A real python3 kernel; ``session`` is written into its connection file as Jupyter Server does."""
    km = KernelManager(kernel_name="python3", transport="ipc", ip=str(sockets / "k"))
    if session is not None:
        km.write_connection_file(jupyter_session=session)
    km.start_kernel(cwd=str(folder), env=python_env(**env))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        yield kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def run_cell(kc, code: str) -> None:
    reply = kc.execute_interactive(code, timeout=60)
    assert reply["content"]["status"] == "ok", reply["content"]


def test_vs_code_the_connection_file_and_a_kernel_that_cannot_tell(project, db_path, tmp_path_factory, capsys):
    folder = project / "work"
    for name in ("vscode", "gateway"):
        notebook(folder / f"{name}.ipynb", "print('hello')")
    sockets = tmp_path_factory.mktemp("ipc")
    start = "import jupyter_mlops as mlops\nwith mlops.start_run({!r}): pass"

    with kernel_in(folder, sockets) as kc:  # VS Code sets this variable in the kernel
        run_cell(kc, f"__vsc_ipynb_file__ = {str(folder / 'vscode.ipynb')!r}\n" + start.format("vscode"))
    with kernel_in(folder, sockets, session="work/gateway.ipynb") as kc:  # no JPY_SESSION_NAME in its environment
        run_cell(kc, "import os\nassert 'JPY_SESSION_NAME' not in os.environ\n" + start.format("gateway"))
    with kernel_in(folder, sockets) as kc:  # nothing tells it
        run_cell(kc, start.format("plain"))

    runs = runs_by_name(db_path)
    assert runs["vscode"]["source_path"] == str(folder / "vscode.ipynb")
    assert runs["gateway"]["source_path"] == str(folder / "gateway.ipynb")
    assert runs["plain"]["source_path"] is None
    note = runs["plain"]["tags"][capture.SOURCE_UNKNOWN_TAG]
    assert "set MLOPS_NOTEBOOK_PATH=/path/to/notebook.ipynb" in note
    assert all(capture.SOURCE_UNKNOWN_TAG not in runs[n]["tags"] for n in ("vscode", "gateway"))

    assert main(["doctor"]) == 1  # the newest run could not tell its notebook
    line, = [x for x in capsys.readouterr().out.splitlines() if "notebook path" in x]
    assert line.startswith("PROBLEM") and "__vsc_ipynb_file__" in line and "JPY_SESSION_NAME" in line
    assert f"1 of the last 3 runs (newest: {runs['plain']['uuid'][:8]} 'plain')" in line
    assert "set MLOPS_NOTEBOOK_PATH=/path/to/notebook.ipynb" in line

    with kernel_in(folder, sockets, MLOPS_NOTEBOOK_PATH=folder / "vscode.ipynb") as kc:  # what doctor says to set
        run_cell(kc, start.format("fixed"))
    assert runs_by_name(db_path)["fixed"]["source_path"] == str(folder / "vscode.ipynb")
    assert main(["doctor"]) == 0
    line, = [x for x in capsys.readouterr().out.splitlines() if "notebook path" in x]
    assert line.startswith("ok") and "1 of the last 4 runs" in line


def test_runs_and_approvals_record_mlops_user_then_the_projects_user_then_the_os_user(project, monkeypatch):
    """A local process records who it runs as: ``MLOPS_USER``, else ``user`` in [tool.jupyter_mlops]
    (a CI job's service account), else the OS user; ``by=`` still wins for an approval."""
    import getpass

    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from jupyter_mlops.registry import approval
    from jupyter_mlops.registry.audit import audit_log

    X, y = load_iris(return_X_y=True, as_frame=True)

    def trained_run() -> str:
        with mlops.start_run("who") as run:
            mlops.log_model(LogisticRegression(max_iter=300).fit(X, y), training_data=X)
        return run.id

    def approved_by(run_id: str, by=None) -> str:
        approval.approve(run_id, by=by)
        return audit_log(run_id, action="approve")[0]["actor"]

    monkeypatch.delenv("MLOPS_USER", raising=False)
    first = trained_run()
    assert mlops.get_run(first).user == getpass.getuser() == approved_by(first)
    (project / "pyproject.toml").write_text('[tool.jupyter_mlops]\nuser = "ci-bot"\n')
    second = trained_run()
    assert mlops.get_run(second).user == "ci-bot" == approved_by(second)
    monkeypatch.setenv("MLOPS_USER", "ana")
    third = trained_run()
    assert mlops.get_run(third).user == "ana" == approved_by(third)
    fourth = trained_run()
    assert approved_by(fourth, by="reviewer-bo") == "reviewer-bo"
