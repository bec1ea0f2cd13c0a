"""Importing an MLflow store: ``jupyter mlops import mlflow --from ./mlruns | sqlite:///mlflow.db | http://host:5000``.

Read through the ``mlflow`` package's own client, so every kind of MLflow store reads the same
way. Each experiment becomes ours by name; each run keeps its id (both are 32 hex digits), name,
status, times, user, params, tags and every point of every metric; its artifacts go to our
artifact store by sha256. A registered model version becomes one of our model versions when its
model loads through skops (MLflow's default format) or, with ``unsafe_pickle``, from its pickle
(loading a pickle runs code: it is then stored as skops): its run is approved by the importer
(the gates apply) and exported. Versions that cannot become packages are listed with the reason.
Aliases follow their versions.

Idempotent: a run already in the store (by id) and a version already imported (tag
``mlops.imported_from``) are skipped, so importing twice imports nothing new. A run is tagged
complete last; a run found without that tag was cut short and is reported, never imported twice.
"""
from __future__ import annotations

import contextlib
import json
import os
import pickle
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from ..exceptions import InvalidInputError, MlopsError, RunNotFoundError
from ..extras import require
from ..tracking import artifacts as blobs
from ..tracking import capture
from ..tracking import schema as s
from ..tracking.models import MODEL_ARTIFACT, SIGNATURE_ARTIFACT, UNTRUSTED_TAG, skops_bytes
from ..tracking.store import open_store
from . import approval, package, versions
from .names import check_name

IMPORTED_TAG = "mlops.imported_from"
COMPLETE_TAG = "mlops.import_complete"
HEARTBEAT_INTERVAL_S = 10.0
STATUSES = {"RUNNING": "RUNNING", "SCHEDULED": "RUNNING", "FINISHED": "FINISHED", "FAILED": "FAILED",
            "KILLED": "KILLED"}
POINTS_PER_INSERT = 100_000
PROGRESS_BARS = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
ALLOW_FILE_STORE = "MLFLOW_ALLOW_FILE_STORE"
PAGE = 1000


@dataclass
class ImportReport:
    """What an import did; ``str()`` is the summary the CLI prints."""

    source: str
    experiments: list[str] = field(default_factory=list)
    runs: int = 0
    runs_present: int = 0
    points: int = 0
    artifacts: int = 0
    versions: list[str] = field(default_factory=list)
    versions_present: int = 0
    not_packaged: list[tuple[str, str]] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def nothing_new(self) -> bool:
        return not (self.runs or self.versions or self.aliases)

    def __str__(self) -> str:
        lines = [(f"from {self.source}: {len(self.experiments)} experiment(s) ({', '.join(self.experiments) or 'none'}), "
                  f"{self.runs} run(s) imported ({self.runs_present} already here), {self.points} metric points, "
                  f"{self.artifacts} artifact file(s); {len(self.versions)} model version(s) packaged "
                  f"({self.versions_present} already here), {len(self.aliases)} alias(es) set")]
        lines += [f"  packaged {v}" for v in self.versions]
        lines += [f"  alias {a}" for a in self.aliases]
        lines += [f"  not packaged {ref}: {why}" for ref, why in self.not_packaged]
        lines += [f"  problem: {p}" for p in self.problems]
        if self.nothing_new:
            lines.append("nothing new to import")
        return "\n".join(lines)


def source_uri(source: str) -> str:
    """An MLflow tracking URI for ``source``: a folder (``./mlruns``) becomes ``file://``."""
    source = str(source).strip()
    if "://" in source:
        if not source.startswith(("sqlite:", "postgresql", "mysql", "http://", "https://", "file://")):
            raise InvalidInputError(f"--from {source[:100]!r}: give an mlruns folder, an sqlite:/// or database URL, "
                                    "or an http(s):// MLflow server")
        return source
    folder = Path(source).expanduser().resolve()
    if not folder.is_dir():
        raise InvalidInputError(f"--from {source!r}: no such folder (an MLflow file store is a folder like ./mlruns)")
    return folder.as_uri()


@contextlib.contextmanager
def _mlflow_pointed_at(uri: str):
    """MLflow's process-wide tracking and registry URIs set to ``uri`` for the import, then put back."""
    mlflow = require("mlflow", "importing from MLflow")
    tracking, registry = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    # One progress bar per downloaded file otherwise; and MLflow 3 refuses its file store unless
    # allowed: reading an old ./mlruns is what an import is for.
    settings = {PROGRESS_BARS: "false", **({ALLOW_FILE_STORE: "true"} if uri.startswith("file:") else {})}
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield mlflow
    finally:
        mlflow.set_tracking_uri(tracking)
        mlflow.set_registry_uri(registry)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def import_mlflow(source: str, experiment: str | None = None, unsafe_pickle: bool = False, by: str | None = None,
                  store=None) -> ImportReport:
    """Import experiments, runs, metric histories, artifacts, registered model versions and aliases."""
    store = store or open_store()
    uri = source_uri(source)
    actor = by or capture.current_user() or "unknown"
    report = ImportReport(source=source)
    with _mlflow_pointed_at(uri) as mlflow:
        from mlflow.entities import ViewType
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        found = client.search_experiments(view_type=ViewType.ACTIVE_ONLY)
        chosen = [e for e in found if experiment is None or e.name == experiment]
        if experiment is not None and not chosen:
            names = ", ".join(sorted(e.name for e in found)[:20]) or "none"
            raise InvalidInputError(f"no experiment {experiment!r} in {source} (it has: {names})")
        run_ids: set[str] = set()
        for exp in chosen:
            report.experiments.append(exp.name)
            experiment_id = store.experiment_id(exp.name)
            for run in _runs_of(client, exp.experiment_id, ViewType.ACTIVE_ONLY):
                run_ids.add(run.info.run_id)
                _import_run(client, store, run, experiment_id, uri, report)
        _import_models(mlflow, client, store, run_ids, unsafe_pickle, actor, report)
    return report


def _runs_of(client, experiment_id: str, view):
    """Every run of the experiment, oldest first (a parent before its nested runs)."""
    token = None
    runs = []
    while True:
        page = client.search_runs([experiment_id], run_view_type=view, max_results=PAGE, page_token=token,
                                  order_by=["attributes.start_time ASC"])
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _import_run(client, store, run, experiment_id: int, uri: str, report: ImportReport) -> None:
    info, data = run.info, run.data
    run_id = info.run_id
    try:
        present = store.tags_of(store.resolve_run_id(run_id)) if len(run_id) == 32 else None
    except RunNotFoundError:
        present = None
    if present is not None:
        report.runs_present += 1
        if COMPLETE_TAG not in present:
            report.problems.append(f"run {run_id} was imported only in part before; delete it "
                                   "(jupyter mlops runs delete, then gc --yes) and import again")
        return
    if len(run_id) != 32 or not all(c in "0123456789abcdef" for c in run_id):
        report.problems.append(f"run id {run_id[:40]!r} is not 32 hex digits; skipped")
        return
    tags = dict(data.tags)
    fields = {"name": (info.run_name or tags.get("mlflow.runName") or run_id[:8])[:255], "user": info.user_id or None,
              "source_path": tags.get("mlflow.source.name") or None,
              "git_commit": (tags.get("mlflow.source.git.commit") or "")[:64] or None}
    parent = tags.get("mlflow.parentRunId")
    if parent:
        with contextlib.suppress(RunNotFoundError):
            fields["parent_uuid"] = store.resolve_run_id(parent) if len(parent) == 32 else None
    store.create_run(run_id, experiment_id, HEARTBEAT_INTERVAL_S, **{k: v for k, v in fields.items() if v is not None})
    end = info.end_time or None
    store.update_run(run_id, status=STATUSES.get(info.status, "FINISHED"), start_time=info.start_time or 0,
                     end_time=end, heartbeat=end or info.start_time or 0)
    store.set_params(run_id, dict(data.params))
    store.set_tags(run_id, {**tags, IMPORTED_TAG: f"mlflow {uri} run {run_id}"})
    key = s.run_key(run_id)
    for name in data.metrics:
        points = [(key, run_id, name, m.step, None if m.value != m.value else m.value, m.timestamp)
                  for m in client.get_metric_history(run_id, name)]
        for start in range(0, len(points), POINTS_PER_INSERT):
            store.insert_metrics(points[start:start + POINTS_PER_INSERT])
        report.points += len(points)
    for item in getattr(run.inputs, "dataset_inputs", None) or []:
        dataset = item.dataset
        store.add_dataset(run_id, dataset.name[:255], (dataset.digest or "")[:64], 0, 0, {})
    with tempfile.TemporaryDirectory(prefix="mlflow-import-") as folder:
        for path in _artifact_files(client, run_id):
            local = client.download_artifacts(run_id, path, folder)
            sha, size = store.artifacts.put_file(local)
            store.add_artifact(run_id, path, sha, size, blobs.media_type_of(path))
            os.unlink(local)
            report.artifacts += 1
    store.set_tags(run_id, {COMPLETE_TAG: "true"})
    report.runs += 1


def _artifact_files(client, run_id: str, path: str | None = None):
    for item in client.list_artifacts(run_id, path):
        if item.is_dir:
            yield from _artifact_files(client, run_id, item.path)
        else:
            yield item.path


# -- registered models ------------------------------------------------------------------------
def _import_models(mlflow, client, store, run_ids: set[str], unsafe_pickle: bool, actor: str,
                   report: ImportReport) -> None:
    for model in _registered_models(client):
        ours: dict[str, int] = dict(_imported_versions(store, model.name))
        for version in sorted(client.search_model_versions(f"name='{_quoted(model.name)}'"), key=lambda v: int(v.version)):
            ref = f"{model.name}/{version.version}"
            if version.run_id not in run_ids:
                continue  # its run is not in the experiments being imported
            if ref in ours:
                report.versions_present += 1
                continue
            try:
                record = _package(mlflow, store, model.name, version, unsafe_pickle, actor)
            except (MlopsError, OSError) as exc:
                report.not_packaged.append((ref, str(exc)))
                continue
            ours[ref] = record["version"]
            report.versions.append(f"{model.name}/{record['version']} <- MLflow {ref}")
        for alias, mlflow_version in sorted((getattr(model, "aliases", None) or {}).items()):
            target = ours.get(f"{model.name}/{mlflow_version}")
            if target is None:
                continue
            current = _alias_target(store, model.name, alias)
            if current != target:
                versions.set_alias(model.name, target, alias, by=actor, store=store)
                report.aliases.append(f"{model.name}@{alias.lower()} -> {target}")


def _registered_models(client):
    token = None
    while True:
        page = client.search_registered_models(max_results=PAGE, page_token=token)
        yield from page
        token = page.token
        if not token:
            return


def _quoted(name: str) -> str:
    return name.replace("'", "\\'")


def _imported_versions(store, name: str):
    """``("mlflow name/version", our version)`` of the versions imported before."""
    t = s.model_version_tags
    with store.engine.connect() as conn:
        rows = conn.execute(select(t.c.value, t.c.version).where(t.c.name == name, t.c.key == IMPORTED_TAG)).all()
    for value, ours in rows:
        yield value.removeprefix("mlflow:"), ours


def _alias_target(store, name: str, alias: str) -> int | None:
    a = s.model_aliases
    with store.engine.connect() as conn:
        return conn.execute(select(a.c.version).where(a.c.name == name, a.c.alias == alias.lower())).scalar()


def _package(mlflow, store, name: str, version, unsafe_pickle: bool, actor: str) -> dict:
    """Put the version's model on its run as skops, approve the run as the importer, export it."""
    check_name(name)
    with tempfile.TemporaryDirectory(prefix="mlflow-model-") as folder:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=version.source, dst_path=folder))
        data, untrusted = _model_as_skops(local, unsafe_pickle)
        signature = _signature(local)
    run = store.get_run(version.run_id)
    sha, size = store.artifacts.put_bytes(data)
    store.add_artifact(run.uuid, MODEL_ARTIFACT, sha, size, blobs.media_type_of(MODEL_ARTIFACT))
    if signature is not None:
        sha, size = store.artifacts.put_bytes(json.dumps(signature, indent=1).encode())
        store.add_artifact(run.uuid, SIGNATURE_ARTIFACT, sha, size, blobs.media_type_of(SIGNATURE_ARTIFACT))
    store.set_tags(run.uuid, {UNTRUSTED_TAG: json.dumps(untrusted)})
    why = f"imported from MLflow: {name} version {version.version}"
    decision = approval.get_approval(run.uuid, store=store)
    if decision is None or decision["decision"] != approval.APPROVED:
        approval.approve(run.uuid, by=actor, reason=why, store=store)
    record = package.export(run.uuid, name, by=actor, store=store)
    versions.set_version_tag(name, record["version"], IMPORTED_TAG, f"mlflow:{name}/{version.version}", store=store)
    return record


# MLflow's column types (ColSpec) as the pandas dtypes of our signatures.
COLUMN_DTYPES = {"double": "float64", "float": "float32", "long": "int64", "integer": "int32", "boolean": "bool",
                 "string": "object", "binary": "object", "datetime": "datetime64[ns]"}


def _signature(folder: Path) -> dict | None:
    """The model's input columns from MLflow's signature (a column-based one), as our signature.json."""
    import yaml

    document = yaml.safe_load((folder / "MLmodel").read_text()) or {}
    try:
        inputs = json.loads((document.get("signature") or {}).get("inputs") or "[]")
    except (TypeError, ValueError):
        return None
    columns = [{"name": str(c["name"]), "dtype": COLUMN_DTYPES[c["type"]]} for c in inputs
               if isinstance(c, dict) and c.get("name") is not None and c.get("type") in COLUMN_DTYPES]
    if not columns or len(columns) != len(inputs):
        return None  # a tensor signature, or unnamed columns: no signature rather than a wrong one
    return {"inputs": columns, "outputs": []}


def _model_as_skops(folder: Path, unsafe_pickle: bool) -> tuple[bytes, list[str]]:
    """The model of an MLflow model folder as skops bytes (and its untrusted types), or why not."""
    import yaml

    mlmodel = folder / "MLmodel"
    if not mlmodel.is_file():
        raise InvalidInputError("its artifacts have no MLmodel file")
    flavors = (yaml.safe_load(mlmodel.read_text()) or {}).get("flavors") or {}
    sklearn = flavors.get("sklearn")
    if not isinstance(sklearn, dict):
        raise InvalidInputError(f"it has no scikit-learn flavor (flavors: {', '.join(sorted(flavors)) or 'none'})")
    fmt = sklearn.get("serialization_format", "cloudpickle")
    model_file = folder / str(sklearn.get("pickled_model", "model.skops" if fmt == "skops" else "model.pkl"))
    if not model_file.resolve().is_relative_to(folder.resolve()) or not model_file.is_file():
        raise InvalidInputError(f"its model file {sklearn.get('pickled_model')!r} is missing")
    if fmt == "skops":
        import skops.io as sio

        data = model_file.read_bytes()
        try:
            untrusted = sio.get_untrusted_types(data=data)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is a reason, not a crash
            raise InvalidInputError(f"its skops file does not load: {exc}") from None
        return data, untrusted
    if not unsafe_pickle:
        raise InvalidInputError(f"its model is a {fmt} file, and loading one runs code: pass --unsafe-pickle "
                                "(unsafe_pickle=True) to import it (it is then stored as skops)")
    with open(model_file, "rb") as fh:
        estimator = pickle.load(fh)  # the user asked for it (--unsafe-pickle)
    return skops_bytes(estimator)
