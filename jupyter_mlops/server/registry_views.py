"""The Models panel's reads and actions, as calls into ``jupyter_mlops.registry``.

Thin on purpose: approvals, versions, aliases and verification are the registry's job; this
module only shapes its answers for JSON (times stay integer milliseconds, NaN becomes null).
"""
from __future__ import annotations

import json
from pathlib import Path

from ..exceptions import InvalidInputError
from .queries import json_safe

# The package's model card (registry/model_card.py writes it as README.md).
MODEL_CARD_NAMES = ("README.md",)
MAX_LIMIT = 1000  # entries of a list (audit log, pending approvals) per request


def approval_of(store, run_id: str) -> dict | None:
    from ..registry import approval

    return json_safe(approval.get_approval(run_id, store=store))


def decide(store, run_id: str, decision: str, actor: str | None, reason: str, force: bool = False) -> dict:
    """Approve or reject as ``actor`` (None: the registry's default, the server's own user).
    ``force`` confirms rejecting a run whose version is in production."""
    from ..registry import approval

    if decision == "approve":
        return json_safe(approval.approve(run_id, actor, reason, store=store))
    return json_safe(approval.reject(run_id, actor, reason, force=force, store=store))


def default_actor() -> str:
    """The actor the registry records when none is given (the OS user, as for the CLI)."""
    from ..tracking import capture

    return capture.current_user() or "unknown"


def check_limit(limit: int) -> int:
    """``limit`` for a list; a negative one is refused, never read as "no limit"."""
    limit = int(limit)
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    return limit


def pending_approvals(store, limit: int = 50) -> list[dict]:
    """Finished runs that logged a model (``mlops.log_model``) and have no approval decision yet, newest first."""
    from sqlalchemy import exists, select

    limit = check_limit(limit)

    from ..tracking import schema as s
    from ..tracking.models import MODEL_ARTIFACT

    r, e, a, ap, lm = s.runs, s.experiments, s.artifacts, s.approvals, s.latest_metrics
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(r.c.uuid, r.c.name, e.c.name.label("experiment"), r.c.start_time)
            .join(e, e.c.id == r.c.experiment_id)
            .where(exists().where(a.c.run_uuid == r.c.uuid, a.c.path == MODEL_ARTIFACT))
            .where(~exists().where(ap.c.run_uuid == r.c.uuid))
            .where(r.c.status == "FINISHED")
            .order_by(r.c.start_time.desc())
            .limit(limit)
        ).mappings().all()
        ids = [row["uuid"] for row in rows]
        metrics: dict[str, dict] = {}
        if ids:
            for run_id, key, value in conn.execute(select(lm.c.run_uuid, lm.c.key, lm.c.value).where(lm.c.run_uuid.in_(ids))):
                metrics.setdefault(run_id, {})[key] = value
    return json_safe([{"run_id": row["uuid"], "name": row["name"], "experiment": row["experiment"],
                    "start_time": row["start_time"], "metrics": metrics.get(row["uuid"], {})}
                   for row in rows])


def models(store) -> list[dict]:
    from ..registry import versions

    return json_safe(versions.list_models(store=store))


def versions(store, name: str) -> list[dict]:
    from ..registry import versions as v

    return json_safe(v.list_versions(name, store=store))


def aliases_of(store, name: str) -> dict:
    for model in models(store):
        if model["name"] == name:
            return model.get("aliases", {})
    return {}


def version_detail(store, name: str, version: int) -> dict:
    """One version with its model card (the package's markdown card, when it has one)."""
    from ..registry import versions as v

    detail = json_safe(v.get_version(f"{name}/{version}", store=store))
    detail["card"] = model_card(detail.get("package_uri"))
    return detail


def model_card(package_uri: str | None) -> str | None:
    if not package_uri:
        return None
    folder = Path(package_uri.removeprefix("file://"))
    if not folder.is_dir():
        return None
    for candidate in MODEL_CARD_NAMES:
        path = folder / candidate
        if path.is_file():
            return path.read_text(encoding="utf-8", errors="replace")
    return None


def verify(store, name: str, version: int) -> dict:
    from ..registry import package

    result = package.verify(f"{name}/{version}", store=store)
    return {"ok": bool(result.ok), "problems": list(result.problems), "digest": result.digest}


def set_alias(store, name: str, version: int, alias: str, actor: str) -> None:
    from ..registry import versions as v

    v.set_alias(name, version, alias, actor, store=store)


def audit(store, subject: str | None, limit: int) -> list[dict]:
    from ..registry import audit as log

    entries = log.audit_log(subject=subject, limit=check_limit(limit), store=store)
    for entry in entries:
        if isinstance(entry.get("details"), str):
            try:
                entry["details"] = json.loads(entry["details"])
            except json.JSONDecodeError:
                pass
    return json_safe(entries)
