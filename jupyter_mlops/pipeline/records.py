"""What a pipeline run leaves in the store: the pipeline run, a child run per step, their outcomes.

The runner decides what runs when; this module only writes it down, so the record of a pipeline
(the DAG the views draw, each step's tags, the sweep table) has one author.

A CACHED step executes nothing, so it is not a new training run: it is recorded as a step record
of this pipeline (status CACHED, no params or metrics of its own) pointing at the run that
produced its results (``mlops.cached_from``). Run listings leave such records out (see
``tracking.search``); the pipeline views show them in their DAG.
"""
from __future__ import annotations

import json
import uuid
from pathlib import Path

from ..tracking import capture, datasets
from ..tracking.artifacts import media_type_of, sha256_file
from . import cache, openlineage

# How much of a failing step's traceback the run keeps (the end is where the error is).
TRACEBACK_CHARS = 20000


class PipelineRecords:
    def __init__(self, store, writer, spec, nodes: dict):
        self.store, self.writer, self.spec, self.nodes = store, writer, spec, nodes
        self.run_id: str | None = None
        # Listeners see each run as it starts and ends: OpenLineage when MLOPS_OPENLINEAGE_URL is set.
        self.lineage = openlineage.from_environment()
        self._files: tuple[set, set] = (set(), set())  # every step's inputs and outputs, for the pipeline's events
        self._jobs: dict[str, str] = {}  # run id -> its job's name, for a run stopped from outside

    def create_pipeline_run(self, executor_kind: str) -> str:
        spec = self.spec
        run_id = self.run_id = uuid.uuid4().hex
        git = capture.git_state(Path(spec.path).parent)
        self.store.create_run(run_id, self.store.experiment_id(spec.name), self.writer.heartbeat_interval,
                              name=spec.name, source_path=str(spec.path), source_hash=sha256_file(spec.path),
                              git_commit=git.get("commit"), git_dirty=git.get("dirty"), user=capture.current_user())
        self.writer.live_runs.add(run_id)
        dag = {name: list(node.upstream) for name, node in self.nodes.items()}
        self.store.set_tags(run_id, {"mlops.kind": "pipeline", "mlops.dag": json.dumps(dag),
                                     "mlops.executor": executor_kind,
                                     "mlops.overrides": json.dumps(list(spec.overrides))})
        if spec.parameters:
            self.store.set_params(run_id, {k: _text(v) for k, v in spec.parameters.items()})
        self.store_artifact(run_id, Path(spec.path).name, Path(spec.path).read_bytes())
        self._announce("START", run_id, spec.name, "PIPELINE")
        return run_id

    def create_step_run(self, node, state, input_files: list[str], with_params: bool = True) -> str:
        """A child run for ``node``, before its kernel starts (or at once for a node that will not run)."""
        run_id = uuid.uuid4().hex
        notebook = Path(node.step.notebook)
        self.store.create_run(run_id, self.store.experiment_id(self.spec.name), self.writer.heartbeat_interval,
                              name=node.name, parent_uuid=self.run_id, source_path=str(notebook),
                              source_hash=sha256_file(notebook), user=capture.current_user())
        tags = {"mlops.kind": "step", "mlops.step": node.step.name, "mlops.upstream": json.dumps(list(node.upstream)),
                "mlops.attempt": str(state.attempt)}
        if state.key:
            tags["mlops.step_key"] = state.key
        if node.point is not None:
            tags["mlops.sweep_point"] = json.dumps(node.point, sort_keys=True, default=str)
        inputs = state.inputs if state.inputs is not None else cache.file_digests(input_files)  # a SKIPPED node
        if inputs:
            tags["mlops.inputs"] = json.dumps(inputs, sort_keys=True)
        self.store.set_tags(run_id, tags)
        if with_params:
            self.store.set_params(run_id, {k: _text(v) for k, v in (node.injected or node.parameters).items()
                                           if k not in ("upstream", "outputs")})
        self._announce("START", run_id, f"{self.spec.name}.{node.name}", "TASK", inputs=self.input_files(node, state),
                       parent=True)
        return run_id

    def record_unexecuted(self, node, state, input_files: list[str]) -> str:
        """A node that will not execute (CACHED or SKIPPED) still gets a step record, so the DAG shows
        it; a CACHED one carries no params of its own, only the run it reused."""
        cached = state.status == "CACHED"
        run_id = self.create_step_run(node, state, input_files, with_params=not cached)
        tags = {"mlops.note": state.note}
        if cached:
            tags["mlops.cached_from"] = state.cached_from
        self.store.set_tags(run_id, tags)
        self.store.end_run(run_id, state.status)
        outputs = [str(p) for p in node.outputs.values()] if cached else []
        self._announce(openlineage.TERMINAL[state.status], run_id, f"{self.spec.name}.{node.name}", "TASK",
                       inputs=self.input_files(node, state), outputs=outputs, parent=True)
        return run_id

    def record_outcome(self, node, state, outcome) -> str:
        """End a step's run from papermill's outcome; returns its status (FINISHED or FAILED)."""
        self.writer.live_runs.discard(state.run_id)
        if outcome.executed_notebook:
            self.store_artifact(state.run_id, f"executed/{Path(node.step.notebook).name}", outcome.executed_notebook)
        if outcome.ok:
            missing = [str(p) for p in node.outputs.values() if not Path(p).is_file()]
            if missing:
                outcome.ok = False
                outcome.error = {"kind": "outputs", "message": f"finished without writing its outputs: {', '.join(missing)}"}
        tags = {}
        if outcome.ok:
            tags["mlops.outputs"] = json.dumps({k: {"path": str(p), "sha256": sha256_file(p)} for k, p in node.outputs.items()})
            tags["mlops.step_key"] = state.key
            if state.key_parts is not None:  # so a later run can say which input changed (dry run)
                tags["mlops.step_key_parts"] = json.dumps(state.key_parts, sort_keys=True, separators=(",", ":"))
            status = "FINISHED"
            datasets.record_step_files(self.store, state.run_id, self.input_files(node, state),
                                       [str(p) for p in node.outputs.values()], Path(self.spec.path).parent)
        else:
            tags["mlops.error"] = outcome.describe()
            if outcome.error.get("kind") == "cell":
                tags["mlops.failed_cell"] = str(outcome.error["cell"])
            if outcome.error.get("traceback"):
                tags["mlops.traceback"] = outcome.error["traceback"][-TRACEBACK_CHARS:]
            status = "FAILED"
        self.store.set_tags(state.run_id, tags)
        self.store.end_run(state.run_id, status)
        self._announce(openlineage.TERMINAL[status], state.run_id, f"{self.spec.name}.{node.name}", "TASK",
                       inputs=self.input_files(node, state),
                       outputs=[str(p) for p in node.outputs.values()] if status == "FINISHED" else [],
                       parent=True, error=tags.get("mlops.error"))
        return status

    def input_files(self, node, state) -> list[str]:
        """The files a step read: its declared and parameter-named inputs, and its upstream steps' outputs."""
        files = list(state.inputs or {})
        for up in node.upstream:
            upstream = self.nodes.get(up)
            files += [str(p) for p in (upstream.outputs.values() if upstream is not None else ())]
        return sorted(set(files))

    def record_stopped(self, run_id: str, status: str, why: str) -> None:
        """A step killed while it ran (the runner stopped, or ``--fail-fast``)."""
        self.writer.live_runs.discard(run_id)
        self.store.set_tags(run_id, {"mlops.error": why})
        self.store.end_run(run_id, status)
        self._announce(openlineage.TERMINAL.get(status, "ABORT"), run_id, self._jobs.get(run_id, self.spec.name),
                       "TASK", parent=True, error=why)

    def end_pipeline_run(self, status: str) -> None:
        self.writer.flush()
        self.store.end_run(self.run_id, status)
        self.writer.live_runs.discard(self.run_id)
        inputs, outputs = self._files
        self._announce(openlineage.TERMINAL.get(status, "FAIL"), self.run_id, self.spec.name, "PIPELINE",
                       inputs=sorted(inputs - outputs), outputs=sorted(outputs))

    def _announce(self, event_type: str, run_id: str, job: str, job_type: str, inputs=(), outputs=(),
                  parent: bool = False, error: str | None = None) -> None:
        """Tell the lineage listener (if any) that a run started or ended."""
        self._files[0].update(inputs)
        self._files[1].update(outputs)
        self._jobs[run_id] = job
        if self.lineage is not None:
            self.lineage.emit(self.lineage.event(event_type, run_id, job, job_type, inputs, outputs,
                                                 parent=(self.run_id, self.spec.name) if parent else None, error=error))

    def store_artifact(self, run_id: str, name: str, data: bytes) -> None:
        sha, size = self.store.artifacts.put_bytes(data)
        self.store.add_artifact(run_id, name, sha, size, media_type_of(name))

    def sweep_table(self, states: dict) -> list[dict]:
        """Sweep points sorted by the sweep metric (best first); the best run is tagged ``best``."""
        sweep = self.spec.sweep
        if not sweep:
            return []
        rows = []
        for name, node in self.nodes.items():
            if node.point is None:
                continue
            st = states[name]
            done = st.status in ("FINISHED", "CACHED")
            value = self.store.latest_metric(st.result_run, sweep.metric) if done else None
            rows.append({"node": name, "run_id": st.result_run, "status": st.status, **node.point,
                         sweep.metric: value})
        scored = [r for r in rows if r[sweep.metric] is not None]
        scored.sort(key=lambda r: r[sweep.metric], reverse=sweep.goal == "maximize")
        if scored:
            self.store.set_tags(scored[0]["run_id"], {"best": "true"})
        return scored + [r for r in rows if r[sweep.metric] is None]


def _text(value) -> str:
    from ..tracking.run import param_text

    return param_text("", value)
