"""A run's Markdown note, edited in the Run view: kept as the run's ``mlops.description`` tag,
and each edit recorded in the audit log under the authenticated user's name."""
from __future__ import annotations

from ..registry import audit
from .run_views import NOTE_TAG

MAX_NOTE = 10_000  # characters


def set_note(store, run_id: str, text: str, actor: str) -> dict:
    """Replace the note of ``run_id`` with ``text`` (empty clears it) as ``actor``."""
    uuid = store.resolve_run_id(run_id)
    previous = store.tags_of(uuid).get(NOTE_TAG, "")
    store.set_tags(uuid, {NOTE_TAG: text})
    audit.record(store, actor, "note", uuid, characters=len(text), previous_characters=len(previous))
    return {"run_id": uuid, "note": text, "actor": actor}
