"""Issue 18, OpenLineage: a pipeline run emits START and COMPLETE / FAIL / ABORT run events for
itself and each step, with input and output files, job and run facets; every event validates
against the OpenLineage JSON schema (vendored in tests/openlineage_spec/), written to a file or
POSTed to a local HTTP receiver."""
from __future__ import annotations

import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import jsonschema
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from referencing import Registry, Resource

from jupyter_mlops.pipeline.runner import PipelineRunner
from jupyter_mlops.pipeline.spec import load_spec

from .conftest import PYTHON, python_env

SPEC_FOLDER = Path(__file__).parent / "openlineage_spec"
RUN_EVENT = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


def registry() -> Registry:
    resources = []
    for path in SPEC_FOLDER.glob("*.json"):
        document = json.loads(path.read_text())
        resources.append((document["$id"], Resource.from_contents(document)))
    return Registry().with_resources(resources)


def validate(event: dict) -> None:
    """The event against RunEvent, and each facet against the facet schema its _schemaURL names."""
    reg = registry()
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    jsonschema.Draft202012Validator({"$ref": RUN_EVENT}, registry=reg, format_checker=checker).validate(event)
    facets = [*event["run"].get("facets", {}).values(), *event["job"].get("facets", {}).values()]
    for ds in event.get("inputs", []) + event.get("outputs", []):
        facets += list(ds.get("facets", {}).values())
    for facet in facets:
        jsonschema.Draft202012Validator({"$ref": facet["_schemaURL"]}, registry=reg, format_checker=checker).validate(facet)


def notebook(path: Path, parameters: str, *cells: str) -> None:
    nb = new_notebook(cells=[new_code_cell(parameters, metadata={"tags": ["parameters"]})] + [new_code_cell(c) for c in cells],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, path)


@pytest.fixture
def small_pipeline(project):
    (project / "raw").mkdir()
    (project / "raw" / "data.csv").write_text("a,b\n1,2\n3,4\n")
    notebook(project / "prepare.ipynb", "outputs = {}",
             "import csv, pathlib\nrows = list(csv.DictReader(open('raw/data.csv')))\n"
             "pathlib.Path(outputs['clean']).parent.mkdir(parents=True, exist_ok=True)\n"
             "open(outputs['clean'], 'w').write('a,b,c\\n' + ''.join(f\"{r['a']},{r['b']},1\\n\" for r in rows))")
    notebook(project / "train.ipynb", "upstream = {}\noutputs = {}",
             "open(outputs['model'], 'w').write(open(upstream['prepare']['clean']).read())")
    notebook(project / "broken.ipynb", "upstream = {}", "raise ValueError('no good')")
    (project / "pipeline.yaml").write_text("""
name: lineage-demo
workdir: build
steps:
  prepare: {notebook: prepare.ipynb, inputs: [raw/data.csv], outputs: {clean: data/clean.csv}}
  train: {notebook: train.ipynb, upstream: [prepare], outputs: {model: model.txt}}
  judge: {notebook: broken.ipynb, upstream: [train]}
  after: {notebook: broken.ipynb, upstream: [judge]}
""")
    return project / "pipeline.yaml"


def test_events_validate_and_describe_the_run(small_pipeline, project, monkeypatch):
    events_file = project / "lineage" / "events.jsonl"
    monkeypatch.setenv("MLOPS_OPENLINEAGE_URL", f"file://{events_file}")
    result = PipelineRunner(load_spec(small_pipeline), jobs=1).run()
    assert result.status == "FAILED"
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    for event in events:
        validate(event)
    by_job = {}
    for event in events:
        by_job.setdefault(event["job"]["name"], []).append(event)
    assert [e["eventType"] for e in by_job["lineage-demo"]] == ["START", "FAIL"]
    assert [e["eventType"] for e in by_job["lineage-demo.prepare"]] == ["START", "COMPLETE"]
    assert [e["eventType"] for e in by_job["lineage-demo.judge"]] == ["START", "FAIL"]
    assert [e["eventType"] for e in by_job["lineage-demo.after"]] == ["START", "ABORT"]  # skipped
    pipeline_run = by_job["lineage-demo"][0]["run"]["runId"]
    prepare_done = by_job["lineage-demo.prepare"][1]
    assert prepare_done["run"]["facets"]["parent"]["run"]["runId"] == pipeline_run
    assert prepare_done["run"]["runId"].replace("-", "") == result.states["prepare"].run_id
    raw, clean = (project / "raw" / "data.csv").resolve(), (project / "build" / "data" / "clean.csv").resolve()
    assert [d["name"] for d in prepare_done["inputs"]] == [raw.as_posix()]
    assert [d["name"] for d in prepare_done["outputs"]] == [clean.as_posix()]
    assert prepare_done["outputs"][0]["facets"]["schema"]["fields"] == [
        {"name": "a", "type": "int64"}, {"name": "b", "type": "int64"}, {"name": "c", "type": "int64"}]
    train_start = by_job["lineage-demo.train"][0]
    assert [d["name"] for d in train_start["inputs"]] == [clean.as_posix()]
    assert "no good" in by_job["lineage-demo.judge"][1]["run"]["facets"]["errorMessage"]["message"]
    assert prepare_done["job"]["facets"]["jobType"]["jobType"] == "TASK"
    last = by_job["lineage-demo"][1]
    assert [d["name"] for d in last["inputs"]] == [raw.as_posix()]
    assert clean.as_posix() in [d["name"] for d in last["outputs"]]


class Receiver(BaseHTTPRequestHandler):
    events: ClassVar[list] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).events.append((self.path, self.headers["Content-Type"], json.loads(body)))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_local_http_receiver_gets_the_events(small_pipeline, project):
    Receiver.events = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/api/v1/lineage"
        done = subprocess.run([PYTHON, "-m", "jupyter_mlops", "run", str(small_pipeline)], cwd=project,
                              env=python_env(MLOPS_OPENLINEAGE_URL=url, MLOPS_OPENLINEAGE_NAMESPACE="team-a"),
                              capture_output=True, text=True, timeout=300, check=False)
    finally:
        server.shutdown()
    assert done.returncode == 1, done.stderr[-2000:]  # judge fails on purpose
    assert len(Receiver.events) == 10  # START and an end for the pipeline and each of its 4 steps
    for path, content_type, event in Receiver.events:
        assert path == "/api/v1/lineage" and content_type == "application/json"
        assert event["job"]["namespace"] == "team-a"
        validate(event)
    assert {e["eventType"] for _, _, e in Receiver.events} == {"START", "COMPLETE", "FAIL", "ABORT"}


def test_a_receiver_that_is_down_does_not_fail_the_pipeline(project, monkeypatch, caplog):
    from jupyter_mlops.pipeline import openlineage

    from .helpers.net import free_port

    emitter = openlineage.Emitter(f"http://127.0.0.1:{free_port()}/api/v1/lineage", "x")
    event = emitter.event("START", "0" * 32, "job", "TASK")
    validate(event)
    emitter.emit(event)
    emitter.emit(event)
    warnings = [r for r in caplog.records if "not getting through" in r.getMessage()]
    assert len(warnings) == 1
