"""The remote store: ``MLOPS_TRACKING_URI=http://...`` + ``MLOPS_TOKEN`` against a real ``jupyter mlops server``.

A notebook executed by papermill logs to the server with no database credentials in its environment;
reads through the server equal reads of the store itself; the server killed and restarted mid-run loses
no point and writes none twice; a 200 MB artifact streams through in bounded memory with its sha256
checked at both ends; what the server refuses comes back as the error it means."""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import requests
from nbformat.v4 import new_code_cell, new_notebook

import jupyter_mlops as mlops
from jupyter_mlops.exceptions import InvalidInputError, RunNotFoundError, StoreError
from jupyter_mlops.tracking import lifecycle
from jupyter_mlops.tracking import store as stores
from jupyter_mlops.tracking.remote import RemoteStore, encode_batch
from jupyter_mlops.tracking.search import search_runs

from .helpers.tracking_server import TrackingServer, server_env
from .helpers.waiting import wait_until

HELPERS = Path(__file__).parent / "helpers"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def server(project, tmp_path):
    with TrackingServer(str(project / ".mlops" / "mlops.db"), tmp_path / "server.log") as srv:
        yield srv


@pytest.fixture
def local(server):
    """The server's own store, read directly (what the server wrote)."""
    return stores.open_store(server.store)


@pytest.fixture
def remote(server, monkeypatch):
    """This process logs to the server as the editor ``eve``."""
    monkeypatch.setenv("MLOPS_TRACKING_URI", server.url)
    monkeypatch.setenv("MLOPS_TOKEN", server.tokens["eve"])
    monkeypatch.setenv("XDG_CACHE_HOME", str(Path(server.store).parent.parent / "cache"))
    lifecycle.shutdown()
    stores.forget_open_stores()
    yield stores.open_store()
    lifecycle.shutdown()
    stores.forget_open_stores()


def vm_peak_kib(pid: int) -> int:
    """A process's peak resident memory (VmHWM), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmHWM for process {pid}")


NOTEBOOK_CELLS = [
    "steps = 2000",
    """import os, jupyter_mlops as mlops
from jupyter_mlops.tracking.store import open_store
from jupyter_mlops.tracking.remote import RemoteStore
assert isinstance(open_store(), RemoteStore), open_store()
# No database credentials or paths here: a URL of the server and a token, nothing else.
leaks = sorted(k for k, v in os.environ.items() if any(m in v for m in ('sqlite', 'postgres', 'mlops.db')))
assert not leaks, leaks
assert not {'PGPASSWORD', 'PGPASSFILE', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'} & set(os.environ)""",
    """with mlops.start_run("from-papermill", experiment="remote", params={"steps": steps}) as run:
    for step in range(steps):
        mlops.log_metric("loss", 1.0 / (step + 1), step=step)
    mlops.log_artifact("made in a notebook", "notes/readme.txt")
print(run.id)""",
]


def test_a_notebook_executed_by_papermill_logs_to_the_server_without_database_credentials(server, local, tmp_path):
    folder = tmp_path / "elsewhere"  # no .mlops, no pyproject: the environment alone names the store
    folder.mkdir()
    cells = [new_code_cell(c) for c in NOTEBOOK_CELLS]
    cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(new_notebook(cells=cells,
                                metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                         "language": "python"}}), folder / "train.ipynb")
    nbformat.validate(nbformat.read(folder / "train.ipynb", as_version=4))
    env = server_env(MLOPS_TRACKING_URI=server.url, MLOPS_TOKEN=server.tokens["eve"], XDG_CACHE_HOME=tmp_path / "c")
    done = subprocess.run([sys.executable, "-m", "papermill", "train.ipynb", "out.ipynb", "-p", "steps", "3000"],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    executed = nbformat.read(folder / "out.ipynb", as_version=4)
    run_id = "".join(o.get("text", "") for o in executed.cells[-1].outputs).strip()
    record = local.get_run(run_id)
    assert record.status == "FINISHED" and record.user == "eve" and record.params == {"steps": "3000"}
    assert [step for step, _, _ in local.metric_history(run_id, "loss")] == list(range(3000))
    notes = [a for a in record.artifacts if a["path"] == "notes/readme.txt"]
    assert notes and notes[0]["sha256"] == hashlib.sha256(b"made in a notebook").hexdigest()
    assert local.artifacts.local_path(notes[0]["sha256"]).read_bytes() == b"made in a notebook"
    assert not list(folder.glob(".mlops")) and not (folder / "mlops.db").exists()
    metrics = requests.get(f"{server.url}/metrics", headers=server.headers("vic"), timeout=30).text
    written = re.search(r'mlops_server_metric_points_total\{api="mlops"\} ([0-9.e+]+)', metrics)
    assert written and float(written.group(1)) >= 3000


def test_reads_through_the_server_equal_reads_of_its_store(server, remote, local):
    with mlops.start_run("a", experiment="remote", params={"C": 1.5, "model": "rf"}, tags={"stage": "dev"}) as a:
        for step in range(500):
            mlops.log_metric("loss", 1.0 / (step + 1), step=step)
        mlops.log_metric("nan", float("nan"))
        mlops.log_metric("inf", float("inf"))
        mlops.log_dataset(pd.DataFrame({"x": [1, 2, 3]}), "train")
    with mlops.start_run("b", experiment="remote", params={"C": 12}) as b:
        mlops.log_metric("loss", 0.5)
    assert isinstance(remote, RemoteStore) and local is not remote
    for query in ({}, {"filter": "params.C > 2"}, {"filter": "metrics.loss < 0.9", "order_by": ["metrics.loss DESC"]}):
        pd.testing.assert_frame_equal(mlops.search_runs(experiment="remote", **query),
                                      search_runs(local, "remote", **query))
    assert _same_run(mlops.get_run(a.id), local.get_run(a.id))
    assert mlops.get_run(a.id[:8]).uuid == a.id
    pd.testing.assert_frame_equal(mlops.get_metric_history(a.id, "loss"), _history(local, a.id, "loss"))
    assert remote.tags_of(b.id) == local.tags_of(b.id) and remote.latest_metric(b.id, "loss") == 0.5
    assert remote.experiments() == local.experiments()
    assert local.get_run(a.id).user == "eve" and local.get_run(a.id).datasets[0]["rows"] == 3
    with pytest.raises(RunNotFoundError):
        mlops.get_run("f" * 32)


def test_the_live_chart_follows_a_run_logged_to_the_server(server, remote, local):
    """``mlops.widgets.live()`` reads through the server what the writer flushed, paged by point id."""
    run = mlops.start_run("live", experiment="remote")
    chart = mlops.widgets.live(interval=0.05)
    for step in range(300):
        mlops.log_metric("loss", 1 / (step + 1), step=step)
    mlops.log_metric("nan", float("nan"))
    mlops.flush()
    wait_until(lambda: "301 points" in chart.label.value, "the live chart drawing 301 points through the server",
               details=lambda: f"label: {chart.label.value!r}")
    assert chart.series["loss"] == (list(range(300)), [1 / (s + 1) for s in range(300)])
    assert math.isnan(chart.series["nan"][1][0])
    status, first = remote.points_since(run.id, 0, limit=7)  # what the chart pages over equals the store
    assert (status, first) == ("RUNNING", local.points_since(run.id, 0, limit=7)[1])
    assert [p[3] for p in remote.points_since(run.id, first[-1][0])[1][:3]] == [1 / 8, 1 / 9, 1 / 10]
    mlops.end_run()
    chart._thread.join(timeout=60)
    assert not chart._thread.is_alive() and "FINISHED" in chart.label.value
    for bad in ("-1", "x", "1.5"):
        response = requests.get(f"{server.url}/mlops/api/tracking/runs/{run.id}/points", params={"after": bad},
                                headers={"Authorization": f"Bearer {server.tokens['eve']}"}, timeout=30)
        assert response.status_code == 400 and "after" in response.json()["message"]


def _same_run(one, two) -> bool:
    """Equal but for NaN metrics (NaN != NaN)."""
    def strip(record):
        return {**record.to_dict(), "metrics": {k: v for k, v in record.metrics.items() if not math.isnan(v)}}

    return strip(one) == strip(two) and set(one.metrics) == set(two.metrics)


def _history(store, run_id, key):
    df = pd.DataFrame(store.metric_history(run_id, key), columns=["step", "value", "timestamp"])
    df["timestamp"] = pd.to_datetime(df["timestamp"], unit="ms", utc=True)
    return df


def test_roles_and_refusals_reach_the_client_as_the_errors_they_mean(server, remote, monkeypatch):
    run = mlops.start_run("mine", experiment="remote")
    with pytest.raises(InvalidInputError, match="must be text"):
        remote.set_tags(run.id, {"k": 1})
    with pytest.raises(RunNotFoundError):
        remote.set_params("0" * 32, {"a": "1"})
    with pytest.raises(InvalidInputError, match="cannot be set here"):
        remote.update_run(run.id, user="mallory")
    mlops.end_run()
    headers = server.headers("eve")
    bad = requests.put(f"{server.url}/mlops/api/tracking/blobs/{'0' * 64}", data=b"not that", headers=headers,
                       timeout=30)
    assert bad.status_code == 400 and "not " + "0" * 64 in bad.json()["message"]
    assert requests.head(f"{server.url}/mlops/api/tracking/blobs/{'0' * 64}", headers=headers, timeout=30).status_code == 404
    missing_blob = requests.post(f"{server.url}/mlops/api/tracking/runs/{run.id}/artifacts", headers=headers, timeout=30,
                                 json={"path": "x", "sha256": "1" * 64, "size": 1, "media_type": "text/plain"})
    assert missing_blob.status_code == 409 and "upload it first" in missing_blob.json()["message"]
    good = encode_batch([(0, run.id, "loss", 0, 1.0, 1)])
    head, payload = good.split(b"\n", 1)

    def body(payload=payload, **change):
        return json.dumps({**json.loads(head), **change}).encode() + b"\n" + payload

    past_runs = (5).to_bytes(4, "little") + payload[4:]
    for data, needle in ((body(past_runs), "indexes past the batch's runs"), (body(payload[:-1]), "bytes of columns"),
                         (body(runs=["0" * 32]), "does not have"), (body(batch="x"), "32-hex-digit"),
                         (body(keys=[""]), "metric names"), (body(points=0), "1 to 200000 points"),
                         (b"not json\n" + payload, "starts with one JSON line")):
        answer = requests.post(f"{server.url}/mlops/api/tracking/metrics", data=data, headers=headers, timeout=30)
        assert answer.status_code in (400, 404) and needle in answer.json()["message"], needle
    assert requests.post(f"{server.url}/mlops/api/tracking/metrics", data=good, headers=headers,
                         timeout=30).json() == {"written": 1, "duplicate": False}
    assert requests.post(f"{server.url}/mlops/api/tracking/metrics", data=good, headers=headers,
                         timeout=30).json() == {"written": None, "duplicate": True}  # the same batch again

    monkeypatch.setenv("MLOPS_TOKEN", server.tokens["vic"])
    stores.forget_open_stores()
    lifecycle.shutdown()
    with pytest.raises(StoreError, match="may not log runs; that needs the editor role"):
        mlops.start_run("viewer-tries", experiment="remote")
    assert len(mlops.search_runs(experiment="remote")) == 1  # a viewer reads


def test_the_server_killed_and_restarted_mid_run_loses_no_point_and_writes_none_twice(server, local, tmp_path):
    ready, until = tmp_path / "ready", tmp_path / "stop"
    env = server_env(MLOPS_TRACKING_URI=server.url, MLOPS_TOKEN=server.tokens["eve"], MLOPS_FLUSH_INTERVAL="0.05",
                     XDG_CACHE_HOME=tmp_path / "c")
    writer = subprocess.Popen([sys.executable, str(HELPERS / "log_points.py"), "10000000", "--rate", "2000",
                               "--ready", str(ready), "--ready-after", "200", "--until", str(until)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        run_id = wait_until(lambda: ready.exists() and ready.read_text(), "the writer started logging")
        wait_until(lambda: len(local.metric_history(run_id, "value")) >= 200, "points reached the server")
        os.killpg(server.proc.pid, signal.SIGKILL)  # no goodbye: the connection just goes
        server.proc.wait()
        restarted = TrackingServer(server.store, tmp_path / "restarted.log", roles={}, port=server.port).start()
        try:
            wait_until(lambda: len(local.metric_history(run_id, "value")) > 2000, "points after the restart")
            until.write_text("stop")
            out, err = writer.communicate(timeout=300)
        finally:
            restarted.stop()
    finally:
        until.write_text("stop")
        if writer.poll() is None:
            writer.kill()
    assert writer.returncode == 0, err[-2000:]
    logged = int(out.split()[-1])
    steps = [step for step, _, _ in local.metric_history(run_id, "value")]
    assert steps == list(range(logged))  # every point, once, in order
    record = local.get_run(run_id)
    assert record.status == "FINISHED" and "mlops.lost_points" not in record.tags


def test_a_200_mb_artifact_streams_through_in_bounded_memory_checked_end_to_end(server, remote, local, tmp_path):
    big = tmp_path / "big.bin"
    block = os.urandom(1 << 20)
    digest = hashlib.sha256()
    with open(big, "wb") as fh:
        for i in range(200):
            chunk = block[i:] + block[:i]
            fh.write(chunk)
            digest.update(chunk)
    before = vm_peak_kib(server.proc.pid)
    with mlops.start_run("big", experiment="remote") as run:
        sha = mlops.log_artifact(big, "data/big.bin")
    grown_mib = (vm_peak_kib(server.proc.pid) - before) / 1024
    assert sha == digest.hexdigest()
    assert grown_mib < 64, f"the server's peak memory grew by {grown_mib:.0f} MiB for a 200 MiB upload"
    stored = local.artifacts.local_path(sha)
    assert stored.stat().st_size == 200 << 20
    assert {a["path"]: a["sha256"] for a in local.get_run(run.id).artifacts}["data/big.bin"] == sha
    downloaded = remote.artifacts.local_path(sha)  # through the server, verified again here
    assert downloaded != stored and hashlib.sha256(downloaded.read_bytes()).hexdigest() == sha


def test_while_the_server_is_away_the_buffer_stays_bounded_and_lost_points_are_recorded(server, local, remote,
                                                                                         monkeypatch, tmp_path):
    monkeypatch.setenv("MLOPS_MAX_BUFFERED", "1000")  # read when the writer starts: the run's first
    monkeypatch.setenv("MLOPS_REMOTE_RETRY_SECONDS", "0.5")
    stores.forget_open_stores()
    run = mlops.start_run("outage", experiment="remote")
    for step in range(100):
        mlops.log_metric("loss", float(step), step=step)
    mlops.flush()
    server.stop()
    for step in range(100, 5100):
        mlops.log_metric("loss", float(step), step=step)
    writer = lifecycle.writer_for(stores.open_store())
    wait_until(lambda: writer.last_error is not None, "the writer noticed the server is away")
    assert len(writer.buffer) <= 1000
    restarted = TrackingServer(server.store, tmp_path / "restarted.log", roles={}, port=server.port).start()
    try:
        mlops.end_run()
        lifecycle.flush()
    finally:
        restarted.stop()
    steps = [step for step, _, _ in local.metric_history(run.id, "loss")]
    record = local.get_run(run.id)
    lost = 5100 - len(steps)
    assert 4000 <= lost < 5000 and steps[:100] == list(range(100))
    assert steps[100:] == list(range(5100 - len(steps) + 100, 5100))  # the newest were kept
    assert record.tags["mlops.lost_points"] == str(lost) and "MLOPS_MAX_BUFFERED=1000" in record.tags["mlops.warning"]
    assert record.status == "FINISHED"


def probe_environment(folder: Path) -> None:
    """Each notebook of ``folder`` first checks its kernel's environment: the server's URL and a token,
    no database credentials or paths (the check fails the step, and the test, otherwise)."""
    for path in sorted(folder.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        notebook.cells.insert(0, new_code_cell(NOTEBOOK_CELLS[1]))
        nbformat.write(notebook, path)


@pytest.mark.parametrize("executor", [["-j", "2"], ["--executor", "dask", "-j", "2"]], ids=["two-jobs", "dask"])
def test_the_demo_pipeline_logs_every_step_to_the_server(server, local, tmp_path, executor):
    project = tmp_path / "client"  # no .mlops and no pyproject: only the environment names the store
    shutil.copytree(ROOT / "notebooks", project / "notebooks", ignore=shutil.ignore_patterns("build"))
    probe_environment(project / "notebooks")
    env = server_env(MLOPS_TRACKING_URI=server.url, MLOPS_TOKEN=server.tokens["eve"], XDG_CACHE_HOME=tmp_path / "c")
    done = subprocess.run([sys.executable, "-m", "jupyter_mlops.cli", "run", "notebooks/pipeline.yaml", *executor],
                          cwd=project, env=env, capture_output=True, text=True, timeout=1200, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "next: jupyter mlops approve" in done.stdout
    pipelines = search_runs(local, "demo", filter="tags.mlops.kind = 'pipeline'")
    assert list(pipelines["status"]) == ["FINISHED"] and list(pipelines["user"]) == ["eve"]
    steps = search_runs(local, "demo", filter=f"parent = '{pipelines['run_id'][0]}'")
    assert sorted(steps["name"]) == ["evaluate", "prepare", "train[0]", "train[1]", "train[2]", "train[3]"]
    assert set(steps["status"]) == {"FINISHED"} and set(steps["user"]) == {"eve"}
    trains = steps[steps["name"].str.startswith("train")]
    assert trains["metrics.cv_auc"].notna().all()  # logged from inside each step's kernel, through the server
    assert not list(project.rglob(".mlops")) and not list(project.rglob("*.db"))
