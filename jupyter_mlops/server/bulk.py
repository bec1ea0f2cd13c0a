"""What the Experiment view does to the selected runs at once: archive, delete or restore them
(the registry's lifecycle rules: a run a model version was made from is never deleted; a
pipeline run takes its steps along), or set one tag on all of them. Each change is audited
under the authenticated user.
"""
from __future__ import annotations

from ..exceptions import InvalidInputError
from ..registry import audit, run_lifecycle
from ..tracking.run import checked_key
from .table import INTERNAL_TAG_PREFIX

MAX_RUNS = 1000  # runs per request
MAX_TAG_VALUE = 5000
ACTIONS = {
    "archive": run_lifecycle.archive_runs,
    "delete": run_lifecycle.delete_runs,
    "restore": run_lifecycle.restore_runs,
}


def run_ids(value) -> list[str]:
    """A request's list of run ids: strings, at least one, at most ``MAX_RUNS``."""
    if not isinstance(value, list) or not value:
        raise InvalidInputError("run_ids must be a non-empty list of run ids")
    if len(value) > MAX_RUNS:
        raise InvalidInputError(f"run_ids lists {len(value)} runs; at most {MAX_RUNS} are changed at once")
    if not all(isinstance(v, str) and v for v in value):
        raise InvalidInputError("run_ids must hold run ids (non-empty strings)")
    return value


def change_lifecycle(store, action: str, ids: list[str], actor: str) -> list[str]:
    """Archive, delete or restore ``ids`` (and their steps) as ``actor``; the ids that changed."""
    if action not in ACTIONS:
        raise InvalidInputError(f"action must be one of {', '.join(ACTIONS)}, got {action[:40]!r}")
    return ACTIONS[action](ids, by=actor, store=store)


def tag_runs(store, ids: list[str], key: str, value: str, actor: str) -> list[str]:
    """Set tag ``key`` to ``value`` on every run of ``ids``; the resolved ids."""
    key = checked_key("tag", key)
    if key.startswith(INTERNAL_TAG_PREFIX):
        raise InvalidInputError(f"tag {key[:60]!r}: tags starting with {INTERNAL_TAG_PREFIX!r} belong to "
                                "jupyter_mlops; choose another name")
    if len(value) > MAX_TAG_VALUE:
        raise InvalidInputError(f"tag value is {len(value)} characters long; at most {MAX_TAG_VALUE} are kept")
    uuids = list(dict.fromkeys(store.resolve_run_id(run_id) for run_id in ids))  # every id checked first
    for uuid in uuids:
        store.set_tags(uuid, {key: value})
        audit.record(store, actor, "tag", uuid, key=key, value=value[:200])
    return uuids
