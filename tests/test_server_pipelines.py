"""Pipeline endpoints on a real Jupyter Server, over a pipeline the runner really executed."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_mlops.pipeline.runner import PipelineRunner
from jupyter_mlops.pipeline.spec import load_spec
from jupyter_mlops.server import rerun as rerun_module
from jupyter_mlops.tracking.store import open_store

from .helpers.waiting import await_until
from .test_pipeline_runner import write_notebook


@pytest.fixture
def failed_pipeline(project):
    """prepare -> train (raises in its 2nd cell) -> report (SKIPPED); side runs on its own."""
    write_notebook(project / "ok.ipynb", "value = 1", "import jupyter_mlops as mlops", "mlops.log_metric('value', value)")
    write_notebook(project / "raises.ipynb", "upstream = None", "x = 1", "raise ValueError('bad input')")
    (project / "pipeline.yaml").write_text("""
name: api-demo
steps:
  prepare: {notebook: ok.ipynb}
  train: {notebook: raises.ipynb, upstream: [prepare]}
  report: {notebook: ok.ipynb, upstream: [train]}
  side: {notebook: ok.ipynb, parameters: {value: 5}}
""")
    result = PipelineRunner(load_spec(project / "pipeline.yaml"), jobs=2).run()
    assert result.status == "FAILED"
    return result


async def get(jp_fetch, *path, **kwargs):
    try:
        response = await jp_fetch("mlops", "api", *path, **kwargs)
    except HTTPClientError as exc:
        response = exc.response
    return response.code, json.loads(response.body)


async def test_pipeline_runs_with_dag_statuses_and_the_failing_cell(failed_pipeline, jp_fetch):
    status, body = await get(jp_fetch, "pipelines")
    assert status == 200 and len(body["pipelines"]) == 1
    pipeline = body["pipelines"][0]
    assert pipeline["run_id"] == failed_pipeline.run_id and pipeline["status"] == "FAILED"
    assert pipeline["dag"] == {"prepare": [], "train": ["prepare"], "report": ["train"], "side": []}
    assert {s["node"]: s["status"] for s in pipeline["steps"]} == {
        "prepare": "FINISHED", "train": "FAILED", "report": "SKIPPED", "side": "FINISHED"}
    assert pipeline["spec"].endswith("pipeline.yaml")

    status, detail = await get(jp_fetch, "pipelines", failed_pipeline.run_id)
    assert status == 200
    train = next(s for s in detail["steps"] if s["node"] == "train")
    assert train["failed_cell"] == 3 and "ValueError: bad input" in train["error"]
    assert train["failed_cell_source"] == "raise ValueError('bad input')"
    assert "ValueError" in train["traceback"] and train["notebook"] == "executed/raises.ipynb"
    report = next(s for s in detail["steps"] if s["node"] == "report")
    assert "upstream train did not finish" in report["note"]

    # The executed notebook opens like any other run's notebook.
    status, snap = await get(jp_fetch, "runs", train["run_id"], "notebook")
    assert status == 200 and snap["path"] == "executed/raises.ipynb"


async def test_pipeline_errors(failed_pipeline, jp_fetch):
    step = failed_pipeline.states["prepare"].run_id
    status, body = await get(jp_fetch, "pipelines", step)
    assert status == 400 and "not a pipeline run" in body["message"]
    status, body = await get(jp_fetch, "pipelines", "abcdef0123456789")
    assert status == 404
    status, body = await get(jp_fetch, "pipelines", params={"limit": 0})
    assert status == 400 and "limit" in body["message"]
    status, body = await get(jp_fetch, "pipelines", step, "rerun", method="POST", body="{}")
    assert status == 400


async def test_rerun_starts_the_runner_without_blocking_the_server(failed_pipeline, jp_fetch, project):
    status, started = await get(jp_fetch, "pipelines", failed_pipeline.run_id, "rerun", method="POST", body="{}")
    assert status == 202 and started["pid"] > 0 and started["spec"] == str(project / "pipeline.yaml")
    # The server keeps answering while the child process runs the pipeline.
    status, _ = await get(jp_fetch, "experiments")
    assert status == 200
    store = open_store()

    async def rerun_ended():
        _, body = await get(jp_fetch, "pipelines")
        newer = [p for p in body["pipelines"] if p["run_id"] != failed_pipeline.run_id]
        return newer if newer and newer[0]["status"] != "RUNNING" else None

    newer = await await_until(rerun_ended, "the re-run pipeline ending",
                              details=lambda: "log: " + Path(started["log"]).read_text())

    async def reaped():  # the runner process exits soon after recording the end: the server reaps it
        loop = asyncio.get_running_loop()
        return not [task for task in rerun_module._children if task.get_loop() is loop]

    await await_until(reaped, "the server reaping the runner process")
    rerun = newer[0]
    assert rerun["status"] == "FAILED"  # same spec, same failing cell
    statuses = {s["node"]: s["status"] for s in rerun["steps"]}
    assert statuses["prepare"] == "CACHED" and statuses["train"] == "FAILED"
    assert store.get_run(rerun["run_id"]).source_path == str(project / "pipeline.yaml")

    (project / "pipeline.yaml").unlink()
    status, body = await get(jp_fetch, "pipelines", failed_pipeline.run_id, "rerun", method="POST", body="{}")
    assert status == 409 and "no longer exists" in body["message"]
