"""Execute one step's notebook with papermill on a pooled kernel, and describe how it ended.

This is the unit of work every executor runs (a thread here, a Dask worker elsewhere): it takes
plain data in and returns plain data, including the executed notebook's bytes, so the runner
can record it wherever the step ran.
"""
from __future__ import annotations

import os
import threading
import time
import traceback as tb
from dataclasses import dataclass, field
from pathlib import Path

from .. import config
from . import kernels, notebook_files


@dataclass
class StepTask:
    node: str  # step name, or "train[2]" for a sweep point
    notebook: str
    output: str  # where the executed notebook is written
    parameters: dict
    env: dict  # MLOPS_* variables for the kernel: run ids, store, notebook path
    cwd: str
    kernel: str = "python3"
    timeout: float | None = None
    preload: tuple = ()
    optional_preload: tuple = ()  # what the steps' notebooks import: preloaded where possible
    validate: dict | None = None  # the step's ``validate:`` gate, checked after the notebook ran
    evaluate: dict | None = None  # the step's ``evaluate:`` block (evaluate_block.py), after validate


@dataclass
class StepOutcome:
    node: str
    ok: bool
    seconds: float
    executed_notebook: bytes | None = None
    error: dict = field(default_factory=dict)  # kind, message, and for a cell: cell, ename, evalue, traceback

    def describe(self) -> str:
        e = self.error
        if self.ok:
            return "ok"
        if e.get("kind") == "cell":
            return f"cell {e['cell']} raised {e['ename']}: {e['evalue']}"
        return e.get("message", "failed")


def import_papermill():
    """``import papermill``, without the second it spends building a grammar it never uses.

    papermill imports nbformat, which imports jsonschema, whose format checkers import
    ``rfc3987_syntax`` when installed (Jupyter's event validation pulls it in): that import builds a
    lark parser, ~1.1 s of CPU in every process that runs steps. Notebooks never use the ``iri``
    formats it checks, so while jsonschema is first imported here the module is hidden; it stays
    importable afterwards for anyone who asks for it by name.
    """
    import sys

    from ..extras import require

    if "papermill" in sys.modules or "jsonschema" in sys.modules or "rfc3987_syntax" in sys.modules:
        papermill = require("papermill", "running notebooks as pipeline steps")
    else:
        with _import_lock:
            sys.modules["rfc3987_syntax"] = None  # makes ``import rfc3987_syntax`` raise ImportError
            try:
                papermill = require("papermill", "running notebooks as pipeline steps")
            finally:
                if sys.modules.get("rfc3987_syntax", 0) is None:
                    del sys.modules["rfc3987_syntax"]
    notebook_files.install()  # steps in threads must not move the process between folders
    return papermill


_import_lock = threading.Lock()


def import_papermill_in_background() -> None:
    """Start ``import_papermill`` in a thread: it overlaps the first kernel's start instead of following it."""
    threading.Thread(target=import_papermill, name="mlops-import-papermill", daemon=True).start()


def run_task(task: StepTask, pool: kernels.KernelPool) -> StepOutcome:
    """Run ``task`` on a fresh warmed kernel from ``pool``; never raises for a failing notebook."""
    papermill = import_papermill()
    from nbclient.exceptions import DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    started = time.perf_counter()
    timed_out = threading.Event()
    km = None
    watchdog = None
    try:
        km = pool.take(task.kernel)
        kernels.prepare_for_step(km, task.cwd, task.env)
        if task.timeout:
            def expire():
                timed_out.set()
                kernels.kill(km)

            watchdog = threading.Timer(task.timeout, expire)
            watchdog.daemon = True
            watchdog.start()
        Path(task.output).parent.mkdir(parents=True, exist_ok=True)
        papermill.execute_notebook(
            # Absolute paths and no cwd: papermill would otherwise chdir the whole runner (notebook_files).
            os.path.abspath(task.notebook), os.path.abspath(task.output), parameters=task.parameters,
            kernel_name=task.kernel, km=km, progress_bar=False, log_output=False,
        )
        outcome = StepOutcome(task.node, True, 0.0)
        if task.validate:
            from ..monitoring.validation import gate_message

            problem = gate_message(**task.validate)
            if problem:
                outcome = StepOutcome(task.node, False, 0.0, error={"kind": "validation", "message": problem})
        if task.evaluate and outcome.ok:
            from .evaluate_block import evaluate_step

            problem = evaluate_step(task.evaluate, task.env["MLOPS_RUN_ID"], task.env.get(config.ENV_URI))
            if problem:
                outcome = StepOutcome(task.node, False, 0.0, error={"kind": "evaluation", "message": problem})
    except PapermillExecutionError as exc:
        ename, evalue = exc.ename, exc.evalue
        if not evalue:  # e.g. an unknown magic: IPython reports it on stderr, not as an error output
            ename, evalue = stderr_error(task.output) or (ename, evalue)
        outcome = StepOutcome(task.node, False, 0.0, error={
            "kind": "cell", "cell": source_cell_number(task.output, exc.cell_index), "exec_count": exc.exec_count,
            "ename": ename, "evalue": evalue, "traceback": strip_ansi("\n".join(exc.traceback or [])),
        })
    except DeadKernelError as exc:
        if timed_out.is_set():
            message = f"timed out after {task.timeout:g} s; the kernel was killed"
            outcome = StepOutcome(task.node, False, 0.0, error={"kind": "timeout", "message": message})
        else:
            outcome = StepOutcome(task.node, False, 0.0, error={"kind": "kernel", "message": f"the kernel died: {exc}"})
    except Exception as exc:  # noqa: BLE001 - any failure of a step becomes its outcome, never the runner's crash
        kind = "timeout" if timed_out.is_set() else "error"
        message = (f"timed out after {task.timeout:g} s; the kernel was killed" if timed_out.is_set()
                   else f"{type(exc).__name__}: {exc}")
        outcome = StepOutcome(task.node, False, 0.0, error={"kind": kind, "message": message,
                                                             "traceback": tb.format_exc()})
    finally:
        if watchdog is not None:
            watchdog.cancel()
        if km is not None:
            pool.release(km)
    outcome.seconds = time.perf_counter() - started
    output = Path(task.output)
    if output.is_file():
        outcome.executed_notebook = output.read_bytes()
    return outcome


def _cells(executed: str) -> list:
    import json

    try:
        return json.loads(Path(executed).read_text())["cells"]
    except (OSError, ValueError, KeyError):
        return []


def _failed_cell(executed: str) -> tuple[int, dict] | None:
    """The cell papermill marked as failed, with its index in the step's own notebook
    (not counting the parameters and error-banner cells papermill inserted)."""
    own = 0
    for cell in _cells(executed):
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags or "papermill-error-cell-tag" in tags:
            continue
        if cell.get("metadata", {}).get("papermill", {}).get("exception"):
            return own, cell
        own += 1
    return None


def stderr_error(executed: str) -> tuple[str, str] | None:
    """``(name, message)`` from the last ``Name: message`` line the failed cell wrote to stderr."""
    import re

    failed = _failed_cell(executed)
    if failed is None:
        return None
    text = "".join("".join(o.get("text", "")) for o in failed[1].get("outputs", [])
                   if o.get("output_type") == "stream" and o.get("name") == "stderr")
    found = re.findall(r"^(\w+(?:Error|Exception)): (.*)$", strip_ansi(text), re.MULTILINE)
    return found[-1] if found else None


def source_cell_number(executed: str, cell_index: int) -> int:
    """The failing cell as the user counts the cells of their own notebook: 1 for the first cell,
    markdown included, papermill's injected cells not (papermill's 0-based index counts those)."""
    failed = _failed_cell(executed)
    return failed[0] + 1 if failed else cell_index + 1


def strip_ansi(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)
