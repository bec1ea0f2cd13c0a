"""Alerts about scheduled jobs: a JSON webhook (Slack-compatible ``text``) and SMTP e-mail.

A finished occurrence enqueues its messages in the transaction that records its end (so each is
created once), and any scheduler delivers what is due. A failed delivery is logged and tried
again later (``RETRY_DELAYS_S``); it never changes the job's outcome. Credentials come from the
environment only: ``MLOPS_SMTP_HOST``/``PORT``/``USER``/``PASSWORD``/``FROM``/``TLS``,
``MLOPS_WEBHOOK_TOKEN`` (sent as a bearer token), and ``env:NAME`` in a spec for a secret URL.
``MLOPS_LINK_BASE`` (the JupyterLab URL) turns run ids into links to the run's view.
"""
from __future__ import annotations

import json
import logging
import os
import re
import smtplib
import socket
import ssl
import urllib.error
import urllib.request
from email.message import EmailMessage

from sqlalchemy import insert, select, update

from ..tracking import schema as s
from . import cron

log = logging.getLogger(__name__)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

# Wait before the 2nd, 3rd, ... attempt; after the last one the message is given up (and logged).
RETRY_DELAYS_S = (30, 120, 600, 1800, 3600, 3600)
SEND_TIMEOUT_S = 10
SENDING_LEASE_MS = 120_000


def events_of(outcome: dict) -> list[str]:
    """Which ``notify.on`` events an outcome is: failure or success, and drift for a drifting monitor."""
    events = ["success" if outcome.get("status") == "FINISHED" else "failure"]
    if outcome.get("drift"):
        events.append("drift")
    return events


def enqueue(conn, schedule, occurrence: dict, outcome: dict, now_ms: int) -> int:
    """Queue the messages ``schedule.notify`` asks for about this ended occurrence; how many."""
    wanted = set(schedule.notify.get("on", ["failure"])) & set(events_of(outcome))
    if not wanted or not schedule.notify:
        return 0
    event = "failure" if "failure" in wanted else ("drift" if "drift" in wanted else "success")
    payload = message(schedule, occurrence, outcome, event)
    rows = [("webhook", schedule.notify["webhook"])] if schedule.notify.get("webhook") else []
    rows += [("email", address) for address in schedule.notify.get("email", [])]
    for channel, destination in rows:
        conn.execute(insert(s.schedule_notifications).values(
            occurrence_id=occurrence["id"], channel=channel, destination=destination, event=event,
            payload=json.dumps(payload, sort_keys=True, default=str), state="PENDING", attempts=0,
            next_attempt_at=now_ms, created_at=now_ms))
    return len(rows)


def message(schedule, occurrence: dict, outcome: dict, event: str) -> dict:
    """What every channel says: the schedule, the occurrence, the run, its error or drift summary, a link."""
    run_id = occurrence.get("run_id")
    when = cron.iso(occurrence["scheduled_time"], schedule.timezone)
    status = occurrence["state"]
    headline = {"failure": f"{schedule.name}: {status} (scheduled {when})",
                "drift": f"{schedule.name}: drift detected (scheduled {when})",
                "success": f"{schedule.name}: {status} (scheduled {when})"}[event]
    detail = outcome.get("error") if event == "failure" else outcome.get("summary")
    if detail:
        detail = _ANSI.sub("", str(detail))  # tracebacks from kernels come coloured
    link = run_link(run_id)
    lines = [headline]
    if detail:
        lines.append(detail[:2000])
    if run_id:
        lines.append(f"run {run_id}: {link}" if link else f"run {run_id} (jupyter mlops show {run_id})")
    error = _ANSI.sub("", outcome["error"]) if outcome.get("error") else None
    return {"text": "\n".join(lines), "event": event, "schedule": schedule.name, "kind": schedule.kind,
            "scheduled_time": when, "status": status, "attempt": occurrence.get("attempt"), "run_id": run_id,
            "error": error, "summary": outcome.get("summary"), "drift": outcome.get("drift"), "link": link}


def run_link(run_id: str | None) -> str | None:
    base = os.environ.get("MLOPS_LINK_BASE", "").rstrip("/")
    if not run_id or not base:
        return None
    return f"{base}/lab?mlops=run/{run_id}"


def deliver_due(store, me: str, now_ms: int, limit: int = 20) -> dict:
    """Send the messages that are due (claimed first, so two schedulers never send one twice);
    counts of sent, retried and given up."""
    n = s.schedule_notifications
    counts = {"sent": 0, "retry": 0, "gave_up": 0}
    with store.engine.connect() as conn:
        if not conn.execute(select(n.c.id).where(_due(n, now_ms)).limit(1)).first():
            return counts
    with store.writing() as conn:
        due = conn.execute(select(n).where(_due(n, now_ms)).order_by(n.c.id).limit(limit)
                           .with_for_update(skip_locked=True)).mappings().all()
        mine = []
        for row in due:
            won = conn.execute(update(n).where(n.c.id == row["id"], n.c.attempts == row["attempts"]).values(
                state="SENDING", claimed_by=me, next_attempt_at=now_ms + SENDING_LEASE_MS).returning(n.c.id)).first()
            if won is not None:
                mine.append(dict(row))
    for row in mine:
        error = send(row["channel"], row["destination"], json.loads(row["payload"]))
        attempts = row["attempts"] + 1
        if error is None:
            values, key = {"state": "SENT", "sent_at": now_ms, "last_error": None}, "sent"
        elif attempts > len(RETRY_DELAYS_S):
            values, key = {"state": "GAVE_UP", "last_error": error}, "gave_up"
            log.error("gave up notifying %s (%s) after %d attempts: %s", row["destination"], row["channel"],
                      attempts, error)
        else:
            values = {"state": "PENDING", "last_error": error,
                      "next_attempt_at": now_ms + RETRY_DELAYS_S[attempts - 1] * 1000}
            key = "retry"
            log.warning("notifying %s (%s) failed, attempt %d; retrying in %d s: %s", row["destination"],
                        row["channel"], attempts, RETRY_DELAYS_S[attempts - 1], error)
        with store.writing() as conn:
            conn.execute(update(n).where(n.c.id == row["id"], n.c.claimed_by == me, n.c.state == "SENDING")
                         .values(attempts=attempts, claimed_by=None, **values))
        counts[key] += 1
    return counts


def _due(n, now_ms: int):
    # PENDING and due, or SENDING by a scheduler that vanished mid-send (its lease ran out).
    return n.c.state.in_(("PENDING", "SENDING")) & (n.c.next_attempt_at <= now_ms)


def send(channel: str, destination: str, payload: dict) -> str | None:
    """Deliver one message; None when it went out, else why not (one line). Never raises."""
    try:
        target = _resolve(destination)
        if channel == "webhook":
            post_webhook(target, payload)
        elif channel == "email":
            send_email(target, payload)
        else:
            return f"unknown channel {channel!r}"
    except Exception as exc:  # noqa: BLE001 - a notification must never fail the job or the scheduler
        return f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
    return None


def _resolve(destination: str) -> str:
    """``env:NAME`` -> the variable's value (a secret URL or address stays out of the store)."""
    if destination.startswith("env:"):
        name = destination[4:]
        value = os.environ.get(name)
        if not value:
            raise LookupError(f"the environment variable {name} is not set on this scheduler")
        return value
    return destination


def post_webhook(url: str, payload: dict) -> None:
    if not url.startswith(("http://", "https://")):
        raise ValueError("a webhook must be an http(s) URL")
    headers = {"Content-Type": "application/json", "User-Agent": "jupyter-mlops-scheduler"}
    token = os.environ.get("MLOPS_WEBHOOK_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=SEND_TIMEOUT_S) as response:  # http(s) only, checked above
            response.read(65536)
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"the webhook answered HTTP {exc.code}") from None


def send_email(address: str, payload: dict) -> None:
    """One plain-text mail through MLOPS_SMTP_HOST (default localhost:25); STARTTLS when the server
    offers it (MLOPS_SMTP_TLS=starttls requires it, ssl uses SMTPS, none never encrypts)."""
    host = os.environ.get("MLOPS_SMTP_HOST", "localhost")
    tls = os.environ.get("MLOPS_SMTP_TLS", "auto").lower()
    port = int(os.environ.get("MLOPS_SMTP_PORT", "465" if tls == "ssl" else "25"))
    sender = os.environ.get("MLOPS_SMTP_FROM") or f"jupyter-mlops@{socket.getfqdn()}"
    mail = EmailMessage()
    mail["Subject"] = f"[mlops] {payload['text'].splitlines()[0]}"[:200]
    mail["From"], mail["To"] = sender, address
    mail.set_content(payload["text"] + "\n\n" + json.dumps({k: v for k, v in payload.items() if k != "text"},
                                                            indent=1, default=str))
    context = ssl.create_default_context()
    smtp_class = smtplib.SMTP_SSL if tls == "ssl" else smtplib.SMTP
    kwargs = {"context": context} if tls == "ssl" else {}
    with smtp_class(host, port, timeout=SEND_TIMEOUT_S, **kwargs) as smtp:
        smtp.ehlo()
        if tls == "starttls" or (tls == "auto" and smtp.has_extn("starttls")):
            smtp.starttls(context=context)
            smtp.ehlo()
        user = os.environ.get("MLOPS_SMTP_USER")
        if user:
            smtp.login(user, os.environ.get("MLOPS_SMTP_PASSWORD", ""))
        smtp.send_message(mail)


def notifications_of(store, occurrence_id: int) -> list[dict]:
    """The messages queued about one occurrence and how their delivery went."""
    n = s.schedule_notifications
    with store.engine.connect() as conn:
        rows = conn.execute(select(n).where(n.c.occurrence_id == occurrence_id).order_by(n.c.id)).mappings().all()
    return [dict(r, payload=json.loads(r["payload"])) for r in rows]
