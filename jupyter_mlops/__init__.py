"""jupyter_mlops: notebook-first experiment tracking, pipelines, model packages and monitoring.

    import jupyter_mlops as mlops
    with mlops.start_run("baseline", params={"C": 1.0}):
        mlops.log_metric("auc", 0.91)

In IPython/Jupyter, ``%load_ext jupyter_mlops`` adds the ``%mlops`` magics. The API module is
imported on first attribute access so that ``import jupyter_mlops`` itself stays cheap.
"""
from __future__ import annotations

__version__ = "0.1.0"

_API = {
    "start_run", "end_run", "active_run", "log_metric", "log_metrics", "log_param", "log_params",
    "set_tag", "set_tags", "log_artifact", "log_dataset", "log_model", "get_run", "get_metric_history",
    "search_runs", "list_experiments", "set_experiment", "set_tracking_uri", "get_tracking_uri",
    "flush", "autolog", "run_pipeline", "approve", "reject", "export", "load_model", "set_alias", "verify",
    "validate", "monitor", "predict", "evaluate", "datasets", "delete_run", "archive_run", "restore_run", "delete_experiment",
    "archive_experiment", "restore_experiment",
}
__all__ = sorted(_API | {"load_ipython_extension", "unload_ipython_extension", "__version__"})  # noqa: PLE0605 - a sorted list


def __getattr__(name: str):
    if name in _API:
        from . import api

        value = getattr(api, name)
        globals()[name] = value  # later lookups skip this function
        return value
    if name == "widgets":
        import importlib

        return importlib.import_module(".widgets", __name__)
    raise AttributeError(f"module 'jupyter_mlops' has no attribute {name!r}")


def __dir__():
    return __all__


def load_ipython_extension(ipython) -> None:
    """``%load_ext jupyter_mlops``: register the ``%mlops`` / ``%%mlops`` magics."""
    from .magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython) -> None:
    from .magics import unload_ipython_extension as unload

    unload(ipython)
