"""Shared fixtures: every test gets its own project folder and a fresh SQLite store in it."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# jp_fetch, jp_serverapp...: a real Jupyter Server per test, for the REST API tests.
pytest_plugins = ("pytest_jupyter.jupyter_server", "tests.helpers.failure_pictures")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"

# CI sets COLUMNS (80): the CLI would then fit its tables to that width. Tests of the terminal width
# set it themselves; every other test reads the whole table, as a pipe does.
os.environ.pop("COLUMNS", None)


@pytest.fixture
def jp_server_config():
    """The Jupyter Server of the ``test_server_*`` files: our extension on, every request authenticated.
    A file that needs more (its own identity provider) extends this fixture."""
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlops.server": True},
                          "allow_unauthenticated_access": False}}


def _is_server_test(request) -> bool:
    return request.module.__name__.rsplit(".", 1)[-1].startswith("test_server_")


# pytest-jupyter's autouse fixtures set and close an event loop and clean up a ServerApp around
# every test. Only its own server tests need that; elsewhere (Playwright's sync API runs a loop
# of its own) they are no-ops.
@pytest.fixture(autouse=True)
def jp_asyncio_loop(request):
    if not _is_server_test(request):
        yield None
        return
    # A loop of its own: the loop an earlier test left in jupyter_core's ensure_event_loop() (which
    # pytest-jupyter runs the test on) may be running already, e.g. in run_sync's helper thread.
    # The earlier one is put back after.
    import asyncio

    from jupyter_core import utils

    # No loop can really be running in this thread while a fixture runs: a running loop still
    # registered here was left by an earlier test whose loop did not unwind (tests of other parts
    # run kernels and widgets in-process), and would make run_until_complete refuse to start.
    stale = asyncio._get_running_loop()
    if stale is not None:
        asyncio._set_running_loop(None)
    policy = asyncio.get_event_loop_policy()
    try:
        previous = policy.get_event_loop()
    except RuntimeError:
        previous = None
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    token = utils._loop.set(loop)
    yield loop
    loop.close()
    utils._loop.reset(token)
    asyncio.set_event_loop(previous)


@pytest.fixture(autouse=True)
def jp_server_cleanup(request, jp_asyncio_loop):
    yield
    if not _is_server_test(request):
        return
    from jupyter_server.serverapp import ServerApp

    app = ServerApp.instance()
    try:
        jp_asyncio_loop.run_until_complete(app._cleanup())
    except (RuntimeError, SystemExit):
        pass
    if hasattr(app, "kernel_manager"):
        app.kernel_manager.context.destroy()
    ServerApp.clear_instance()


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A clean project folder as cwd, with the store at ``<project>/.mlops/mlops.db``."""
    from jupyter_mlops import config
    from jupyter_mlops.tracking import lifecycle, store

    lifecycle.shutdown()
    store.forget_open_stores()
    config._explicit_uri = None
    for var in ("MLOPS_TRACKING_URI", "MLOPS_ARTIFACT_URI", "MLOPS_EXPERIMENT", "MLOPS_PARENT_RUN_ID",
                "MLOPS_NOTEBOOK_PATH"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    # The project's store folder exists from the start, as in a project that has run once: every
    # process started in the project or below it (pipeline runners search from the spec's folder)
    # finds this store.
    (tmp_path / ".mlops").mkdir()
    yield tmp_path
    lifecycle.shutdown()
    store.forget_open_stores()
    config._explicit_uri = None


@pytest.fixture(scope="session")
def postgres():
    """One PostgreSQL server per test session (per xdist worker)."""
    import shutil
    import tempfile

    from .postgres import PostgresServer, wait_ready

    # Not under pytest's root-only temp folder: the server may run as the postgres user.
    folder = Path(tempfile.mkdtemp(prefix="mlops-pg-"))
    server = PostgresServer(folder).start()
    wait_ready(server)
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, project, monkeypatch):
    """Run a test against the default SQLite file and against a fresh PostgreSQL database."""
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres")
        monkeypatch.setenv("MLOPS_TRACKING_URI", server.new_database())
    return request.param


@pytest.fixture(scope="session")
def s3_server():
    """One local S3-compatible server (moto) per test session (per xdist worker)."""
    from .s3 import S3Server

    server = S3Server().start()
    yield server
    server.stop()


@pytest.fixture(params=["local", "file", "memory", "s3"])
def artifact_backend(request, project, monkeypatch):
    """Run a test with artifacts in a local folder, a file:// URL, fsspec's memory:// and a local S3 server."""
    kind = request.param
    if kind == "file":
        monkeypatch.setenv("MLOPS_ARTIFACT_URI", f"file://{project / 'shared-artifacts'}")
    elif kind == "memory":
        monkeypatch.setenv("MLOPS_ARTIFACT_URI", f"memory://mlops-{project.name}")
    elif kind == "s3":
        server = request.getfixturevalue("s3_server")
        for key, value in server.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("MLOPS_ARTIFACT_URI", server.new_bucket())
    return kind


@pytest.fixture
def db_path(project) -> Path:
    return project / ".mlops" / "mlops.db"


def python_env(**extra) -> dict:
    """Environment for child processes: this interpreter's packages, no inherited store settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update({k: str(v) for k, v in extra.items()})
    return env


PYTHON = sys.executable
