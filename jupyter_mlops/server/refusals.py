"""Which errors are the client's doing, and how the API says no: one JSON shape for every refusal.

A refusal is ``{"message": ..., "reason": <HTTP reason phrase>}``, the message exactly as written
(tornado's ``HTTPError`` %-formats its message, so it is always passed as an argument, never as
the format), plus at most a field a panel acts on, such as ``"needs": "force"``.

The client's errors are a list of exact exception types: the project's own errors for bad input,
missing things and refused actions, and the few interpreter errors that only outsized input
causes (a number too large for any column, JSON nested past the recursion limit, text no codec
takes). Anything else is a bug: a 500 whose traceback goes to the server log, never to the reply.
"""
from __future__ import annotations

import tornado.web

from .. import exceptions as errors
from .artifact_files import ArtifactOutsideStoreError
from .notebook_trust import UnreadableNotebookError
from .previews import UnpreviewableArtifactError

# First match wins: InvalidNameError is a RegistryError and an InvalidInputError (400).
CLIENT_ERRORS: tuple[tuple[type[BaseException], int, str], ...] = (
    (errors.RunNotFoundError, 404, ""),
    (errors.ModelNotFoundError, 404, ""),
    (FileNotFoundError, 404, ""),  # an artifact the store lists but no longer holds
    (ArtifactOutsideStoreError, 403, ""),
    (errors.ApprovalRefusedError, 409, ""),  # the request is fine; the run is not in a state that allows it
    (errors.PackageVerificationError, 409, ""),
    (UnreadableNotebookError, 422, ""),
    (UnpreviewableArtifactError, 422, ""),
    (errors.InvalidInputError, 400, ""),  # FilterSyntaxError and InvalidNameError too
    (errors.RegistryError, 409, ""),  # the registry refuses what the store's state forbids (deleting a registered run)
    (OverflowError, 400, "a number in the request is out of range"),
    (RecursionError, 400, "the request is nested too deeply"),
    (UnicodeError, 400, "the request holds text that cannot be encoded"),
)


class Refusal(tornado.web.HTTPError):
    """A 4xx with a message shown as written and optional extra JSON fields."""

    def __init__(self, status: int, message: str, **fields):
        super().__init__(status, "%s", message)
        self.message = message
        self.fields = fields


def refusal_for(exc: BaseException | None) -> Refusal | None:
    """The refusal a client-caused exception stands for; None when it is a bug (or no exception)."""
    if isinstance(exc, Refusal):
        return exc
    if isinstance(exc, tornado.web.HTTPError):
        return Refusal(exc.status_code, message_of(exc))
    for kind, status, preface in CLIENT_ERRORS:
        if isinstance(exc, kind):
            text = str(exc) or type(exc).__name__
            return Refusal(status, f"{preface}: {text}" if preface else text)
    return None


def message_of(exc: tornado.web.HTTPError) -> str:
    """An HTTPError's message with its arguments filled in (tornado's own errors, e.g. a missing argument)."""
    if isinstance(exc, Refusal):
        return exc.message
    if not exc.log_message:
        return exc.reason or ""
    try:
        return exc.log_message % exc.args if exc.args else exc.log_message
    except (TypeError, ValueError):
        return exc.log_message
