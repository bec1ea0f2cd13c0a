"""Where the store is: found the way git finds ``.git``, from the shell's folder or the spec's."""
from __future__ import annotations

import subprocess
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from jupyter_mlops import config

from .conftest import PYTHON, python_env

CLI = [PYTHON, "-m", "jupyter_mlops"]


def _db(folder: Path) -> str:
    return config.normalize_uri(str(folder / ".mlops" / "mlops.db"))


@pytest.fixture
def home(project, monkeypatch):
    """A user's home inside the test folder, so "not above home" can be checked."""
    folder = project / "home"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    return folder


def test_a_new_store_goes_to_the_project_root_from_a_subfolder(home, monkeypatch):
    root = home / "proj"
    (root / "notebooks" / "deep").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    monkeypatch.chdir(root / "notebooks" / "deep")
    uri, source = config.tracking_uri_and_source()
    assert uri == _db(root)
    assert "project root" in source and "pyproject.toml" in source


def test_a_git_checkout_is_a_project_root_too(home, monkeypatch):
    root = home / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "src").mkdir()
    monkeypatch.chdir(root / "src")
    assert config.get_tracking_uri() == _db(root)


def test_the_nearest_existing_store_folder_wins_over_the_project_root(home, monkeypatch):
    root = home / "proj"
    (root / "analysis" / "week1").mkdir(parents=True)
    (root / "pyproject.toml").write_text("")
    (root / "analysis" / ".mlops").mkdir()
    monkeypatch.chdir(root / "analysis" / "week1")
    uri, source = config.tracking_uri_and_source()
    assert uri == _db(root / "analysis")
    assert "nearest existing .mlops/" in source


def test_pyproject_tracking_uri_wins_over_an_existing_store_folder(home, monkeypatch):
    root = home / "proj"
    (root / "nb").mkdir(parents=True)
    (root / ".mlops").mkdir()
    (root / "pyproject.toml").write_text('[tool.jupyter_mlops]\ntracking_uri = "stores/team.db"\n')
    monkeypatch.chdir(root / "nb")
    uri, source = config.tracking_uri_and_source()
    assert uri == config.normalize_uri(str(root / "stores" / "team.db"))
    assert "tracking_uri" in source


def test_environment_and_explicit_uri_come_first(home, monkeypatch):
    (home / ".mlops").mkdir()
    monkeypatch.chdir(home)
    monkeypatch.setenv(config.ENV_URI, str(home / "env.db"))
    assert config.get_tracking_uri() == config.normalize_uri(str(home / "env.db"))
    config.set_tracking_uri(home / "explicit.db")
    try:
        assert config.get_tracking_uri() == config.normalize_uri(str(home / "explicit.db"))
    finally:
        config.set_tracking_uri(None)


def test_a_store_folder_above_home_is_not_used(home, monkeypatch):
    (home.parent / ".mlops").mkdir(exist_ok=True)  # above home: somebody else's, or a planted one
    work = home / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    uri, source = config.tracking_uri_and_source()
    assert uri == _db(work)
    assert "current folder" in source


def _pipeline_project(root: Path) -> Path:
    (root / "pipe").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    notebook = new_notebook(cells=[new_code_cell("import jupyter_mlops as mlops\nmlops.log_metric('m', 1.0)")],
                            metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                     "language": "python"}})
    nbformat.write(notebook, root / "pipe" / "step.ipynb")
    (root / "pipe" / "pipeline.yaml").write_text("name: p\nsteps:\n  one: {notebook: step.ipynb}\n")
    return root / "pipe" / "pipeline.yaml"


def test_running_a_spec_from_a_parent_folder_uses_the_specs_project_store(home):
    spec = _pipeline_project(home / "proj")
    outside = home  # the shell is in the parent folder of the project
    env = python_env(HOME=str(home))
    first = subprocess.run([*CLI, "run", str(spec.relative_to(outside))], cwd=outside, env=env,
                           capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert (home / "proj" / ".mlops" / "mlops.db").is_file()
    assert not (outside / ".mlops").exists(), "a second, empty store was made in the shell's folder"
    # The second run, from yet another folder, finds the first run's cache in the same store.
    second = subprocess.run([*CLI, "run", str(spec)], cwd=home / "proj", env=env,
                            capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert "CACHED" in second.stdout


def test_doctor_says_which_rule_chose_the_store(home):
    root = home / "proj"
    (root / "sub").mkdir(parents=True)
    (root / ".git").mkdir()
    out = subprocess.run([*CLI, "doctor"], cwd=root / "sub", env=python_env(HOME=str(home)),
                         capture_output=True, text=True, timeout=120)
    line = next(line for line in out.stdout.splitlines() if "tracking store" in line)
    assert str(root / ".mlops" / "mlops.db") in line
    assert "project root" in line and ".git" in line
