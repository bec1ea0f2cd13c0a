"""Approving or rejecting a run: the human decision that lets a run become a model version.

The record keeps who decided, when, why, and the run's metrics at that moment (they can still
change later if the run is attached again). Gates from ``[tool.jupyter_mlops.approval]`` are
filter-language rules the run must match, checked by the same SQL as ``search_runs``.
"""
from __future__ import annotations

import json
import warnings

from sqlalchemy import func, select, update

from .. import config
from ..exceptions import ApprovalRefusedError, FilterSyntaxError, InvalidInputError
from ..tracking import capture, lifecycle_states
from ..tracking import schema as s
from ..tracking.model_runs import model_run_of
from ..tracking.search import select_runs
from ..tracking.store import now_ms, open_store
from . import audit, gates

APPROVED, REJECTED = "approved", "rejected"
# Aliases that mean "serving now": rejecting a run behind one of them needs force=True (--force).
LIVE_ALIASES = ("production",)


def approve(run_id: str, by: str | None = None, reason: str = "", store=None) -> dict:
    """Approve a finished run after checking the project's gates; approving twice is a no-op.

    Only a run with a model can be approved; a pipeline run stands for its best step (or its only
    step with a model), and the decision's ``note`` says which run was taken."""
    store = store or open_store()
    given = store.get_run(store.resolve_run_id(run_id))
    if given.status != "FINISHED":  # said first: a run still RUNNING may not have logged its model yet
        raise ApprovalRefusedError(f"run {given.id} is {given.status}: only a FINISHED run can be approved")
    run_id, note = model_run_of(store, given.id)
    run = given if run_id == given.id else store.get_run(run_id)
    refuse_deleted(given)
    refuse_deleted(run)
    check_separate_duties(store, by, {given.id, run_id})
    if run.status != "FINISHED":
        raise ApprovalRefusedError(f"run {run_id} is {run.status}: only a FINISHED run can be approved")
    failed = failing_gate(store, run_id, run.metrics)
    if failed:
        rule, where, why = failed
        raise ApprovalRefusedError(f"run {run_id} fails the approval gate {rule!r} ({where}); "
                                   + (why if why else f"its metrics: {_brief(run.metrics)}"))
    decision = _decide(store, run_id, APPROVED, by, reason, run.metrics)
    return {**decision, "note": note} if note else decision


def refuse_deleted(run) -> None:
    """A deleted run waits for ``gc`` to purge it: it can become a model version only once restored."""
    if run.lifecycle == lifecycle_states.DELETED:
        raise ApprovalRefusedError(f"run {run.id} is deleted; restore it first: jupyter mlops runs restore {run.id[:8]}")


def reject(run_id: str, by: str | None = None, reason: str = "", force: bool = False, store=None) -> dict:
    """Record that a run must not be exported (an approved run can be rejected later, and back).

    A run whose model version is in production is refused unless ``force``: rejecting it does not
    take it out of serving, and the decision should be made knowing that. Forced, it warns."""
    store = store or open_store()
    run_id, _ = model_run_of(store, store.resolve_run_id(run_id))
    if not str(reason).strip():
        raise InvalidInputError("reject: give a reason, so the next reader knows what was wrong")
    live = live_versions(store, run_id)
    if live:
        where = ", ".join(live)
        if not force:
            raise ApprovalRefusedError(f"run {run_id} is {where}: rejecting it does not stop it being served; "
                                       "move the alias first, or pass force=True (--force) to reject it anyway")
        warnings.warn(f"rejecting run {run_id}, which is {where}; it stays there until the alias moves",
                      stacklevel=2)
    return _decide(store, run_id, REJECTED, by, reason, store.get_run(run_id).metrics,
                   **({"live": live} if live else {}))


_separate_duties_default = False


def separate_duties_by_default(on: bool) -> None:
    """``jupyter mlops server`` turns separation of duties on unless the project's setting says otherwise."""
    global _separate_duties_default
    _separate_duties_default = bool(on)


def separate_duties() -> bool:
    """``separate_duties`` of ``[tool.jupyter_mlops.approval]``; unset: on in server mode, else off."""
    settings = config.project_settings()
    value = settings.get("approval", {}).get("separate_duties")
    if value is None:
        return _separate_duties_default
    if not isinstance(value, bool):
        raise InvalidInputError(f"[tool.jupyter_mlops.approval] separate_duties in "
                                f"{settings.get('_pyproject', 'pyproject.toml')}: expected true or false, got {value!r}")
    return value


def check_separate_duties(store, by: str | None, run_ids) -> None:
    """Refuse an approval by the user who started the run (or the pipeline run it stands for)."""
    if not separate_duties():
        return
    actor = by or capture.current_user() or "unknown"
    for run_id in sorted(run_ids):
        if store.get_run(run_id).user == actor:
            raise ApprovalRefusedError(f"{actor} started run {run_id} and cannot approve it (separation of duties: "
                                       "[tool.jupyter_mlops.approval] separate_duties); another approver must")


def live_versions(store, run_id: str) -> list[str]:
    """``name@alias`` (``name/N``) of every live alias (LIVE_ALIASES) pointing at a version of ``run_id``."""
    mv, a = s.model_versions, s.model_aliases
    with store.engine.connect() as conn:
        rows = conn.execute(select(a.c.name, a.c.alias, a.c.version).join(
            mv, (mv.c.name == a.c.name) & (mv.c.version == a.c.version)).where(
            mv.c.run_uuid == run_id, func.lower(a.c.alias).in_(LIVE_ALIASES))
            .order_by(a.c.name, a.c.alias)).all()
    return [f"{name}@{alias.lower()} ({name}/{version})" for name, alias, version in rows]


def get_approval(run_id: str, store=None) -> dict | None:
    store = store or open_store()
    run_id = store.resolve_run_id(run_id)
    with store.engine.connect() as conn:
        return _read(conn, run_id)


def gate_rules() -> tuple[list[str], str]:
    """The ``require`` rules of ``[tool.jupyter_mlops.approval]`` and where they come from."""
    settings = config.project_settings()
    rules = settings.get("approval", {}).get("require", [])
    where = f"[tool.jupyter_mlops.approval] require in {settings.get('_pyproject', 'pyproject.toml')}"
    if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
        raise InvalidInputError(f"{where}: expected a list of filter strings, got {rules!r}")
    return rules, where


def failing_gate(store, run_id: str, metrics: dict | None = None) -> tuple[str, str, str | None] | None:
    """The first gate rule the run does not match, where it is configured and why (for a metric gate:
    the deciding slice); None when all pass. Aggregates over slices (``min(slice.*.recall) >= 0.8``)
    and evaluation keys (``fairness.demographic_parity_difference <= 0.1``) are gates.py's."""
    rules, where = gate_rules()
    for rule in rules:
        gate = gates.parse(rule)
        if gate is not None:
            why = gate.failure(store.get_run(run_id).metrics if metrics is None else metrics)
            if why:
                return rule, where, why
            continue
        try:
            stmt = select_runs(store, filter=rule).where(s.runs.c.uuid == run_id)
        except FilterSyntaxError as exc:
            raise InvalidInputError(f"{where}: {exc}") from exc
        with store.engine.connect() as conn:
            if conn.execute(stmt).first() is None:
                return rule, where, None
    return None


def _decide(store, run_id: str, decision: str, by: str | None, reason: str, metrics: dict, **details) -> dict:
    actor = by or capture.current_user() or "unknown"
    row = {"run_uuid": run_id, "decision": decision, "actor": actor, "reason": str(reason),
           "metrics": json.dumps(metrics, sort_keys=True), "created_at": now_ms()}
    with store.writing() as conn:
        current = _read(conn, run_id)
        if current and current["decision"] == decision:
            return current  # idempotent: the first decision stands
        if current is None:
            if not store.insert_if_absent(conn, s.approvals, row, ("run_uuid",)):
                # Another process decided between our read and our insert.
                current = _read(conn, run_id)
                if current["decision"] == decision:
                    return current
                conn.execute(update(s.approvals).where(s.approvals.c.run_uuid == run_id).values(**row))
        else:
            conn.execute(update(s.approvals).where(s.approvals.c.run_uuid == run_id).values(**row))
        audit.append(conn, actor, "approve" if decision == APPROVED else "reject", run_id,
                     reason=str(reason), metrics=metrics, **details)
        return _read(conn, run_id)


def _read(conn, run_id: str) -> dict | None:
    a = s.approvals
    row = conn.execute(select(a).where(a.c.run_uuid == run_id)).mappings().first()
    if row is None:
        return None
    return {"run_id": row["run_uuid"], "decision": row["decision"], "actor": row["actor"],
            "reason": row["reason"], "metrics": json.loads(row["metrics"]), "created_at": row["created_at"]}


def _brief(metrics: dict) -> str:
    """The run's own metrics; an evaluation's per-slice keys would make the line hundreds of entries long."""
    own = {k: v for k, v in metrics.items() if not k.startswith(gates.NAMESPACES)}
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(own.items())) or "none"
