"""The append-only audit log: who approved, rejected, exported or moved an alias, and when.

Entries are written in the same transaction as the change they describe, so the log never
claims a change that did not happen, nor misses one that did.
"""
from __future__ import annotations

import json

from sqlalchemy import insert, select

from ..tracking import schema as s
from ..tracking.store import now_ms, open_store


def append(conn, actor: str, action: str, subject: str, **details) -> None:
    """Add one entry inside the caller's transaction ``conn``."""
    conn.execute(insert(s.audit_log).values(
        created_at=now_ms(), actor=actor, action=action, subject=subject,
        details=json.dumps(details, sort_keys=True, default=str),
    ))


def record(store, actor: str, action: str, subject: str, **details) -> None:
    """Add one entry in a transaction of its own (for events that change nothing else)."""
    with store.writing() as conn:
        append(conn, actor, action, subject, **details)


def audit_log(subject: str | None = None, limit: int = 100, store=None, action: str | None = None) -> list[dict]:
    """The newest ``limit`` entries first; ``subject`` narrows to one run id or model (``name`` matches
    ``name``, ``name/N`` and ``name@alias``)."""
    store = store or open_store()
    a = s.audit_log
    stmt = select(a).order_by(a.c.id.desc()).limit(int(limit))
    if subject:
        stmt = stmt.where((a.c.subject == subject) | a.c.subject.startswith(subject + "/", autoescape=True)
                          | a.c.subject.startswith(subject + "@", autoescape=True))
    if action:
        stmt = stmt.where(a.c.action == action)
    with store.engine.connect() as conn:
        rows = conn.execute(stmt).mappings().all()
    return [{**row, "details": json.loads(row["details"])} for row in rows]
