"""What a run captures about where it ran: git state, papermill parameters, environment."""
from __future__ import annotations

import subprocess

import jupyter_mlops as mlops
from jupyter_mlops.tracking import capture
from jupyter_mlops.tracking.store import open_store
from jupyter_mlops.tracking import artifacts

from .conftest import PYTHON, python_env


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
