"""Run a pipeline spec: schedule its steps as a DAG, reuse cached results, execute the rest.

The pipeline is one run; every step (and every sweep point) is a child run of it, created here
before its kernel starts and ended here from papermill's outcome. The notebook attaches to its
step run through ``MLOPS_RUN_ID``, so its ``log_*`` calls land there. Kernels, papermill and
Dask are only touched when a step must actually execute: re-running an unchanged pipeline
checks its cache keys and exits without starting a kernel.

It runs past 400 lines on purpose: the scheduling loop and its failure paths (retries, kills,
timeouts, interrupts) share the loop's state; recording is in records.py, the plan in plan.py.
"""
from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import config
from ..tracking.lifecycle import writer_for
from ..tracking.store import open_store
from . import cache
from .execution import StepOutcome, StepTask
from .records import PipelineRecords

DONE_OK = ("FINISHED", "CACHED")


def retry_backoff_s() -> float:
    """The first retry's delay (doubling after each failure, at most 10 s); read when a step
    fails, so ``MLOPS_RETRY_BACKOFF`` set after import still applies."""
    return float(os.environ.get("MLOPS_RETRY_BACKOFF", "0.5"))


@dataclass
class Node:
    """One executable unit: a step, or one point of a sweep over a step."""

    name: str
    step: object  # spec.Step
    parameters: dict
    outputs: dict[str, Path]
    upstream: tuple[str, ...]
    point: dict | None = None
    injected: dict | None = None  # what papermill injects, known once the upstream steps are done


@dataclass
class NodeState:
    status: str = "PENDING"
    run_id: str | None = None
    key: str | None = None
    key_parts: dict | None = None  # the key's material in short digests (cache.key_parts), kept on the run
    inputs: dict | None = None  # the input files' digests the key was made of
    attempt: int = 0
    retry_at: float = 0.0
    seconds: float = 0.0
    outcome: StepOutcome | None = None
    cached_from: str | None = None  # the earlier run whose results a CACHED node reuses
    note: str = ""  # why it was skipped, cached from, ...

    @property
    def result_run(self) -> str | None:
        """The run holding the node's results: the one a CACHED node reused, else its own."""
        return self.cached_from or self.run_id


@dataclass
class PipelineResult:
    run_id: str
    status: str
    states: dict[str, NodeState]
    executed_dir: Path
    sweep: list[dict] = field(default_factory=list)
    store_uri: str | None = None  # the store the run is in (found from the spec's folder)

    @property
    def ok(self) -> bool:
        return self.status == "FINISHED"

    def failures(self) -> list[str]:
        """A report per failed step: step, cell, exception, traceback and the executed notebook's path."""
        reports = []
        for name, st in self.states.items():
            if st.status != "FAILED" or st.outcome is None:
                continue
            e = st.outcome.error
            lines = [f"step {name!r} failed: {st.outcome.describe()}"]
            if e.get("traceback"):
                lines.append(e["traceback"].rstrip())
            lines.append(f"executed notebook: {self.executed_dir / (name + '.ipynb')}")
            reports.append("\n".join(lines))
        return reports


class Stopped(Exception):
    """SIGTERM or Ctrl-C reached the runner; ``signum`` says which (the CLI exits 128 + it)."""

    signum = signal.SIGTERM


class PipelineRunner:
    def __init__(self, spec, jobs: int | None = None, executor: str = "local", scheduler: str | None = None,
                 force=None, from_step: str | None = None, fail_fast: bool = False, progress=None):
        self.spec = spec
        self.jobs = jobs or os.cpu_count() or 1
        self.executor_kind = executor
        self.scheduler = scheduler
        self.fail_fast = fail_fast
        self.progress = progress
        # The spec's project, not the shell's folder, decides the store (see config).
        self.store = open_store(config.tracking_uri_and_source(start=Path(spec.path).parent)[0])
        self.writer = writer_for(self.store)
        self.nodes = self._expand()
        self.records = PipelineRecords(self.store, self.writer, spec, self.nodes)
        self.forced = self._forced(force, from_step)
        self.states = {name: NodeState() for name in self.nodes}
        self._executor = None
        self._imports: tuple[str, ...] | None = None
        self._running: dict = {}  # future -> node name

    # -- plan ------------------------------------------------------------------------------
    def _expand(self) -> dict[str, Node]:
        """Steps in topological order; a swept step becomes one node per sweep point."""
        spec, sweep = self.spec, self.spec.sweep
        points = sweep.points() if sweep else []
        nodes: dict[str, Node] = {}
        fan_out: dict[str, list[str]] = {}
        for name in spec.order():
            step = spec.steps[name]
            params = spec.step_parameters(name)
            upstream = tuple(n for up in step.upstream for n in fan_out.get(up, [up]))
            if sweep and name == sweep.step:
                fan_out[name] = []
                for i, point in enumerate(points):
                    node = f"{name}[{i}]"
                    folder = Path(spec.workdir) / "sweeps" / name / str(i)
                    outputs = {k: folder / Path(p).relative_to(spec.workdir) if _inside(p, spec.workdir) else folder / Path(p).name
                               for k, p in step.outputs.items()}
                    nodes[node] = Node(node, step, {**params, **point}, outputs, upstream, point)
                    fan_out[name].append(node)
            else:
                nodes[name] = Node(name, step, params, dict(step.outputs), upstream)
        return nodes

    def _forced(self, force, from_step) -> set[str]:
        if force is True:
            return set(self.nodes)
        steps = set(force or ())
        if from_step:
            steps.add(from_step)
        for name in list(steps):
            if name not in self.spec.steps:
                from ..exceptions import InvalidInputError

                raise InvalidInputError(f"no step {name!r} in {self.spec.path}; steps: {', '.join(self.spec.steps)}")
            steps |= set(self.spec.downstream(name))
        return {n for n, node in self.nodes.items() if node.step.name in steps}

    # -- run -------------------------------------------------------------------------------
    def run(self) -> PipelineResult:
        self.run_id = self.records.create_pipeline_run(self.executor_kind)
        self.executed_dir = config.get_artifact_root(self.store.uri).parent / "executed" / self.run_id[:12]
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
        if _in_main_thread():
            for sig in previous:
                signal.signal(sig, _raise_stopped)
        status = "FAILED"
        try:
            self._loop()
            status = "FINISHED" if all(s.status in DONE_OK for s in self.states.values()) else "FAILED"
        except (Stopped, KeyboardInterrupt) as stop:
            status = "KILLED"
            stopped_by = stop.signum if isinstance(stop, Stopped) else signal.SIGINT
            self._kill_running("KILLED", "the runner was stopped")
        finally:
            if self._executor is not None:
                self._executor.close()
            for name, st in self.states.items():
                if st.status in ("PENDING", "RETRY"):
                    self._record_final(name, "SKIPPED", "the pipeline stopped before it")
            self.records.end_pipeline_run(status)
            if _in_main_thread():
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
        result = PipelineResult(self.run_id, status, self.states, self.executed_dir,
                                self.records.sweep_table(self.states), store_uri=self.store.uri)
        if status == "KILLED":
            stopped = Stopped(result)
            stopped.signum = stopped_by
            raise stopped
        return result

    def _loop(self) -> None:
        while True:
            progressed = self._schedule()
            if not self._running:
                delay = self._next_retry_in()
                if delay is not None:
                    time.sleep(delay)
                    continue
                if not progressed:
                    return
                continue
            for future in self._executor.wait_any(list(self._running), timeout=self._next_retry_in()):
                self._finish(self._running.pop(future), future.result())

    def _next_retry_in(self) -> float | None:
        waiting = [s.retry_at for s in self.states.values() if s.status == "RETRY"]
        return max(0.05, min(waiting) - time.monotonic()) if waiting else None

    def _schedule(self) -> bool:
        """Settle or submit every node whose upstream is done; True when anything changed."""
        progressed = False
        for name, node in self.nodes.items():
            st = self.states[name]
            if len(self._running) >= self.jobs and st.status in ("PENDING", "RETRY") and st.key is not None:
                continue  # ready, but every slot is busy: it starts when one frees up
            if st.status == "RETRY" and time.monotonic() >= st.retry_at:
                self._submit(name)
                progressed = True
                continue
            if st.status != "PENDING":
                continue
            ups = [self.states[u].status for u in node.upstream]
            if any(u in ("FAILED", "SKIPPED", "KILLED") for u in ups):
                failed = [u for u in node.upstream if self.states[u].status in ("FAILED", "SKIPPED", "KILLED")]
                self._record_final(name, "SKIPPED", f"upstream {', '.join(failed)} did not finish")
                progressed = True
                continue
            if not all(u in DONE_OK for u in ups):
                continue
            try:
                parameters, key, st.inputs, st.key_parts = self._inputs_and_key(node)
            except _NoBestPoint as exc:
                self._record_final(name, "SKIPPED", str(exc))
                progressed = True
                continue
            st.key = key
            node.injected = parameters
            if name not in self.forced and self._reuse(name, key):
                progressed = True
                continue
            if len(self._running) >= self.jobs:
                continue
            self._submit(name)
            progressed = True
        return progressed

    def _inputs_and_key(self, node: Node) -> tuple[dict, str, dict, dict]:
        """What papermill injects into the node's notebook, its cache key, the digests of its input
        files the key covers (hashed once: the step's run records them too), and the key's parts."""
        step = node.step
        upstream_outputs, upstream_keys = {}, {}
        for up_step in step.upstream:
            chosen = self._best_point(up_step) if self.spec.sweep and up_step == self.spec.sweep.step else up_step
            upstream_outputs[up_step] = {k: str(p) for k, p in self.nodes[chosen].outputs.items()}
            upstream_keys[up_step] = self.states[chosen].key
        parameters = dict(node.parameters)
        if upstream_outputs and ("upstream" in step.declared or not step.has_parameters_cell):
            parameters["upstream"] = upstream_outputs
        if node.outputs and ("outputs" in step.declared or not step.has_parameters_cell):
            parameters["outputs"] = {k: str(p) for k, p in node.outputs.items()}
        digests = cache.file_digests(self._input_files(node))
        checks = {name: dict(block) for name, block in (("validate", step.validate), ("evaluate", step.evaluate))
                  if block}
        material = cache.key_material(step.notebook, parameters, upstream_keys, digests, step.kernel, checks)
        return parameters, cache.key_of(material), digests, cache.key_parts(material)

    @staticmethod
    def _input_files(node: Node) -> list[str]:
        """Declared inputs plus parameters naming an existing file (e.g. ``-p prepare.data=new.csv``):
        the cache key and the run's ``mlops.inputs`` tag cover their content, not only their name."""
        files = [str(p) for p in node.step.inputs]
        # The files the step's checks read (a reference profile, evaluation data) unless the step makes them.
        made = {str(p) for p in node.outputs.values()}
        for checked in ((node.step.validate or {}).get("against"), (node.step.evaluate or {}).get("data")):
            if checked and checked not in made and Path(checked).is_file():
                files.append(checked)
        folder = Path(node.step.notebook).parent
        for value in node.parameters.values():
            if isinstance(value, str) and 0 < len(value) < 1024 and "\n" not in value:
                try:
                    candidate = Path(value) if Path(value).is_absolute() else folder / value
                    if candidate.is_file():
                        files.append(str(candidate.resolve()))
                except OSError:
                    continue
        return sorted(set(files))

    def _best_point(self, step_name: str) -> str:
        metric, goal = self.spec.sweep.metric, self.spec.sweep.goal
        scored = []
        for name, node in self.nodes.items():
            if node.step.name == step_name and node.point is not None and self.states[name].status in DONE_OK:
                value = self.store.latest_metric(self.states[name].result_run, metric)
                if value is not None:
                    scored.append((value, name))
        if not scored:
            raise _NoBestPoint(f"no point of the sweep over {step_name!r} logged the metric {metric!r}")
        best = (max if goal == "maximize" else min)(scored)[1]
        return best

    def cached_run(self, key: str) -> str | None:
        """The latest run that finished with this cache key and whose outputs are still as it left them."""
        earlier = self.store.latest_run_with_tag("mlops.step_key", key)
        if earlier is None:
            return None
        recorded = json.loads(self.store.tags_of(earlier).get("mlops.outputs", "{}"))
        return earlier if cache.outputs_unchanged(recorded) else None

    def _reuse(self, name: str, key: str) -> bool:
        earlier = self.cached_run(key)
        if earlier is None:
            return False
        self.states[name].cached_from = earlier
        self._record_final(name, "CACHED", f"cached from {earlier}")
        return True

    # -- executing -------------------------------------------------------------------------
    def executor(self):
        if self._executor is None:
            from .executors import make_executor

            self._executor = make_executor(self.executor_kind, self.jobs, self.scheduler, tuple(self.spec.preload),
                                           self._notebook_imports())
            kernels_needed: dict[str, int] = {}
            for name, node in self.nodes.items():
                # RUNNING: the node being submitted right now, which has not taken its kernel yet.
                if self.states[name].status in ("PENDING", "RETRY", "RUNNING"):
                    kernels_needed[node.step.kernel] = kernels_needed.get(node.step.kernel, 0) + 1
            for kernel, count in kernels_needed.items():
                self._executor.warm(kernel, count)
        return self._executor

    def _notebook_imports(self) -> tuple[str, ...]:
        """What the notebooks of the steps still to run import: the pool preloads them where it can."""
        if self._imports is None:
            from .notebook_imports import imported_modules

            found: dict[str, None] = {}
            for name, node in self.nodes.items():
                if self.states[name].status in ("PENDING", "RETRY", "RUNNING"):  # RUNNING: as in executor()
                    found.update(dict.fromkeys(imported_modules(node.step.notebook)))
            self._imports = tuple(found)
        return self._imports

    def _submit(self, name: str) -> None:
        node, st = self.nodes[name], self.states[name]
        st.attempt += 1
        st.run_id = self.records.create_step_run(node, st, self._input_files(node))
        st.status = "RUNNING"
        self.writer.live_runs.add(st.run_id)
        env = {
            config.ENV_URI: self.store.uri,
            "MLOPS_RUN_ID": st.run_id,
            "MLOPS_PARENT_RUN_ID": self.run_id,
            "MLOPS_NOTEBOOK_PATH": str(node.step.notebook),
            "MLOPS_EXPERIMENT": self.spec.name,
        }
        # Where artifacts go travels with the task (workers may be elsewhere); credentials do not:
        # each worker uses its own (environment, instance role, ~/.aws).
        for name_ in (config.ENV_ARTIFACTS, "MLOPS_S3_ENDPOINT_URL"):
            if os.environ.get(name_):
                env[name_] = os.environ[name_]
        task = StepTask(node=name, notebook=str(node.step.notebook), output=str(self.executed_dir / f"{name}.ipynb"),
                        parameters=node.injected, env=env, cwd=str(Path(node.step.notebook).parent),
                        kernel=node.step.kernel, timeout=node.step.timeout, preload=tuple(self.spec.preload),
                        optional_preload=self._notebook_imports(),
                        validate=dict(node.step.validate) if node.step.validate else None,
                        evaluate=dict(node.step.evaluate) if node.step.evaluate else None)
        if self.progress:
            self.progress.started(name, st.attempt)
        self._running[self.executor().submit(task)] = name

    def _finish(self, name: str, outcome: StepOutcome) -> None:
        node, st = self.nodes[name], self.states[name]
        st.outcome, st.seconds = outcome, outcome.seconds
        status = self.records.record_outcome(node, st, outcome)
        if status == "FAILED" and st.attempt <= node.step.retries:
            st.status = "RETRY"
            st.retry_at = time.monotonic() + min(10.0, retry_backoff_s() * 2 ** (st.attempt - 1))
            if self.progress:
                self.progress.retrying(name, st, outcome)
            return
        st.status = status
        if self.progress:
            self.progress.finished(name, st)
        if status == "FAILED" and self.fail_fast:
            self._kill_running("KILLED", f"--fail-fast: step {name!r} failed")
            for other, ost in self.states.items():
                if ost.status in ("PENDING", "RETRY"):
                    self._record_final(other, "SKIPPED", f"--fail-fast: step {name!r} failed")

    def _kill_running(self, status: str, why: str) -> None:
        if self._executor is not None:
            self._executor.kill_all()
        for future, name in list(self._running.items()):
            st = self.states[name]
            st.status, st.note = status, why
            self.records.record_stopped(st.run_id, status, why)
            future.cancel()
            if self.progress:
                self.progress.finished(name, st)
        self._running.clear()

    def _record_final(self, name: str, status: str, note: str) -> None:
        """Settle a node that will not execute (CACHED or SKIPPED): record it and report it."""
        st = self.states[name]
        st.status, st.note = status, note
        st.run_id = self.records.record_unexecuted(self.nodes[name], st, self._input_files(self.nodes[name]))
        if self.progress:
            self.progress.finished(name, st)


class _NoBestPoint(Exception):
    pass


def _raise_stopped(signum, frame):
    stopped = Stopped(f"signal {signum}")
    stopped.signum = signum
    raise stopped


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _inside(path, folder) -> bool:
    try:
        Path(path).relative_to(folder)
        return True
    except ValueError:
        return False


def run_pipeline(spec_path, overrides=(), progress=None, **options) -> PipelineResult:
    """Load, validate and run the pipeline at ``spec_path`` (see :class:`PipelineRunner` for options)."""
    from .spec import load_spec

    spec = load_spec(spec_path, overrides)
    return PipelineRunner(spec, progress=progress, **options).run()
