"""Re-run a recorded pipeline: ``jupyter-mlops run SPEC`` in a child process of the server.

The runner can take minutes, so the request only starts it and answers with the process id and
the log file; the pipeline's new run appears in the store (and the Pipelines panel) as it goes.
"""
from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from .. import config
from ..exceptions import InvalidInputError

# Keep references so finished children are reaped and not garbage-collected mid-run.
_children: set[asyncio.Task] = set()


def spec_of(pipeline: dict) -> Path:
    spec = pipeline.get("spec")
    if not spec:
        raise InvalidInputError(f"pipeline run {pipeline['run_id']} recorded no spec file")
    path = Path(spec)
    if not path.is_file():
        raise FileNotFoundError(f"the spec {path} of pipeline run {pipeline['run_id']} no longer exists")
    return path


async def start(spec: Path, store_uri: str) -> dict:
    """Start the runner on ``spec`` against the store at ``store_uri``; returns ``{pid, log, spec}``."""
    log_path = Path(tempfile.gettempdir()) / f"jupyter-mlops-rerun-{os.getpid()}-{time.time_ns()}.log"
    env = {k: v for k, v in os.environ.items() if k not in ("MLOPS_RUN_ID", "MLOPS_PARENT_RUN_ID")}
    env[config.ENV_URI] = store_uri
    with open(log_path, "wb") as log:  # noqa: ASYNC230  (creating an empty local file does not block)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "jupyter_mlops", "run", str(spec),
            cwd=str(spec.parent), env=env, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
            start_new_session=True,  # a server restart must not take the pipeline with it
        )
    task = asyncio.ensure_future(proc.wait())
    _children.add(task)
    task.add_done_callback(_children.discard)
    return {"pid": proc.pid, "log": str(log_path), "spec": str(spec)}
