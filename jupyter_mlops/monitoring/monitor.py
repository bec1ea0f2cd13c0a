"""``mlops.monitor``: drift (and performance when outcomes are known) recorded as a monitoring run.

The reference is a profile (dict or JSON path) or a registered model ("name", "name/3",
"name@alias"), whose package carries the profile of its training data and its metrics. The
result is stored as a run tagged ``mlops.kind=monitor`` (and ``mlops.model=name/version``) with
the drift numbers as metrics and the HTML report as an artifact, so the model's page can list them.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..exceptions import InvalidInputError, MlopsError
from ..safe_names import shown
from ..tracking.profile import check_profile, load_profile
from .drift import DriftResult, DriftThresholds, detect_drift
from .performance import compare, performance_metrics
from .sources import CHUNK_ROWS, iter_chunks


@dataclass
class Reference:
    """Where the reference came from: its profile, and the model and metrics when it is a model."""

    profile: dict
    label: str
    model: object | None = None
    metrics: dict | None = None

    @property
    def model_tag(self) -> str | None:
        if self.model is None:
            return None
        return f"{self.model.name}/{self.model.version}"


def resolve_reference(reference, store=None) -> Reference:
    """A profile dict, a loaded model package, a registry reference, or a file written as a path.

    As everywhere else (registry/names.py), ``name``, ``name/3`` and ``name@alias`` always mean
    the registry: a file in the current folder named like a model is not read in its place. A
    file is read when written as a path (``./x``, ``/abs/x``, ``~/x``, ``file:x``, a ``Path``) or
    named ``*.json``: a folder or ``.zip`` as a model package, anything else as a profile.
    """
    if isinstance(reference, dict):
        return Reference(check_profile(reference), "profile")
    if hasattr(reference, "reference_profile"):  # a PackagedModel
        return _from_model(reference)
    if not isinstance(reference, (str, Path)):
        raise InvalidInputError(f"reference must be a profile, a profile path or a model reference, "
                                f"got {type(reference).__name__}")
    from ..registry.names import as_package_path
    from ..registry.package import load_model

    path = as_package_path(reference)
    if path is None and reference.lower().endswith(".json"):
        path = Path(reference)
    if path is None:
        try:
            return _from_model(load_model(reference, store=store))
        except MlopsError as exc:
            if _names_a_file(reference):  # say why the file was not read, and how to have it read
                raise InvalidInputError(f"{exc}; a file is read only when written as a path: ./{reference}") from None
            raise
    try:
        is_package = path.is_dir() or path.suffix.lower() == ".zip"
    except OSError as exc:  # a name too long for a file name, and kin: one line, not a traceback
        raise InvalidInputError(f"cannot read {shown(str(reference))}: {exc.strerror or exc}") from None
    if is_package:
        return _from_model(load_model(path, store=store))
    return Reference(load_profile(path), str(path))


def _names_a_file(reference: str) -> bool:
    try:
        return Path(reference).exists()
    except (OSError, ValueError):
        return False


def _from_model(model) -> Reference:
    profile = model.reference_profile
    if not profile:
        raise InvalidInputError(f"model {model.name}/{model.version} has no reference profile to monitor against")
    return Reference(check_profile(profile), f"{model.name}/{model.version}", model, dict(model.metrics or {}))


PREDICTED, SCORES = "(model predictions)", "(model scores)"


class _Collector:
    """Pass chunks through to the drift fold, keeping the target and prediction columns on the way.

    With a ``model`` (the reference was a registered model and no predictions were given) the
    model scores each chunk as it passes, so outcomes can be compared without a separate step.
    """

    def __init__(self, chunks, target: str | None, predictions: str | None, model=None):
        self.chunks, self.model = chunks, model
        self.kept: dict[str, list] = {name: [] for name in (target, predictions) if name}
        self.unscorable: list[str] = []  # model features missing from the data, so it could not predict
        if model is not None:
            self.kept[PREDICTED] = []
            if hasattr(model.estimator, "predict_proba"):
                self.kept[SCORES] = []

    def __iter__(self):
        for chunk in self.chunks:
            for name, parts in self.kept.items():
                if name in (PREDICTED, SCORES):
                    continue
                if len(chunk) and name not in chunk.columns:
                    raise InvalidInputError(f"column {name!r} is not in the current data (columns: {list(chunk.columns)})")
                if len(chunk):  # an empty header chunk would make the joined column object-typed
                    parts.append(chunk[name].to_numpy())
            if self.model is not None and len(chunk):
                self.unscorable = [c for c in self.model.input_columns if c not in chunk.columns]
                if self.unscorable:  # the drift check names them as missing; no prediction can be made
                    self.model = None
                    yield chunk
                    continue
                features = chunk[[c for c in chunk.columns if c in set(self.model.input_columns)]]
                self.kept[PREDICTED].append(np.asarray(self.model.predict(features)))
                if SCORES in self.kept:
                    self.kept[SCORES].append(np.asarray(self.model.predict_proba(features)))
            yield chunk

    def column(self, name: str) -> np.ndarray | None:
        if name not in self.kept:
            return None
        parts = self.kept[name]
        return np.concatenate(parts) if parts else np.empty(0)


def monitor(reference, current, *, target: str | None = None, predictions=None, scores=None,
            reference_metrics: dict | None = None, thresholds: DriftThresholds | None = None,
            columns: list[str] | None = None, record: bool = True, html: str | Path | None = None,
            chunk_rows: int = CHUNK_ROWS, store=None) -> DriftResult:
    """Drift of ``current`` against ``reference``, plus performance when ``target`` and predictions are known.

    ``predictions``: a column of ``current`` or an array aligned with it; left out when the
    reference is a registered model, that model predicts. ``scores``: probabilities for ROC AUC
    (array). ``record=False`` skips the monitoring run; ``html`` also writes the report there.
    """
    ref = resolve_reference(reference, store)
    prediction_column = predictions if isinstance(predictions, str) else None
    scoring_model = ref.model if target is not None and predictions is None else None
    if target is not None and predictions is None and scoring_model is None:
        raise InvalidInputError("performance needs predictions with the target: pass predictions=COLUMN or an "
                                "array, or monitor a registered model, which then predicts")
    if columns is None:
        skip = {ref.profile.get("target"), target, prediction_column}
        columns = [name for name in ref.profile["columns"] if name not in skip]
    from .dask_sources import is_dask_frame

    if is_dask_frame(current):  # partitions folded on the cluster (see partitioned.py)
        if target is not None:
            raise InvalidInputError("performance on a Dask DataFrame is not supported; monitor its drift, or "
                                    "pass the labelled rows as a pandas DataFrame or a file")
        from .partitioned import detect_drift_partitioned

        collector = None
        result = detect_drift_partitioned(ref.profile, current, columns=columns, thresholds=thresholds)
    else:
        collector = _Collector(iter_chunks(current, chunk_rows), target, prediction_column, scoring_model)
        result = detect_drift(ref.profile, collector, columns=columns, thresholds=thresholds, chunk_rows=chunk_rows)
    if target is not None and not collector.unscorable:
        if scoring_model is not None:
            predicted = collector.column(PREDICTED)
            scores = collector.column(SCORES) if scores is None else scores
        else:
            predicted = collector.column(prediction_column) if prediction_column else np.asarray(predictions)
        current_metrics = performance_metrics(collector.column(target), predicted, scores)
        result.performance = compare(current_metrics, reference_metrics if reference_metrics is not None else ref.metrics)
    elif target is not None:
        result.performance = {"status": "not computed: the model's features " + ", ".join(collector.unscorable)
                              + " are missing from the current data", "rows": 0, "current": {}, "reference": {},
                              "change": {}}
    result.reference_label = ref.label
    if record or html is not None:
        from .report import render_html

        page = render_html(result, title=f"Drift report: {ref.label}")
        if html is not None:
            Path(html).write_text(page, encoding="utf-8")
        result.run_id = record_run(result, ref, current, page, store) if record else None
    return result


def record_run(result: DriftResult, ref: Reference, current, page: str, store=None) -> str:
    """Store the result as a finished run of its own, leaving any active run of the caller alone."""
    from ..tracking import capture, lifecycle
    from ..tracking.run import Run
    from ..tracking.store import open_store

    lifecycle.flush()
    store = store or open_store()
    writer = lifecycle.writer_for(store)
    experiment = lifecycle.current_experiment()
    run_id = uuid.uuid4().hex
    name = f"monitor {ref.label}"
    store.create_run(run_id, store.experiment_id(experiment), writer.heartbeat_interval, name=name,
                     user=capture.current_user())
    writer.live_runs.add(run_id)
    run = Run(run_id, store, writer, name, experiment)
    with run:
        tags = {"mlops.kind": "monitor", "mlops.reference": ref.label,
                "mlops.dataset_drift": str(result.dataset_drift).lower()}
        if ref.model_tag:
            tags["mlops.model"] = ref.model_tag
        if result.missing_columns:
            tags["mlops.failed_check"] = f"columns missing from the current data: {', '.join(result.missing_columns)}"
        run.set_tags(tags)
        source = str(current) if isinstance(current, (str, Path)) else type(current).__name__
        run.log_params({"current": source, "current_rows": result.current_rows,
                        **{f"threshold.{k}": v for k, v in result.to_dict()["thresholds"].items()}})
        run.log_metrics(result.metrics())
        run.log_artifact(page, "drift_report.html")
        run.log_artifact(json.dumps(result.to_dict(), indent=1, default=str), "drift.json")
    return run_id

