"""Garbage in the store: deleted runs' rows, and artifact blobs no live run refers to any more.

Blobs are content-addressed and shared between runs, so a blob is garbage only when no run that
stays refers to it: the blobs of purged runs, and orphans that no run refers to at all (a run
row purged by hand, an upload whose run was never recorded). An orphan is taken only once it is
older than a grace period, since a run logging a file writes its blob a moment before its row.
Collecting purges the rows first, then reads what is referenced again and deletes only what is
still unreferenced: a run restored meanwhile keeps its blobs. What remains is the moment between
that read and a blob's deletion: a run logging byte-identical content right then finds the blob
still there and records it (an upload of new content is an orphan within the grace period).

Which deleted runs must stay (the registry's) is the caller's to say: tracking knows no registry.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import select

from . import lifecycle_states as states
from . import schema as s

DEFAULT_GRACE_SECONDS = 3600


@dataclass
class Blob:
    sha256: str
    size: int
    runs: list[str]  # the purged runs that referred to it; empty for an orphan


@dataclass
class Garbage:
    """What a collection takes (or, on a dry run, would take)."""

    runs: list[dict] = field(default_factory=list)  # run_id, name, experiment of each run to purge
    kept_runs: dict[str, str] = field(default_factory=dict)  # deleted run -> why it stays
    blobs: list[Blob] = field(default_factory=list)
    recent_orphans: int = 0  # unreferenced blobs younger than the grace period, left alone
    grace_seconds: float = DEFAULT_GRACE_SECONDS
    experiments: list[str] = field(default_factory=list)  # deleted experiments purged (when collected)
    collected: bool = False

    @property
    def bytes(self) -> int:
        return sum(b.size for b in self.blobs)


def find(store, keep: dict[str, str], grace_seconds: float = DEFAULT_GRACE_SECONDS) -> Garbage:
    """What is garbage now; ``keep`` maps deleted runs that must stay to the reason (shown)."""
    garbage = Garbage(grace_seconds=grace_seconds)
    with store.engine.connect() as conn:
        purged, garbage.kept_runs = purgeable(conn, keep)
        garbage.runs = _describe(conn, purged)
        live = live_digests(conn, purged)
        of_purged = _digests_of(conn, purged)
    cutoff = time.time() - grace_seconds
    for sha, size, modified in store.artifacts.iter_blobs():
        if sha in live:
            continue
        runs = of_purged.get(sha)
        if runs:
            garbage.blobs.append(Blob(sha, size, runs))
        elif modified is None or modified <= cutoff:
            garbage.blobs.append(Blob(sha, size, []))
        else:
            garbage.recent_orphans += 1
    garbage.blobs.sort(key=lambda b: (not b.runs, b.sha256))
    return garbage


def collect(store, garbage: Garbage, keep: dict[str, str], audit=None) -> Garbage:
    """Purge the rows of the deleted runs ``garbage`` names (those still deleted and not kept now),
    then delete its blobs that are still unreferenced. ``audit(conn, garbage)`` is called in the
    purge's transaction. Returns what was really collected."""
    wanted = {run["run_id"] for run in garbage.runs}
    with store.writing() as conn:
        purged, kept = purgeable(conn, keep)
        purged = [run for run in purged if run in wanted]
        done = Garbage(grace_seconds=garbage.grace_seconds, kept_runs=kept, recent_orphans=garbage.recent_orphans,
                       runs=[run for run in garbage.runs if run["run_id"] in set(purged)])
        states.purge_runs(conn, purged)
        done.experiments = states.purge_empty_deleted_experiments(conn)
        if audit is not None:
            audit(conn, done)
    with store.engine.connect() as conn:
        live = live_digests(conn, [])
    artifacts = store.artifacts
    for blob in garbage.blobs:
        if blob.sha256 not in live:
            artifacts.delete_blob(blob.sha256)
            done.blobs.append(blob)
    done.collected = True
    return done


def purgeable(conn, keep: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """The deleted runs whose rows can go, and the deleted runs that stay with the reason: those in
    ``keep``, and those a run that stays still names as its parent (a step restored on its own)."""
    deleted = states.deleted_runs(conn)
    kept = {run: why for run, why in keep.items() if run in set(deleted)}
    purged = [run for run in deleted if run not in kept]
    r = s.runs
    while True:
        children = []
        for part in states.chunks(purged):
            children += conn.execute(select(r.c.uuid, r.c.parent_uuid).where(r.c.parent_uuid.in_(part))).all()
        inside = set(purged)
        parents_kept = {parent: child for child, parent in children if child not in inside}
        if not parents_kept:
            return purged, kept
        for parent, child in parents_kept.items():
            kept[parent] = f"run {child[:8]}, which stays, is one of its steps or nested runs"
        purged = [run for run in purged if run not in parents_kept]


def live_digests(conn, purged: list[str]) -> set[str]:
    """Every blob digest a run other than ``purged`` refers to (deleted runs that stay count)."""
    a = s.artifacts
    rows = conn.execute(select(a.c.run_uuid, a.c.sha256)).all()
    purged = set(purged)
    return {sha for run, sha in rows if run not in purged}


def _digests_of(conn, runs: list[str]) -> dict[str, list[str]]:
    a = s.artifacts
    found: dict[str, list[str]] = {}
    for part in states.chunks(runs):
        for run, sha in conn.execute(select(a.c.run_uuid, a.c.sha256).where(a.c.run_uuid.in_(part))):
            found.setdefault(sha, []).append(run)
    return found


def _describe(conn, runs: list[str]) -> list[dict]:
    r, e = s.runs, s.experiments
    found = {}
    for part in states.chunks(runs):
        rows = conn.execute(select(r.c.uuid, r.c.name, e.c.name.label("experiment"))
                            .join(e, e.c.id == r.c.experiment_id).where(r.c.uuid.in_(part)))
        found.update({uuid: {"run_id": uuid, "name": name, "experiment": exp} for uuid, name, exp in rows})
    return [found[run] for run in runs if run in found]
