"""Starting and ending runs, and making sure they end: at interpreter exit, on SIGTERM, on an
uncaught exception, and when a notebook cell that starts a run is executed again.

One run is active per process (per kernel). Starting a run while another is active ends the
earlier one as FINISHED first, so re-running a cell never fails and never leaves an orphan.
"""
from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
import threading
import time
import uuid as uuidlib
from pathlib import Path

from ..exceptions import InvalidInputError
from . import artifacts as blobs
from . import capture
from . import system_metrics as system
from .run import Run, checked_key
from .store import RUN_STATUSES, open_store
from .writer import MetricWriter

log = logging.getLogger("jupyter_mlops")

DEFAULT_EXPERIMENT = "Default"
ENV_EXPERIMENT = "MLOPS_EXPERIMENT"
ENV_PARENT = "MLOPS_PARENT_RUN_ID"
# Set by the pipeline runner: the step's run, created and ended by the runner. The first run a
# notebook starts in that kernel *is* that run, so its log_* calls land on the step.
ENV_RUN = "MLOPS_RUN_ID"

_lock = threading.RLock()
_active: Run | None = None
_writers: dict[str, MetricWriter] = {}
_last_by_name: dict[tuple[str, str], str] = {}
_experiment: str | None = None
_hooks_installed = False
_uncaught_exception = False
_attached: set[str] = set()


def active_run() -> Run | None:
    return _active


def set_experiment(name: str) -> None:
    global _experiment
    _experiment = checked_key("experiment", name)


def current_experiment() -> str:
    return _experiment or os.environ.get(ENV_EXPERIMENT) or DEFAULT_EXPERIMENT


def writer_for(store) -> MetricWriter:
    writer = _writers.get(store.uri)
    if writer is None:
        writer = _writers[store.uri] = MetricWriter(store)
    return writer


def start_run(name=None, experiment=None, params=None, tags=None, parent=None, capture_source=True,
              track_reruns=True, system_metrics: bool | None = None) -> Run:
    """Open a run and make it the active one (ending any run still active in this process).

    ``track_reruns=False`` is for runs named by the library (autolog): two fits of the same
    estimator class are not a re-run of one cell. ``system_metrics``: sample CPU, memory and
    GPUs into ``system.*`` metrics (default: the ``MLOPS_SYSTEM_METRICS`` variable)."""
    # A bad interval is refused before any run starts; off, nothing is sampled nor imported (psutil).
    sampling = system.interval() if system.requested(system_metrics) else None
    with _lock:
        run = _start_run(name, experiment, params, tags, parent, capture_source, track_reruns)
        if sampling is not None:
            run._writer.sample_system_metrics(run, sampling)
        return run


def _start_run(name, experiment, params, tags, parent, capture_source, track_reruns) -> Run:
    global _active
    with _lock:
        _install_hooks()
        if _active is not None and _active.active:
            finish_run(_active, "FINISHED")
        if name is not None:
            checked_key("run", name)
        store = open_store()
        writer = writer_for(store)
        given_run = os.environ.get(ENV_RUN)
        if given_run and given_run not in _attached:
            _attached.add(given_run)
            return _attach(given_run, store, writer, name, params, tags)
        experiment = experiment or current_experiment()
        run_id = uuidlib.uuid4().hex
        fields, extras = _captured_fields(store, capture_source)
        parent = parent or given_run or os.environ.get(ENV_PARENT) or None
        if parent is not None:
            parent = store.resolve_run_id(getattr(parent, "id", parent))
        store.create_run(
            run_id,
            store.experiment_id(experiment),
            writer.heartbeat_interval,
            name=name or _default_name(fields.get("source_path")),
            parent_uuid=parent,
            **fields,
        )
        run = Run(run_id, store, writer, name, experiment)
        writer.live_runs.add(run_id)
        _active = run
        first_tags = {}
        if name is not None and track_reruns:
            earlier = _last_by_name.get((experiment, name))
            if earlier:
                first_tags["rerun_of"] = earlier
            _last_by_name[(experiment, name)] = run_id
        if extras.get("source_unknown"):  # `jupyter mlops doctor` reports it
            first_tags[capture.SOURCE_UNKNOWN_TAG] = extras["source_unknown"]
        first_tags.update(tags or {})
        if first_tags:
            run.set_tags(first_tags)
        injected = extras.get("papermill_parameters") or {}
        if injected or params:
            run.log_params({**injected, **(params or {})})
        if extras.get("git_diff"):
            run.log_artifact(extras["git_diff"].encode(), "git/diff.patch")
        return run


def _attach(run_id: str, store, writer, name, params, tags) -> Run:
    """Make the run someone else created (the pipeline runner) the active one; it owns its end."""
    global _active
    record = store.get_run(run_id)
    run = Run(run_id, store, writer, record.name, record.experiment, owned=False)
    _active = run
    extra_tags = dict(tags or {})
    if name is not None:
        extra_tags["mlops.notebook_run_name"] = name
    if extra_tags:
        run.set_tags(extra_tags)
    if params:
        run.log_params(params)
    return run


def _default_name(source_path: str | None) -> str:
    import time

    stem = Path(source_path).stem if source_path else "run"
    return f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"


def _captured_fields(store, capture_source: bool) -> tuple[dict, dict]:
    """Columns of the new run row (source, git, user, environment) and extras logged after it."""
    fields: dict = {"user": capture.current_user()}
    extras: dict = {}
    if not capture_source:
        return fields, extras
    try:
        env = capture.environment()
        store.save_environment(env["hash"], env["python_version"], env["platform"], env["packages"])
        fields["environment_hash"] = env["hash"]
        source = capture.notebook_path()
        if source is not None:
            fields["source_path"] = str(source)
            fields["source_hash"] = capture.file_sha256(source)
        else:
            extras["source_unknown"] = capture.unknown_notebook_note()
        git = capture.git_state(source.parent if source else Path.cwd())
        if git:
            fields["git_commit"] = git["commit"]
            fields["git_dirty"] = git["dirty"]
            extras["git_diff"] = git["diff"]
        extras["papermill_parameters"] = capture.papermill_parameters()
    except Exception as exc:  # noqa: BLE001 - capture is best effort; the run itself must start
        log.warning("jupyter_mlops: could not capture run context: %s", exc)
    return fields, extras


def finish_run(run: Run, status: str = "FINISHED") -> None:
    """Flush the run's points, snapshot its notebook, and record the final status."""
    global _active
    status = str(status).upper()
    if status not in RUN_STATUSES or status == "RUNNING":
        raise InvalidInputError(f"end status {status!r} must be one of FINISHED, FAILED, KILLED, CRASHED")
    with _lock:
        if run.status != "RUNNING":
            return
        writer = run._writer
        ended = False
        try:
            written = _unreachable_is_not_fatal(run, "write its metrics", run.flush) and writer.settled(run.id)
            if run.owned:  # otherwise the creator (the pipeline runner) records status and notebook
                _unreachable_is_not_fatal(run, "snapshot its notebook", lambda: _snapshot_source(run))
                # Never a clean end with points missing: while they wait (the store failing), the
                # writer records the end once they are written or their loss is on the run.
                ended = written and _unreachable_is_not_fatal(
                    run, "record its end", lambda: run.store.end_run(run.id, status))
        finally:
            run.status = status
            if run.owned and not ended:
                writer.end_when_written(run.id, status)
            elif run.owned:
                writer.live_runs.discard(run.id)
            if _active is run:
                _active = None


def _unreachable_is_not_fatal(run: Run, what: str, action) -> bool:
    """Run ``action``; if the store cannot be reached, warn instead of failing the user's code.

    Points that could not be written stay buffered (the newest ``MLOPS_MAX_BUFFERED``): the
    writer retries them, and at exit says how many were lost if the store never came back."""
    try:
        action()
        return True
    except Exception as exc:  # noqa: BLE001 - any failure to reach the store: the driver's own error classes vary
        log.warning("jupyter_mlops: run %s could not %s (%d metric points still buffered): %s",
                    run.id, what, len(run._writer.buffer), exc)
        return False


def _snapshot_source(run: Run) -> None:
    """Store the notebook (or script) file as it is now: the run's reproducible source."""
    row = run.store.get_run(run.id)
    if not row.source_path:
        return
    path = Path(row.source_path)
    if not path.is_file():
        return
    try:
        sha, size = run.store.artifacts.put_file(path)
    except OSError as exc:
        log.warning("jupyter_mlops: could not snapshot %s: %s", path, exc)
        return
    folder = "notebook" if path.suffix == ".ipynb" else "source"
    run.store.add_artifact(run.id, f"{folder}/{path.name}", sha, size, blobs.media_type_of(path.name))
    run.store.set_tags(run.id, {"mlops.source_snapshot_sha256": sha})


# -- making runs end -----------------------------------------------------------------------
def _install_hooks() -> None:
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_at_exit)
    previous_hook = sys.excepthook

    def excepthook(exc_type, exc, tb):
        global _uncaught_exception
        _uncaught_exception = True
        previous_hook(exc_type, exc, tb)

    sys.excepthook = excepthook
    if threading.current_thread() is threading.main_thread():
        _install_sigterm()
    os.register_at_fork(after_in_child=_forget_after_fork)
    ip = capture._ipython()
    if ip is not None:
        # A kernel may be killed without running atexit (papermill's immediate shutdown, a
        # restart): persisting after each cell bounds the loss to the cell being executed.
        ip.events.register("post_run_cell", _after_cell)


def _after_cell(result=None) -> None:
    try:
        flush()
    except Exception as exc:  # noqa: BLE001 - a failing store must not break the user's cell
        log.warning("jupyter_mlops: could not write metrics after the cell: %s", exc)


def _install_sigterm() -> None:
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum, frame):
        _close_everything("KILLED")
        if callable(previous):
            previous(signum, frame)
        else:
            # Die of SIGTERM as if we had never caught it, so the exit status stays honest.
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    try:
        signal.signal(signal.SIGTERM, on_sigterm)
    except (ValueError, OSError):  # not allowed here (e.g. embedded interpreter)
        pass


def _at_exit() -> None:
    _close_everything("FAILED" if _uncaught_exception else "FINISHED")


def _close_everything(status: str) -> None:
    run = _active
    try:
        if run is not None and run.active:
            finish_run(run, status)
    except Exception as exc:  # noqa: BLE001 - at exit: report and go on flushing the rest
        log.warning("jupyter_mlops: could not end run %s: %s", run.id, exc)
    deadline = time.monotonic() + float(os.environ.get("MLOPS_EXIT_FLUSH_TIMEOUT", "15"))
    for writer in list(_writers.values()):
        _retry_until(deadline, writer.drain, lambda exc, w=writer: _give_up(w, exc))


def _give_up(writer: MetricWriter, exc: BaseException) -> None:
    """The store did not come back before the exit deadline: the waiting points are lost."""
    waiting = len(writer.buffer)
    unended = writer.abandon()
    log.warning("jupyter_mlops: %d metric points could not be written: %s", waiting, exc)
    for run_id in unended:
        log.warning("jupyter_mlops: the end of run %s could not be recorded (it will show as CRASHED)", run_id)


def _retry_until(deadline: float, action, give_up) -> None:
    """``action`` until it succeeds or ``deadline`` passes (a database restarting), then ``give_up(exc)``:
    at exit the store gets a little time to come back before anything is reported lost."""
    while True:
        try:
            action()
            return
        except Exception as exc:  # noqa: BLE001 - retried until the deadline, then reported
            if time.monotonic() >= deadline:
                give_up(exc)
                return
            time.sleep(0.5)


def _forget_after_fork() -> None:
    # A forked child has the parent's buffers but not its threads: start clean.
    global _active
    _active = None
    _writers.clear()
    _last_by_name.clear()


def shutdown() -> None:
    """End the active run and stop every writer thread (tests, and switching stores for good)."""
    global _active, _experiment
    _close_everything("FINISHED")
    for writer in list(_writers.values()):
        writer.close()
    _writers.clear()
    _last_by_name.clear()
    _attached.clear()
    _active = None
    _experiment = None


def flush() -> None:
    """Write every buffered metric point of this process now."""
    for writer in list(_writers.values()):
        writer.flush()
