"""Export an approved run into a versioned model package; verify a package; load it back.

Package layout (a folder under ``<artifact root>/packages/NAME/VERSION``, optionally zipped)::

    MANIFEST                 sha256 of every other file (its own digest is kept by the registry)
    package.json             name, version, run id, format version, model file and format
    MLmodel, python_env.yaml MLflow's format, so mlflow.pyfunc.load_model works on the folder
    model/model.skops        the estimator (skops; pickle only with an explicit unsafe opt-in)
    model/signature.json     input columns and dtypes, output
    model/input_example.json
    model/model.onnx         when the model converts and agrees with scikit-learn (runtimes/onnx_export.py)
    requirements.txt         pinned from the run's captured environment; environment.json: all of it
    lineage.json             run, params, metrics, datasets, git, approval, pipeline upstream
    lineage/notebooks/...    the executed notebooks of the run and its pipeline upstream steps
    README.md, model_card.html
    reference_profile.json   per-column statistics of the training data, for monitoring

What makes a package trustworthy lives in the registry, not in the package: the manifest's
digest and the skops types to trust (see GHSA-w582-9x45-8mpx, where MLflow read them from
inside the package it was checking).

It runs past 400 lines on purpose: export, verify and load read and write the same layout and
manifest, and checking them side by side is how a hole between writer and checker gets seen.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from ..exceptions import (
    ApprovalRefusedError,
    InvalidInputError,
    InvalidNameError,
    ModelNotFoundError,
    PackageVerificationError,
)
from ..safe_names import safe_component, shown
from ..tracking import artifacts as blobs
from ..tracking import capture
from ..tracking import models as logged
from ..tracking.model_runs import model_run_of
from ..tracking.store import open_store
from . import approval, manifest, mlflow_format, model_card, safe_zip, versions
from .names import PATH_HINT, as_package_path, check_name, check_version, parse_ref
from .trusted_types import check_trust, refused_types

FORMAT_VERSION = 1
MODEL_SKOPS = "model/model.skops"
MODEL_PICKLE = "model/model.pkl"
# What loading a scikit-learn model with skops needs, besides the modules its types come from.
BASE_REQUIREMENTS = ("scikit-learn", "skops", "numpy", "scipy", "pandas", "joblib", "threadpoolctl")
# Modules whose distribution BASE_REQUIREMENTS already names (or that come with Python).
COVERED_MODULES = {"sklearn", "skops", "numpy", "scipy", "pandas", "joblib", "threadpoolctl", "builtins", "collections"}


def staging_root(store) -> Path:
    """Local folder where packages are built before they move (or upload) into the artifact store."""
    return store.artifact_root / "packages"


# -- export ------------------------------------------------------------------------------------
def export(run_id: str, name: str, by: str | None = None, zip: bool = False, trust: list[str] | None = None,
           unsafe_pickle: bool = False, store=None) -> dict:
    """Make the next version of model ``name`` from the approved run ``run_id``; returns the version.

    ``trust`` names exact skops types to trust beyond what scikit-learn's own models hold
    (registry/trusted_types.py); ``unsafe_pickle`` allows exporting a run whose model was only logged as pickle (loading it runs arbitrary code).
    """
    store = store or open_store()
    check_name(name)
    trust = check_trust(trust)
    run_id, _ = model_run_of(store, store.resolve_run_id(run_id))  # a pipeline run: its model's step
    decision = approval.get_approval(run_id, store=store)
    if decision is None or decision["decision"] != approval.APPROVED:
        why = "is not approved" if decision is None else \
            f"was rejected by {decision['actor']} ({decision['reason']})"
        raise ApprovalRefusedError(f"run {run_id} {why}; only approved runs are exported. Approve it with "
                                   f"`jupyter mlops approve {run_id[:8]} --by NAME --reason TEXT` (mlops.approve)")
    run = store.get_run(run_id)
    approval.refuse_deleted(run)
    actor = by or capture.current_user() or "unknown"
    root = staging_root(store)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".export-{name}-", dir=root))
    try:
        built = _build(store, run, decision, staging, trust, unsafe_pickle, label=f"{name} (run {run_id[:8]})")

        def finish(version: int) -> dict:
            (staging / "package.json").write_text(json.dumps(
                {"format_version": FORMAT_VERSION, "name": name, "version": version, "run_id": run_id,
                 "model_file": built["model_file"], "model_format": built["model_format"],
                 "onnx": built["onnx"].to_dict()}, indent=1))
            card_title = f"{name}/{version}"
            (staging / "README.md").write_text(model_card.markdown(card_title, built["lineage"], built["signature"]))
            (staging / "model_card.html").write_text(model_card.to_html(card_title, built["lineage"], built["signature"]))
            return {"manifest_digest": manifest.write_manifest(staging)}

        def place(version: int) -> None:
            store.artifacts.put_package(staging, name, version)

        fields = {"trusted_types": json.dumps(built["trusted_types"]), "model_format": built["model_format"],
                  "signature": json.dumps(built["signature"]), "metrics": json.dumps(run.metrics, sort_keys=True)}
        record = versions.register_version(
            store, name, run_id, lambda v: store.artifacts.package_uri(name, v), fields, actor, finish=finish, place=place)
        versions.set_version_tag(name, record["version"], "mlops.onnx", built["onnx"].tag, store=store)
        record["tags"]["mlops.onnx"] = built["onnx"].tag
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    if zip:
        record["zip"] = str(zip_package(record, store))
    return record


def zip_package(record: dict, store=None) -> Path:
    """``NAME-VERSION.zip`` beside a local package, or in the local staging folder for a remote one."""
    store = store or open_store()
    if store.artifacts.is_remote:
        folder = store.artifacts.fetch_package(record["package_uri"])
        try:
            return safe_zip.make_zip(folder, staging_root(store) / _zip_name(record))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    folder = Path(record["package_uri"])
    return safe_zip.make_zip(folder, folder.parent / _zip_name(record))


def _zip_name(record: dict) -> str:
    return safe_component(f"{record['name']}-{int(record['version'])}.zip")


def _build(store, run, decision: dict, staging: Path, trust: list[str], unsafe_pickle: bool, label: str) -> dict:
    files = {a["path"]: a for a in run.artifacts}
    if logged.MODEL_ARTIFACT in files:
        model_file, model_format = MODEL_SKOPS, "skops"
        _copy_blob(store, files[logged.MODEL_ARTIFACT], staging / MODEL_SKOPS)
        trusted = _trusted_types(staging / MODEL_SKOPS, trust)
    elif MODEL_PICKLE in files and unsafe_pickle:
        model_file, model_format, trusted = MODEL_PICKLE, "pickle", []
        _copy_blob(store, files[MODEL_PICKLE], staging / MODEL_PICKLE)
    else:
        hint = " (it has a pickle model: pass unsafe_pickle=True / --unsafe-pickle to accept it)" \
            if MODEL_PICKLE in files else ""
        raise InvalidInputError(f"run {run.uuid} has no model to export{hint}: log one in the notebook with "
                                "mlops.log_model(model, training_data=df) or mlops.autolog()")
    signature = _json_artifact(store, files, logged.SIGNATURE_ARTIFACT) or {"inputs": [], "outputs": []}
    for logical in (logged.SIGNATURE_ARTIFACT, logged.EXAMPLE_ARTIFACT):
        if logical in files:
            _copy_blob(store, files[logical], staging / logical)
    if logged.PROFILE_ARTIFACT in files:
        _copy_blob(store, files[logged.PROFILE_ARTIFACT], staging / "reference_profile.json")
    env = (store.environment(run.environment_hash) if run.environment_hash else None) or _current_environment()
    python_version = env["python_version"].split()[0]
    (staging / "requirements.txt").write_text(_requirements(env["packages"], trusted))
    (staging / "environment.json").write_text(json.dumps(env, indent=1, sort_keys=True, default=str))
    (staging / "python_env.yaml").write_text(_yaml(mlflow_format.python_env(python_version, env["packages"].get("pip"))))
    if model_format == "skops":
        (staging / "MLmodel").write_text(_yaml(mlflow_format.mlmodel(
            MODEL_SKOPS, signature, trusted, python_version, env["packages"].get("scikit-learn", "unknown"))))
    from ..runtimes import onnx_export

    onnx = onnx_export.add_to_package(staging, trusted, label) if model_format == "skops" else \
        onnx_export.skipped("not converted: pickle models are not converted")
    lineage = _lineage(store, run, decision, staging)
    (staging / "lineage.json").write_text(json.dumps(lineage, indent=1, sort_keys=True, default=str))
    return {"model_file": model_file, "model_format": model_format, "trusted_types": trusted,
            "signature": signature, "lineage": lineage, "onnx": onnx}


def _trusted_types(model_path: Path, trust: list[str]) -> list[str]:
    """The exact types the model needs trusted (recorded in the registry); each must be one that
    scikit-learn's own models hold (trusted_types.py) or be named in ``trust``."""
    import skops.io as sio

    needed = sio.get_untrusted_types(file=str(model_path))  # reads the schema only; runs nothing
    refused = refused_types(needed, trust)
    if refused:
        raise InvalidInputError(f"the model holds types that scikit-learn's own models do not: {', '.join(refused)}; "
                                "a function or class named here runs when the model predicts. If you trust it, "
                                "export with trust=[...] (--trust TYPE, once per type)")
    return sorted(needed)


def _requirements(installed: dict, trusted: list[str]) -> str:
    wanted = list(BASE_REQUIREMENTS)
    top_modules = {t.split(".")[0] for t in trusted} - COVERED_MODULES
    # packages_distributions() reads every installed package's file list (1.6 s of a 1.8 s export
    # here): only ask it about modules the base requirements do not cover.
    for module, dists in (metadata.packages_distributions().items() if top_modules else ()):
        if module in top_modules:
            wanted.extend(dists)
    lookup = {k.lower().replace("_", "-"): (k, v) for k, v in installed.items()}
    lines = ["# Pinned from the environment captured with the run; environment.json lists all of it."]
    for dist in dict.fromkeys(wanted):
        found = lookup.get(dist.lower().replace("_", "-"))
        lines.append(f"{found[0]}=={found[1]}" if found else dist)
    return "\n".join(lines) + "\n"


def _current_environment() -> dict:
    env = capture.environment()
    return {"python_version": env["python_version"], "platform": env["platform"], "packages": env["packages"],
            "note": "not captured with the run: the exporting process's environment"}


def _lineage(store, run, decision: dict, staging: Path) -> dict:
    notebooks = _copy_notebooks(store, run, staging, run.tags.get("mlops.step") or run.name or "run")
    upstream = []
    if run.parent_uuid and run.tags.get("mlops.kind") == "step":
        for step, sibling in _upstream_runs(store, run):
            upstream.append({"step": step, "run_id": sibling.uuid, "status": sibling.status,
                             "params": sibling.params, "notebooks": _copy_notebooks(store, sibling, staging, step),
                             "datasets": _datasets(sibling),
                             "outputs": json.loads(sibling.tags.get("mlops.outputs", "{}"))})
    hidden = ("mlops.traceback",)
    return {
        "run_id": run.uuid, "run_name": run.name, "experiment": run.experiment, "status": run.status,
        "start_time": run.start_time, "end_time": run.end_time, "user": run.user,
        "source_path": run.source_path, "source_hash": run.source_hash,
        "git_commit": run.git_commit, "git_dirty": run.git_dirty, "environment_hash": run.environment_hash,
        "params": run.params, "metrics": run.metrics,
        "tags": {k: v for k, v in run.tags.items() if k not in hidden},
        "datasets": _datasets(run),
        "notebooks": notebooks, "pipeline_run_id": run.parent_uuid, "upstream": upstream,
        "approval": {k: decision[k] for k in ("actor", "reason", "created_at", "metrics")},
    }


def _datasets(run) -> list[dict]:
    return [{k: d[k] for k in ("name", "fingerprint", "rows", "columns")} for d in run.datasets]


def _upstream_runs(store, run):
    """The latest successful run of each step upstream of ``run`` in the same pipeline run (transitively)."""
    from sqlalchemy import select

    from ..tracking import schema as s

    r = s.runs
    with store.engine.connect() as conn:  # one query for the siblings' tags, from their summaries
        siblings = conn.execute(select(r.c.uuid, r.c.summary).where(
            r.c.parent_uuid == run.parent_uuid, r.c.status.in_(("FINISHED", "CACHED"))).order_by(r.c.start_time)).all()
    by_step = {}  # step -> (run id, tags) of its latest successful run
    for uuid_, summary in siblings:
        tags = json.loads(summary).get("tags", {})
        if "mlops.step" in tags:
            by_step[tags["mlops.step"]] = (uuid_, tags)
    wanted, seen = list(json.loads(run.tags.get("mlops.upstream", "[]"))), set()
    while wanted:
        step = wanted.pop(0)
        if step in seen or step not in by_step:
            continue
        seen.add(step)
        uuid_, tags = by_step[step]
        yield step, store.get_run(uuid_)  # read in full only for the steps the lineage names
        wanted.extend(json.loads(tags.get("mlops.upstream", "[]")))


def _copy_notebooks(store, run, staging: Path, label: str) -> list[str]:
    """The run's notebooks under ``lineage/notebooks/<label>/``; the label (a step or run name) and the
    file names come from the store, so each is reduced to one safe path component."""
    copied = []
    folder = safe_component(label, "run")
    for art in run.artifacts:
        if art["path"].endswith(".ipynb"):
            rel = f"lineage/notebooks/{folder}/{safe_component(art['path'].rsplit('/', 1)[-1], 'notebook.ipynb')}"
            if not (staging / rel).exists():
                _copy_blob(store, art, staging / rel)
                copied.append(rel)
    return copied


def _copy_blob(store, art: dict, target: Path) -> None:
    try:
        source = store.artifacts.local_path(art["sha256"])
    except (OSError, InvalidInputError):  # a missing blob, or a forged digest
        source = None
    if source is None or not source.is_file() or blobs.sha256_file(source) != art["sha256"]:
        raise PackageVerificationError(f"artifact {art['path']!r} of the run is missing or damaged in the "
                                       f"artifact store ({source})", art["path"])
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def _json_artifact(store, files: dict, logical: str):
    if logical not in files:
        return None
    return json.loads(store.artifacts.read_bytes(files[logical]["sha256"]))


def _yaml(document: dict) -> str:
    import yaml

    return yaml.safe_dump(document, sort_keys=False)


# -- verify ------------------------------------------------------------------------------------
@dataclass
class VerifyResult:
    """Whether a package matches its registry record; ``problems`` name each file that does not."""

    ref: str | None
    path: str
    digest: str | None = None
    ok: bool = False
    problems: list[str] = field(default_factory=list)
    record: dict | None = None

    def raise_for_problems(self) -> None:
        if not self.ok:
            first = self.problems[0] if self.problems else "unknown problem"
            raise PackageVerificationError(f"package {self.ref or self.path} failed verification: "
                                           + "; ".join(self.problems), first.split(":")[0])


def verify(ref_or_path, store=None) -> VerifyResult:
    """Check a registered reference (``name``, ``name/3``, ``name@alias``), or a package folder or ``.zip``
    written as a path (``./x``, ``/abs/x``, ``file:x``, ``x.zip``), against the registry."""
    store = store or open_store()
    with _opened(ref_or_path, store) as (folder, record):
        return _verify_folder(folder, record)


def _verify_folder(folder: Path, record: dict | None) -> VerifyResult:
    result = VerifyResult(ref=record["ref"] if record else None, path=str(folder), record=record)
    try:
        result.digest = manifest.manifest_digest(folder)
        problems = manifest.check_files(folder)
    except PackageVerificationError as exc:
        result.problems.append(f"{exc.path}: {exc}")
        return result
    result.problems += [f"{rel}: {why}" for rel, why in problems]
    if record is None:
        result.problems.append("package.json: names no version registered in this store "
                               "(integrity alone cannot show who made it)")
    elif record["manifest_digest"] != result.digest:
        result.problems.append(f"MANIFEST: digest {result.digest[:12]} differs from the registry's "
                               f"{record['manifest_digest'][:12]} for {record['ref']}")
    result.ok = not result.problems
    return result


class _opened:
    """Context manager: ``(folder, registry record or None)`` for a reference, folder or zip.

    The one place a reference is resolved: ``name``, ``name/3`` and ``name@alias`` always mean the
    registry; a folder or zip only when written as a path (names.as_package_path)."""

    def __init__(self, ref_or_path, store):
        self.ref_or_path, self.store, self.tmp, self.fetched, self.zip = ref_or_path, store, None, None, None

    def __enter__(self):
        target = as_package_path(self.ref_or_path)
        if target is not None:
            try:
                is_file, is_dir = target.is_file(), target.is_dir()
            except OSError as exc:  # e.g. a file name too long
                raise InvalidInputError(f"cannot read the package path {shown(str(self.ref_or_path))}: "
                                        f"{exc.strerror}") from None
            if not (is_file or is_dir):
                raise ModelNotFoundError(f"no package folder or zip at {shown(str(self.ref_or_path))}")
            if is_file:
                self.tmp = tempfile.TemporaryDirectory(prefix="mlops-package-")
                self.zip = target
                target = safe_zip.extract(target, Path(self.tmp.name))
            return target, self._record_for(target)
        try:
            parse_ref(self.ref_or_path)
        except InvalidNameError as exc:
            raise InvalidNameError(f"{exc}; {PATH_HINT}") from None
        record = versions.get_version(self.ref_or_path, store=self.store)
        if self.store.artifacts.is_remote and "://" in record["package_uri"]:
            self.fetched = self.store.artifacts.fetch_package(record["package_uri"])
            return self.fetched, record
        return Path(record["package_uri"]), record

    def _record_for(self, folder: Path) -> dict | None:
        try:
            info = json.loads((folder / "package.json").read_text())
            return versions.get_version(f"{check_name(info['name'])}/{check_version(info['version'])}",
                                        store=self.store)
        except Exception:  # noqa: BLE001 - an unreadable package.json only means no registry record to show
            return None

    def __exit__(self, *exc):
        if self.tmp is not None:
            self.tmp.cleanup()
        if self.fetched is not None:
            shutil.rmtree(self.fetched, ignore_errors=True)


# -- load --------------------------------------------------------------------------------------
def load_model(ref_or_path, runtime: str | None = None, unsafe_pickle: bool = False, store=None):
    """Verify, then load: the model behind ``name``, ``name/3``, ``name@alias``, or a folder or zip written
    as a path. Nothing of the model runs before this: skops only builds it, from trusted types."""
    from .loaded import PackagedModel

    store = store or open_store()
    opened = _opened(ref_or_path, store)
    with opened as (folder, record):
        result = _verify_folder(folder, record)
        result.raise_for_problems()
        model = PackagedModel.open(folder, record, runtime=runtime, unsafe_pickle=unsafe_pickle)
    if opened.zip is not None:
        model.path = str(opened.zip)  # the zip: its unpacked copy is gone
    elif record is not None and "://" in record["package_uri"]:
        model.path = record["package_uri"]  # the remote package: its downloaded copy is gone
    return model

