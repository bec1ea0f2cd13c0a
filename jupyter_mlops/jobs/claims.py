"""Exactly once: the transactions by which schedulers turn due times into occurrences and take them.

Two steps, each one transaction, safe with any number of schedulers on one store:

1. :func:`plan_due` locks the due schedules' rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the
   store's exclusive write transaction on SQLite), inserts one occurrence per fire time chosen by
   the catch-up policy (``INSERT ... ON CONFLICT DO NOTHING`` on the unique (schedule, scheduled
   time)) and moves ``next_fire_at`` past now. A time is inserted once, whoever plans it.
2. :func:`claim` takes PENDING occurrences (``SKIP LOCKED`` again, then a compare-and-set on the
   state), applying the overlap policy under the schedule's row lock, so two schedulers never
   both decide that "nothing is running".

A claim carries a lease its scheduler renews (:func:`renew`); an expired lease means that
scheduler is gone, and :func:`recover_expired` hands its occurrences to the others. Every
transition goes through a compare-and-set on (id, state, claimed_by, attempt), so a late
writer can never overwrite what another scheduler decided.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

from sqlalchemy import and_, select, update

from ..tracking import schema as s
from . import cron
from .schedules import ACTIVE, Schedule

# How late an occurrence may start and still count as on time under ``catchup: none``.
MISFIRE_GRACE_MS = 60_000
# How many PENDING occurrences one claim transaction looks at, per free slot.
LOOK_AHEAD = 4


def retry_delay_ms(attempt: int) -> int:
    """Wait before retry ``attempt`` (1, 2, ...): MLOPS_SCHEDULE_RETRY_DELAY seconds (default 60),
    doubling each time, at most an hour. Read when needed, so a test or a deployment can set it."""
    base = float(os.environ.get("MLOPS_SCHEDULE_RETRY_DELAY", "60"))
    return int(min(3600.0, base * 2 ** max(0, attempt - 1)) * 1000)


@dataclass
class Claimed:
    """An occurrence a scheduler holds: what to run and which attempt it is."""

    id: int
    schedule: Schedule
    scheduled_time: int
    attempt: int  # the attempt about to start (1 for the first)
    note: str | None


def anything_due(store, now_ms: int) -> bool:
    """A cheap read first, so idle schedulers do not take the write lock on every tick."""
    t, o = s.schedules, s.schedule_occurrences
    with store.engine.connect() as conn:
        if conn.execute(select(t.c.id).where(t.c.paused.is_(False), t.c.next_fire_at <= now_ms).limit(1)).first():
            return True
        return conn.execute(select(o.c.id).where(o.c.state == "PENDING", o.c.not_before <= now_ms).limit(1)).first() \
            is not None


def plan_due(store, now_ms: int, grace_ms: int = MISFIRE_GRACE_MS) -> int:
    """Record the occurrences due by ``now_ms`` (per catch-up policy) and advance each schedule; how many."""
    t = s.schedules
    created = 0
    with store.writing() as conn:
        rows = conn.execute(select(t).where(t.c.paused.is_(False), t.c.next_fire_at <= now_ms)
                            .order_by(t.c.id).with_for_update(skip_locked=True)).mappings().all()
        for row in rows:
            schedule = Schedule.from_row(row)
            times, dropped = cron.fire_times(schedule.cron, schedule.timezone, schedule.next_fire_at, now_ms)
            for at, state, note in _chosen(schedule, times, dropped, now_ms, grace_ms):
                created += _insert_occurrence(store, conn, schedule.id, at, state, note, now_ms)
            conn.execute(update(t).where(t.c.id == schedule.id, t.c.next_fire_at == schedule.next_fire_at)
                         .values(next_fire_at=cron.next_after(schedule.cron, schedule.timezone, now_ms)))
    return created


def _chosen(schedule: Schedule, times: list[int], dropped: bool, now_ms: int, grace_ms: int):
    """(time, state, note) of each occurrence to record; missed ones are summed up in a note."""
    if not times:
        return []
    tz = schedule.timezone
    on_time = [at for at in times if now_ms - at <= grace_ms]
    late = [at for at in times if now_ms - at > grace_ms]
    more = "more than " if dropped else ""
    if schedule.catchup == "all" or not late:
        chosen = [(at, "PENDING", None) for at in times]
        if dropped:
            note = f"catch-up (all): only the newest {len(times)} missed occurrences run; older ones were left out"
            chosen[0] = (times[0], "PENDING", note)
        return chosen
    if schedule.catchup == "latest":
        missed = len(times) - 1
        note = (f"caught up (catchup: latest): {more}{missed} earlier missed occurrence"
                f"{'s' if missed != 1 else ''} since {cron.iso(times[0], tz)} left out") if missed else \
            "caught up (catchup: latest)"
        return [(times[-1], "PENDING", note)]
    # none: what is late is not run; one SKIPPED record says how much was missed
    note = (f"missed (catchup: none): {more}{len(late)} occurrence{'s' if len(late) != 1 else ''} from "
            f"{cron.iso(late[0], tz)} to {cron.iso(late[-1], tz)} fell due while no scheduler ran")
    return [(late[-1], "SKIPPED", note)] + [(at, "PENDING", None) for at in on_time]


def _insert_occurrence(store, conn, schedule_id: int, at: int, state: str, note: str | None, now_ms: int) -> int:
    row = {"schedule_id": schedule_id, "scheduled_time": at, "state": state, "attempt": 0, "not_before": at,
           "note": note, "created_at": now_ms, "ended_at": now_ms if state == "SKIPPED" else None}
    return int(store.insert_if_absent(conn, s.schedule_occurrences, row, ("schedule_id", "scheduled_time")))


def claim(store, me: str, now_ms: int, lease_ms: int, capacity: int) -> list[Claimed]:
    """Take up to ``capacity`` due PENDING occurrences for ``me``, oldest first, applying overlap policies."""
    if capacity <= 0:
        return []
    o, t = s.schedule_occurrences, s.schedules
    taken: list[Claimed] = []
    with store.writing() as conn:
        pending = conn.execute(
            select(o.c.id, o.c.schedule_id, o.c.scheduled_time, o.c.attempt, o.c.note)
            .where(o.c.state == "PENDING", o.c.not_before <= now_ms)
            .order_by(o.c.scheduled_time, o.c.id).limit(capacity * LOOK_AHEAD)
            .with_for_update(skip_locked=True)).all()
        if not pending:
            return []
        ids = sorted({p.schedule_id for p in pending})
        # Locked in id order (no deadlock between two schedulers); the overlap decision below is
        # then made by one scheduler at a time per schedule.
        schedules = {r["id"]: Schedule.from_row(r) for r in conn.execute(
            select(t).where(t.c.id.in_(ids)).order_by(t.c.id).with_for_update()).mappings().all()}
        active: dict[int, list] = {}  # schedule -> start times of its running (or just claimed) occurrences
        for sid, started in conn.execute(select(o.c.schedule_id, o.c.started_at).where(
                o.c.schedule_id.in_(ids), o.c.state.in_(ACTIVE))).all():
            active.setdefault(sid, []).append(started if started is not None else now_ms)
        for p in pending:
            schedule = schedules.get(p.schedule_id)
            if len(taken) >= capacity or schedule is None or schedule.paused:
                continue
            busy = bool(active.get(p.schedule_id))
            # skip drops a time that fell due while an earlier run was going; a backlog the catch-up
            # policy asked for, a run-now and a retry wait their turn instead.
            overlapped = any(started <= p.scheduled_time for started in active.get(p.schedule_id, ()))
            manual = (p.note or "").startswith("run-now")
            if overlapped and schedule.overlap == "skip" and not manual and p.attempt == 0:
                conn.execute(update(o).where(o.c.id == p.id, o.c.state == "PENDING").values(
                    state="SKIPPED", ended_at=now_ms, note=_join(p.note, "overlap: skip (the previous occurrence "
                                                                           "was still running)")))
                continue
            if busy and schedule.overlap != "allow":
                continue  # queue (and a run-now or a retry under skip): waits its turn
            won = conn.execute(update(o).where(o.c.id == p.id, o.c.state == "PENDING").values(
                state="CLAIMED", claimed_by=me, lease_until=now_ms + lease_ms).returning(o.c.id)).first()
            if won is not None:
                active.setdefault(p.schedule_id, []).append(now_ms)
                taken.append(Claimed(p.id, schedule, p.scheduled_time, p.attempt + 1, p.note))
    return taken


def mark_running(store, claimed: Claimed, me: str, now_ms: int, lease_ms: int) -> bool:
    """CLAIMED -> RUNNING with the attempt counted; False when the claim was lost meanwhile."""
    o = s.schedule_occurrences
    with store.writing() as conn:
        won = conn.execute(update(o).where(o.c.id == claimed.id, o.c.state == "CLAIMED", o.c.claimed_by == me)
                           .values(state="RUNNING", attempt=claimed.attempt, started_at=now_ms, ended_at=None,
                                   run_id=None, lease_until=now_ms + lease_ms).returning(o.c.id)).first()
    return won is not None


def set_run_id(store, occurrence_id: int, attempt: int, run_id: str) -> None:
    """Called by the job as soon as its run exists, so history links the run while it is running."""
    o = s.schedule_occurrences
    with store.writing() as conn:
        conn.execute(update(o).where(o.c.id == occurrence_id, o.c.attempt == attempt, o.c.state == "RUNNING")
                     .values(run_id=run_id))


def renew(store, me: str, now_ms: int, lease_ms: int) -> None:
    o = s.schedule_occurrences
    with store.writing() as conn:
        conn.execute(update(o).where(o.c.claimed_by == me, o.c.state.in_(ACTIVE))
                     .values(lease_until=now_ms + lease_ms))


def finish(store, occurrence_id: int, me: str | None, attempt: int, outcome: dict, now_ms: int,
           notify_enqueue=None) -> str | None:
    """Record how attempt ``attempt`` ended; a failure with retries left goes back to PENDING.
    The state it ended in, or None when the occurrence is no longer ``me``'s (recovered, removed)."""
    o = s.schedule_occurrences
    with store.writing() as conn:
        row = conn.execute(select(o).where(o.c.id == occurrence_id).with_for_update()).mappings().first()
        if row is None or row["state"] not in ACTIVE or row["attempt"] != attempt or \
                (me is not None and row["claimed_by"] != me):
            return None
        return _settle(conn, row, outcome, now_ms, notify_enqueue)


def _settle(conn, row, outcome: dict, now_ms: int, notify_enqueue) -> str:
    o, t = s.schedule_occurrences, s.schedules
    schedule = Schedule.from_row(conn.execute(select(t).where(t.c.id == row["schedule_id"])).mappings().one())
    status = outcome.get("status", "FAILED")
    error = outcome.get("error")
    run_id = outcome.get("run_id") or row["run_id"]
    if status != "FINISHED" and row["attempt"] <= schedule.retries and not outcome.get("final"):
        conn.execute(update(o).where(o.c.id == row["id"]).values(
            state="PENDING", claimed_by=None, lease_until=None, not_before=now_ms + retry_delay_ms(row["attempt"]),
            error=error, ended_at=now_ms, run_id=run_id,
            note=_join(_base_note(row["note"]), f"attempt {row['attempt']} of {schedule.retries + 1} {status.lower()}; "
                                                f"retrying")))
        return "PENDING"
    conn.execute(update(o).where(o.c.id == row["id"]).values(
        state=status, ended_at=now_ms, error=error, run_id=run_id, lease_until=None,
        note=_join(_base_note(row["note"]), outcome.get("summary"))))
    if notify_enqueue is not None:
        final = dict(row, state=status, ended_at=now_ms, error=error, run_id=run_id)
        notify_enqueue(conn, schedule, final, outcome, now_ms)
    return status


def hand_back(store, me: str, occurrence_ids=None, reason: str = "handed back") -> int:
    """Return ``me``'s occurrences (all, or those ids) to PENDING, for another scheduler to start.
    An attempt that was running is not counted: it was stopped, not failed."""
    o = s.schedule_occurrences
    where = [o.c.claimed_by == me, o.c.state.in_(ACTIVE)]
    if occurrence_ids is not None:
        where.append(o.c.id.in_(list(occurrence_ids)))
    with store.writing() as conn:
        rows = conn.execute(select(o.c.id, o.c.state, o.c.attempt, o.c.note).where(and_(*where))).all()
        for r in rows:
            attempt = r.attempt - 1 if r.state == "RUNNING" else r.attempt
            conn.execute(update(o).where(o.c.id == r.id, o.c.claimed_by == me).values(
                state="PENDING", claimed_by=None, lease_until=None, attempt=attempt, run_id=None,
                started_at=None, note=_join(_base_note(r.note), reason)))
    return len(rows)


def recover_expired(store, now_ms: int, notify_enqueue=None) -> int:
    """Occurrences whose scheduler stopped renewing its lease: a claim not yet started goes back to
    PENDING; a running attempt counts as failed (retried if the schedule allows)."""
    o = s.schedule_occurrences
    with store.engine.connect() as conn:
        if not conn.execute(select(o.c.id).where(o.c.state.in_(ACTIVE), o.c.lease_until < now_ms).limit(1)).first():
            return 0
    with store.writing() as conn:
        rows = conn.execute(select(o).where(o.c.state.in_(ACTIVE), o.c.lease_until < now_ms)
                            .with_for_update(skip_locked=True)).mappings().all()
        for row in rows:
            who = row["claimed_by"]
            if row["state"] == "CLAIMED":
                conn.execute(update(o).where(o.c.id == row["id"], o.c.state == "CLAIMED").values(
                    state="PENDING", claimed_by=None, lease_until=None,
                    note=_join(_base_note(row["note"]), f"the claim of {who} expired")))
            else:
                _settle(conn, row, {"status": "FAILED", "error": f"the scheduler running it ({who}) stopped: its "
                                                                 f"lease expired at {cron.iso(row['lease_until'])}"},
                        now_ms, notify_enqueue)
    return len(rows)


def _join(*parts) -> str | None:
    text = "; ".join(p for p in parts if p)
    return text or None


def _base_note(note: str | None) -> str | None:
    """The note without earlier retry/hand-back remarks, so notes do not grow with every attempt."""
    if not note:
        return None
    keep = [p for p in note.split("; ") if not p.startswith(("attempt ", "handed back", "the claim of "))]
    return "; ".join(keep) or None


def outcome_json(outcome: dict) -> str:
    return json.dumps(outcome, sort_keys=True, default=str)
