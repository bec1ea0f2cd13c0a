"""A failing scheduled job notifies a local HTTP receiver and a local SMTP server (aiosmtpd), both
started by the test; a receiver that fails first is retried later, and never changes the job's outcome."""
from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from jupyter_mlops.jobs import cron, definitions, notify, schedules
from jupyter_mlops.jobs.scheduler import Scheduler

from .helpers.jobs import Clock, wait_until
from .helpers.net import free_port
from .test_jobs_cli import write_notebook


class Receiver:
    """An HTTP server that answers the first ``failures`` POSTs with 500 and records every body."""

    def __init__(self, failures: int = 1):
        self.bodies: list[dict] = []
        self.headers: list[dict] = []
        self.failures = failures
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.bodies.append(json.loads(body))
                receiver.headers.append(dict(self.headers))
                status = 500 if len(receiver.bodies) <= receiver.failures else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"down")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
        return "250 Message accepted for delivery"

    def __init__(self):
        self.messages = []


@pytest.fixture
def receivers(monkeypatch):
    receiver = Receiver(failures=1)
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    monkeypatch.setenv("HOOK_URL", receiver.url)  # the spec says env:HOOK_URL: the URL is no secret of the store
    monkeypatch.setenv("MLOPS_WEBHOOK_TOKEN", "s3cret")
    monkeypatch.setenv("MLOPS_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("MLOPS_SMTP_PORT", str(smtp.port))
    monkeypatch.setenv("MLOPS_SMTP_TLS", "none")
    monkeypatch.setenv("MLOPS_SMTP_FROM", "scheduler@example.com")
    monkeypatch.setenv("MLOPS_LINK_BASE", "https://lab.example.com/user/ana/")
    yield receiver, mailbox
    receiver.close()
    smtp.stop()


def test_failing_job_notifies_webhook_and_email_and_retries_the_webhook(project, receivers):
    receiver, mailbox = receivers
    write_notebook(project / "nightly.ipynb", "batch = 'b'", "raise ValueError(f'bad batch {batch}')")
    definitions.define_notebook(project / "nightly.ipynb", {
        "cron": "0 2 * * *", "parameters": {"batch": "{date}"},
        "notify": {"on": ["failure", "drift"], "webhook": "env:HOOK_URL", "email": ["ops@example.com"]}},
        by="test", now_ms=cron.to_ms(datetime(2024, 5, 1, 1, 0, tzinfo=timezone.utc)))
    clock = Clock(datetime(2024, 5, 1, 2, 0, 3, tzinfo=timezone.utc))
    scheduler = Scheduler(now=clock.now)  # the real launcher: the notebook runs in a job process

    def ended():
        scheduler.tick()
        return (row := schedules.history("nightly")[0])["state"] not in ("PENDING", "CLAIMED", "RUNNING") and row

    row = wait_until(ended, "the scheduled notebook failed")
    assert row["state"] == "FAILED" and "ValueError: bad batch 2024-05-01" in row["error"]
    notes = notify.notifications_of(scheduler.store, row["id"])
    assert [(n["channel"], n["event"], n["state"]) for n in notes] == [("webhook", "failure", "PENDING"),
                                                                       ("email", "failure", "PENDING")]
    assert notes[0]["destination"] == "env:HOOK_URL"  # the store never holds the URL itself

    assert scheduler.deliver() == {"sent": 1, "retry": 1, "gave_up": 0}
    assert len(receiver.bodies) == 1 and len(mailbox.messages) == 1
    recipients, mail = mailbox.messages[0]
    assert recipients == ["ops@example.com"] and mail["From"] == "scheduler@example.com"
    assert mail["Subject"] == "[mlops] nightly: FAILED (scheduled 2024-05-01T02:00:00+00:00)"
    text = mail.get_content()
    link = f"https://lab.example.com/user/ana/lab?mlops=run/{row['run_id']}"
    assert "ValueError: bad batch 2024-05-01" in text and link in text

    # The webhook answered 500: retried 30 s later, not before; the job's outcome never changed.
    assert scheduler.deliver() == {"sent": 0, "retry": 0, "gave_up": 0}
    clock.advance(seconds=31)
    assert scheduler.deliver() == {"sent": 1, "retry": 0, "gave_up": 0}
    assert len(receiver.bodies) == 2 and receiver.bodies[0] == receiver.bodies[1]
    hook = receiver.bodies[1]
    assert hook["text"].startswith("nightly: FAILED (scheduled 2024-05-01T02:00:00+00:00)\n")
    assert "ValueError: bad batch 2024-05-01" in hook["text"] and link in hook["text"]
    assert (hook["schedule"], hook["status"], hook["run_id"], hook["link"]) == ("nightly", "FAILED", row["run_id"], link)
    assert receiver.headers[1]["Authorization"] == "Bearer s3cret"
    delivered = notify.notifications_of(scheduler.store, row["id"])
    assert [(n["state"], n["attempts"]) for n in delivered] == [("SENT", 2), ("SENT", 1)]
    assert schedules.history("nightly")[0]["state"] == "FAILED"


def test_undeliverable_notifications_are_given_up_and_never_fail_anything(project, monkeypatch):
    monkeypatch.setenv("MLOPS_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("MLOPS_SMTP_PORT", str(free_port()))  # nothing listens there
    monkeypatch.delenv("NO_SUCH_HOOK", raising=False)
    write_notebook(project / "ok.ipynb", "x = 1", "y = x + 1")
    definitions.define_notebook(project / "ok.ipynb", {
        "cron": "0 2 * * *", "notify": {"on": ["success"], "webhook": "env:NO_SUCH_HOOK", "email": ["a@example.com"]}},
        by="test", now_ms=cron.to_ms(datetime(2024, 5, 1, 1, 0, tzinfo=timezone.utc)))
    clock = Clock(datetime(2024, 5, 1, 2, 0, 3, tzinfo=timezone.utc))
    scheduler = Scheduler(now=clock.now)

    def ended():
        scheduler.tick()
        return (row := schedules.history("ok")[0])["state"] not in ("PENDING", "CLAIMED", "RUNNING") and row

    row = wait_until(ended, "the scheduled notebook ended")
    assert row["state"] == "FINISHED", row
    for delay in (0, *notify.RETRY_DELAYS_S):
        clock.advance(seconds=delay + 1)
        scheduler.deliver()
    notes = notify.notifications_of(scheduler.store, row["id"])
    assert [(n["state"], n["attempts"]) for n in notes] == [("GAVE_UP", 7), ("GAVE_UP", 7)]
    assert "NO_SUCH_HOOK is not set" in notes[0]["last_error"]
    assert "ConnectionRefusedError" in notes[1]["last_error"]
    assert schedules.history("ok")[0]["state"] == "FINISHED"
