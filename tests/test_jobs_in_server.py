"""The opt-in scheduler inside Jupyter Server (issue 17): a real ``jupyter server`` started with
``--JupyterMlops.scheduler=True`` runs a scheduled notebook, and hands a running job back when it stops."""
from __future__ import annotations

import json

from jupyter_mlops.cli import main
from jupyter_mlops.jobs import schedules
from jupyter_mlops.jobs.scheduler import job_log, job_log_folder
from jupyter_mlops.tracking.store import open_store

from .conftest import PYTHON, python_env
from .helpers.jobs import wait_until
from .helpers.net import ServerProcess


def write_notebook(path, *sources: str) -> None:
    cells = [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "outputs": [], "source": src,
              "metadata": {"tags": ["parameters"]} if i == 0 else {}} for i, src in enumerate(sources)]
    path.write_text(json.dumps({"cells": cells, "metadata": {"kernelspec": {"name": "python3", "language": "python",
                                                                            "display_name": "Python 3"}},
                                "nbformat": 4, "nbformat_minor": 5}))


def jupyter_server(project, *flags: str) -> ServerProcess:
    return ServerProcess([PYTHON, "-m", "jupyter_server", "--port", "{port}", "--no-browser", "--allow-root",
                          "--ServerApp.token=t0ken", *flags], "/api", project / "server.log", cwd=project,
                         env=python_env())


def occurrence(name: str, occurrence_id: int) -> dict | None:
    return next((r for r in schedules.history(name, limit=50) if r["id"] == occurrence_id), None)


def what_happened(row: dict, server: ServerProcess) -> str:
    """A failed occurrence's error, its job's log and the server's log, for the report."""
    log = job_log(job_log_folder(open_store().uri), row["id"], row["attempt"])
    text = log.read_text(errors="replace") if log.exists() else f"(no {log})"
    return (f"{row['state']}: {row['error']}\nnote: {row['note']}\n--- job log ---\n{text[-6000:]}"
            f"\n--- server log ---\n{server.read_log()[-4000:]}")


def test_a_server_started_with_the_setting_runs_scheduled_notebooks(project, capsys):
    write_notebook(project / "nightly.ipynb", "size = 1",
                   "import jupyter_mlops as mlops\nmlops.log_metric('rows', size)")
    assert main(["schedule", "add", "nightly.ipynb", "--cron", "0 3 * * *", "-p", "size=7"]) == 0
    assert main(["schedule", "run-now", "nightly"]) == 0
    capsys.readouterr()
    first = schedules.history("nightly")[0]["id"]
    with jupyter_server(project, "--JupyterMlops.scheduler=True", "--JupyterMlops.scheduler_jobs=1") as server:
        row = wait_until(lambda: (r := occurrence("nightly", first)) and r["state"] in ("FINISHED", "FAILED") and r,
                         "the server's scheduler ran the notebook", timeout=300)
        assert row["state"] == "FINISHED", what_happened(row, server)
        assert "jupyter_mlops: scheduler" in server.read_log() and "up to 1 jobs at once" in server.read_log()


def test_without_the_setting_the_server_runs_no_scheduler_and_a_bad_one_is_said(project):
    with jupyter_server(project) as server:
        assert "jupyter_mlops: REST API" in server.read_log()
        assert "jupyter_mlops: scheduler" not in server.read_log()
    with jupyter_server(project, "--JupyterMlops.scheduler=True", "--JupyterMlops.scheduler_jobs=none") as server:
        wait_until(lambda: "no scheduler in this server" in server.read_log(), "the settings' mistake in the log")
        assert "JupyterMlops.scheduler_jobs must be a whole number, got 'none'" in server.read_log()
