"""The public Python API: ``import jupyter_mlops as mlops; mlops.log_metric("auc", 0.91)``.

Every function acts on the active run of this process; a ``log_*`` call with no active run
starts one (named after the notebook or script). Heavy libraries load on first use only.
"""
from __future__ import annotations

from .config import get_tracking_uri, set_tracking_uri  # noqa: F401  (re-exported)
from .tracking import lifecycle as _lifecycle
from .tracking.lifecycle import active_run, flush, set_experiment  # noqa: F401
from .tracking.run import Run


def start_run(name: str | None = None, experiment: str | None = None, params: dict | None = None,
              tags: dict | None = None, parent=None, system_metrics: bool | None = None) -> Run:
    """Start a run and make it active; use as ``with mlops.start_run(...) as run:`` or on its own.

    A run still active in this process is ended (FINISHED) first, so re-running a notebook cell
    is safe. Re-using a run name in the same process tags the new run ``rerun_of=<earlier id>``.
    ``system_metrics=True`` samples CPU %, memory and GPUs into ``system.*`` metrics every
    ``MLOPS_SYSTEM_METRICS_INTERVAL`` seconds (default 10); ``MLOPS_SYSTEM_METRICS=1`` turns it on for every run.
    """
    return _lifecycle.start_run(name=name, experiment=experiment, params=params, tags=tags, parent=parent,
                                system_metrics=system_metrics)


def end_run(status: str = "FINISHED") -> None:
    """End the active run (no-op when none is active)."""
    run = _lifecycle._active
    if run is not None:
        run.end(status)


def _run() -> Run:
    run = _lifecycle._active
    if run is None:
        run = _lifecycle.start_run()
    return run


def log_metric(key: str, value, step: int | None = None) -> None:
    """Record one point of metric ``key``; buffered, written in the background."""
    run = _lifecycle._active
    if run is None:
        run = _lifecycle.start_run()
    run.log_metric(key, value, step)


def log_metrics(values: dict, step: int | None = None) -> None:
    _run().log_metrics(values, step)


def log_param(key: str, value) -> None:
    _run().log_param(key, value)


def log_params(values: dict) -> None:
    _run().log_params(values)


def set_tag(key: str, value) -> None:
    _run().set_tag(key, value)


def set_tags(values: dict) -> None:
    _run().set_tags(values)


def log_artifact(obj, name: str | None = None) -> str:
    """Store a file or folder path, a matplotlib figure, a DataFrame (CSV), bytes or text (with ``name``)."""
    return _run().log_artifact(obj, name)


def log_model(model, input_example=None, training_data=None, target: str | None = None) -> str:
    """Store a fitted model with skops (never pickle), its signature and a profile of ``training_data``.

    The run can then be approved and exported as a model package; returns the model file's sha256."""
    from .tracking.models import log_model as store_model

    return store_model(_run(), model, input_example=input_example, training_data=training_data, target=target)


def log_dataset(df, name: str) -> dict:
    """Record a dataset's fingerprint, shape and schema, so later runs can tell whether the data changed."""
    return _run().log_dataset(df, name)


def get_run(run_id: str):
    """Everything recorded about a run (full id or a unique prefix of 6+ characters)."""
    from .tracking.store import open_store

    flush()
    return open_store().get_run(run_id)


def get_metric_history(run_id: str, key: str):
    """Every point of one metric as a DataFrame with ``step``, ``value``, ``timestamp``."""
    import pandas as pd

    from .tracking.store import open_store

    flush()
    rows = open_store().metric_history(run_id, key)
    df = pd.DataFrame(rows, columns=["step", "value", "timestamp"])
    df["timestamp"] = pd.to_datetime(df["timestamp"], unit="ms", utc=True)
    return df


def search_runs(experiment=None, filter: str | None = None, order_by=None, max_results: int | None = None):
    """Runs as a DataFrame (one row per run, ``params.*`` / ``metrics.*`` / ``tags.*`` columns).

    ``filter`` uses the filter language, e.g. ``"metrics.auc > 0.9 and params.model = 'rf'"``;
    ``order_by`` a list such as ``["metrics.auc DESC"]``.
    """
    from .tracking.search import DEFAULT_MAX_RESULTS
    from .tracking.search import search_runs as _search
    from .tracking.store import open_store

    flush()
    return _search(open_store(), experiment, filter, order_by, max_results or DEFAULT_MAX_RESULTS)


def list_experiments(all_lifecycles: bool = False):
    """Experiments with their run counts, as a DataFrame; archived and deleted ones only with ``all_lifecycles``."""
    import pandas as pd

    from .tracking.store import open_store

    rows = open_store().experiments(all_lifecycles=all_lifecycles)
    return pd.DataFrame(rows, columns=["id", "name", "created_at", "runs", "lifecycle"])


# -- lifecycle: archive, delete, restore ----------------------------------------------------------
def delete_run(run) -> list[str]:
    """Delete a run and its pipeline steps: left out of listings and restorable until ``jupyter mlops gc``
    purges it and collects its artifacts. Refused for a run a model version was made from.
    Returns the ids of the runs deleted."""
    from .registry import run_lifecycle

    flush()
    return run_lifecycle.delete_runs(run)


def archive_run(run) -> list[str]:
    """Archive a run and its steps: kept as it is, left out of listings (filter ``lifecycle = 'archived'``)."""
    from .registry import run_lifecycle

    return run_lifecycle.archive_runs(run)


def restore_run(run) -> list[str]:
    """Bring an archived or deleted (not yet collected) run and its steps back into listings."""
    from .registry import run_lifecycle

    return run_lifecycle.restore_runs(run)


def delete_experiment(name: str) -> int:
    """Delete an experiment: its runs are left out with it until restored or collected; returns their number."""
    from .registry import run_lifecycle

    flush()
    return run_lifecycle.delete_experiment(name)


def archive_experiment(name: str) -> int:
    from .registry import run_lifecycle

    return run_lifecycle.archive_experiment(name)


def restore_experiment(name: str) -> int:
    """Bring an experiment back; each run gets back the state it had on its own (a run deleted alone stays so)."""
    from .registry import run_lifecycle

    return run_lifecycle.restore_experiment(name)


def run_pipeline(spec, parameters=(), jobs: int | None = None, executor: str = "local", force=None,
                 from_step: str | None = None, fail_fast: bool = False, show: bool = True):
    """Run a ``pipeline.yaml``; in a notebook a live table shows each step's status.

    ``parameters`` are overrides such as ``["train.n_estimators=200", "seed=1"]``; ``force`` is
    ``True`` (everything) or a list of steps. Returns the result (``.status``, ``.states``,
    ``.sweep``, ``.failures()``); the pipeline and every step are runs in the store.
    """
    from .pipeline.runner import PipelineRunner
    from .pipeline.spec import load_spec

    spec = load_spec(spec, parameters)
    runner = PipelineRunner(spec, jobs=jobs, executor=executor, force=set(force) if isinstance(force, (list, tuple, set)) else force,
                            from_step=from_step, fail_fast=fail_fast)
    if show:
        runner.progress = _progress_display(list(runner.nodes))
    return runner.run()


def _progress_display(names: list[str]):
    from .tracking.capture import _ipython

    if _ipython() is not None and getattr(_ipython(), "kernel", None) is not None:
        from IPython.display import display

        from .widgets.pipeline import PipelineProgressWidget

        widget = PipelineProgressWidget(names)
        display(widget)
        return widget
    from .pipeline.progress import ConsoleProgress

    return ConsoleProgress(total=len(names))


def autolog(disable: bool = False) -> None:
    """Record every scikit-learn ``fit``: the estimator's params, training score and the model (skops)."""
    from .tracking import autolog as _autolog

    _autolog.enable(disable=disable)


# -- registry ------------------------------------------------------------------------------------
def approve(run_id, by: str | None = None, reason: str = "") -> dict:
    """Approve a finished run for export, after the gates in ``[tool.jupyter_mlops.approval]``."""
    from .registry import approval

    return approval.approve(_run_id(run_id), by=by, reason=reason)


def reject(run_id, by: str | None = None, reason: str = "", force: bool = False) -> dict:
    """Record that a run must not be exported; a run whose version is in production needs ``force=True``."""
    from .registry import approval

    return approval.reject(_run_id(run_id), by=by, reason=reason, force=force)


def export(run_id, name: str, by: str | None = None, zip: bool = False, trust=None, unsafe_pickle: bool = False) -> dict:
    """Package an approved run as the next version of model ``name``; returns the version record.

    ``trust``: exact type names (e.g. your own function in a FunctionTransformer) to trust beyond what
    scikit-learn's own models hold; they run when the model predicts."""
    from .registry import package

    return package.export(_run_id(run_id), name, by=by, zip=zip, trust=trust, unsafe_pickle=unsafe_pickle)


def load_model(ref, runtime: str | None = None, unsafe_pickle: bool = False):
    """``"name@alias"``, ``"name/3"``, ``"name"`` (latest): the registry, even if a folder of that name is in the
    current directory; a package folder or ``.zip`` only written as a path (``./x``, ``/abs/x``, ``file:x``,
    ``x.zip``). Verified against the registry (digest, trusted types), then loaded.

    ``runtime``: ``"sklearn"`` (default: exactly the notebook's model), ``"onnx"``, or ``"auto"``
    (ONNX Runtime when the package has a checked model.onnx, as serving and batch scoring use)."""
    from .registry import package

    return package.load_model(ref, runtime=runtime, unsafe_pickle=unsafe_pickle)


def predict(model, data, output=None, chunk_size: int | None = None, runtime: str | None = None,
            probabilities: bool = False, keep_input: bool = False, executor: str = "local",
            scheduler: str | None = None, client=None):
    """Score ``data`` (DataFrame, .csv or .parquet path) with ``model`` ("name@alias" or a loaded model).

    Returns a DataFrame with a ``prediction`` column (``proba_<class>`` with ``probabilities``), or,
    with ``output`` (.parquet / .csv), writes that file chunk by chunk and returns a summary.
    A Dask DataFrame, or ``executor="dask"`` (a folder or glob of Parquet/CSV, ``output`` a folder),
    is scored on a Dask cluster (``scheduler`` address or ``client``; see serving/dask_batch.py)."""
    from .monitoring.dask_sources import is_dask_frame
    from .serving import DEFAULT_CHUNK_ROWS
    from .serving.batch import predict as score

    if executor == "dask" or is_dask_frame(data):
        from .serving.dask_batch import predict as score_on_dask

        return score_on_dask(model, data, output=output, scheduler=scheduler, client=client, runtime=runtime,
                             probabilities=probabilities, keep_input=keep_input)

    return score(model, data, output=output, chunk_size=chunk_size or DEFAULT_CHUNK_ROWS, runtime=runtime,
                 probabilities=probabilities, keep_input=keep_input)


def set_alias(name: str, version: int, alias: str, by: str | None = None) -> dict:
    from .registry import versions

    return versions.set_alias(name, version, alias, by=by)


def verify(ref_or_path):
    from .registry import package

    return package.verify(ref_or_path)


def _run_id(run) -> str:
    return run if isinstance(run, str) else getattr(run, "id", None) or run.run_id


def validate(data, against, **options):
    """Check ``data`` (DataFrame or CSV/Parquet path) against a profile (dict, JSON path) or a model ("name@alias").

    Returns a result with ``.passed`` and ``.failures`` (column, rule, message); options:
    ``missing_margin``, ``range_margin``, ``allow_unknown_columns``, ``require_target``.
    """
    from .monitoring.monitor import resolve_reference
    from .monitoring.validation import validate as _validate

    # A registered model ("name@alias") is validated against its package's reference profile.
    return _validate(data, resolve_reference(against).profile, **options)


def monitor(reference, current, target: str | None = None, predictions=None, **options):
    """Drift of ``current`` against a model ("name@alias") or a profile, recorded as a monitoring run.

    With ``target`` and ``predictions`` (column names or arrays) performance metrics too. In a
    notebook the result shows as the HTML report; ``.describe()`` gives it as text.
    """
    from .monitoring.monitor import monitor as _monitor

    return _monitor(reference, current, target=target, predictions=predictions, **options)


# -- evaluation ----------------------------------------------------------------------------------
def evaluate(model_or_run, data, target: str = "y", slices=(), sensitive_features=(), **options):
    """Metrics of a model on ``data`` overall and per slice, with bootstrap intervals, and fairness gaps.

    ``model_or_run``: a fitted model, a run (or its id; recorded on that run), a registry reference
    ("name@alias"), or None with ``predictions=`` (and ``probabilities=``) as columns or arrays.
    ``slices``: features or crossings such as ``["sex", "age_band", "sex,age_band"]``;
    ``sensitive_features``: the columns fairness gaps are taken across (Fairlearn's definitions).
    Recorded as ``slice.<feature>=<value>.<metric>``, ``fairness.<gap>`` and ``eval.<metric>`` metrics with
    an HTML report; options: ``min_slice_count`` (30), ``n_bootstrap`` (1000), ``confidence`` (0.95),
    ``seed``, ``pos_label``, ``task``, ``features``, ``explain`` (permutation importance, on by default),
    ``shap`` (mean |SHAP| per feature, when shap is installed), ``run`` (where to record), ``record``.
    """
    from .evaluation import evaluate as _evaluate

    flush()
    return _evaluate(model_or_run, data, target=target, slices=slices, sensitive_features=sensitive_features,
                     **options)


def datasets(name: str | None = None):
    """The dataset catalog: every dataset (no ``name``), or the versions of one, oldest first, each with
    the runs that consumed and produced it and its schema changes against the version before."""
    from .tracking import datasets as catalog
    from .tracking.store import open_store

    flush()
    store = open_store()
    return catalog.list_datasets(store) if name is None else catalog.dataset_versions(store, name)
