"""The base of the REST handlers under ``/mlops/api/`` and the checks of what a request gives.

The handlers themselves are in run_handlers.py and model_handlers.py, their URLs in routes.py.
Every handler is an ``APIHandler`` behind ``@tornado.web.authenticated`` (POSTs are also
XSRF-checked by Jupyter Server, as for its own API). Store calls block, so they run in a small
thread pool. Every client mistake is a 4xx ``{"message": ...}`` naming the problem (refusals.py
lists which errors are the client's); anything else is a 500 with its traceback in the server
log only. Who acts (approvals, aliases) is the authenticated user, never a field of the body.
"""
from __future__ import annotations

import asyncio
import json
import re
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from http.client import responses

from jupyter_server.auth.identity import IdentityProvider, LegacyIdentityProvider, PasswordIdentityProvider
from jupyter_server.base.handlers import APIHandler

from ..tracking.store import open_store
from . import (
    artifact_files,
    notebook_trust,
    queries,
)
from .refusals import Refusal, refusal_for

API = "mlops/api"
CHUNK = 1 << 20
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="mlops-api")
# Jupyter Server's own logins (a shared token or password) identify nobody: each token request
# gets an "Anonymous <moon>" user with a fresh random username. Exact types: a subclass may name people.
SHARED_SECRET_PROVIDERS = (IdentityProvider, PasswordIdentityProvider, LegacyIdentityProvider)
INT32_MAX = 2**31 - 1  # model versions are INTEGER columns
INTEGER = re.compile(r"-?[0-9]{1,30}")  # with fullmatch; longer is out of range anyway
MAX_TEXT = 10_000  # characters of a reason or note


class MlopsHandler(APIHandler):
    """Runs store work off the event loop; every error leaves as JSON (4xx for the client's, 500 for bugs)."""

    @property
    def store(self):
        return open_store(self.settings.get("mlops_tracking_uri"))

    async def call(self, fn, *args, **kwargs):
        """``fn(*args, **kwargs)`` in the thread pool; its errors reach write_error as they are."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_pool, partial(fn, *args, **kwargs))

    async def send_artifact(self, target, row: dict, path: str) -> None:
        """The artifact file ``target`` (its store row ``row``) as a download named after ``path``,
        in chunks, so a large model file is never held in memory whole."""
        media_type = artifact_files.media_type(row["media_type"], path)
        self.set_header("Content-Length", str(row["size"]))
        self.set_header("X-Content-Type-Options", "nosniff")
        # Always a download (never rendered in the page's origin), under its own name, whatever its characters.
        self.set_header("Content-Disposition", artifact_files.content_disposition(path))
        self.set_header("Content-Type", media_type)  # before the first flush sends the headers
        fh = await self.call(open, target, "rb")
        try:
            while chunk := await self.call(fh.read, CHUNK):
                self.write(chunk)
                await self.flush()
        finally:
            fh.close()
        self.finish(set_content_type=media_type)

    async def prepare(self):
        await super().prepare()
        # A NUL reaches no query: SQLite refuses it with a bare ValueError, PostgreSQL with a DataError.
        # (Query arguments come through get_argument, which turns control characters into spaces.)
        for name, value in self.path_kwargs.items():
            if isinstance(value, str) and "\x00" in value:
                raise Refusal(400, f"path segment {name} contains a NUL character")

    def log_exception(self, typ, value, tb) -> None:
        refusal = refusal_for(value)
        if refusal is None:
            super().log_exception(typ, value, tb)  # a bug: logged with its traceback
        else:
            self.log.warning("jupyter_mlops: %d %s %s: %s", refusal.status_code, self.request.method,
                             self.request.path, refusal.message)

    def write_error(self, status_code: int, **kwargs) -> None:
        """Every error as ``{"message", "reason"}`` JSON: a refusal's own message (and fields), or
        for a bug its type and message without the traceback (the log has that)."""
        exc = (kwargs.get("exc_info") or (None, None, None))[1]
        refusal = refusal_for(exc)
        if refusal is not None:
            status, message, fields = refusal.status_code, refusal.message, refusal.fields
        elif exc is not None:
            status, message, fields = 500, f"internal error, see the server log: {type(exc).__name__}: {exc}", {}
        else:
            status, message, fields = status_code, "", {}
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        reason = responses.get(status, "Unknown HTTP Error")
        self.finish(json.dumps({"message": message or reason, "reason": reason, **fields}, default=str))

    def reply(self, data) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data, default=str, allow_nan=False))

    def int_argument(self, name: str, default: int, low: int = -INT32_MAX, high: int = INT32_MAX) -> int:
        """Query argument ``name`` as an integer between ``low`` and ``high`` (``default`` when absent).
        The default bounds only keep numbers within what the store can compare (10**20 overflows
        SQLite); the functions behind each endpoint check their own ranges."""
        raw = self.get_argument(name, None)
        if raw is None or raw == "":
            return default
        return bounded_int(f"query argument {name}", raw, low, high)

    def json_body(self, *required: str) -> dict:
        """The body as a JSON object holding every ``required`` key (non-empty)."""
        try:
            text = (self.request.body or b"{}").decode("utf-8")
            body = json.loads(text)
        except RecursionError as exc:
            raise Refusal(400, "request body is nested too deeply to be a request") from exc
        except ValueError as exc:  # not UTF-8, not JSON, or an integer of more than 4300 digits
            raise Refusal(400, f"request body is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise Refusal(400, f"request body must be a JSON object, got {brief(body)}")
        for value in _strings(body):
            if "\x00" in value:
                raise Refusal(400, "request body contains a NUL character")
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:  # a lone surrogate ("\ud800"): no store can keep it
                raise Refusal(400, f"request body holds text that cannot be encoded as UTF-8: {exc.reason}") from exc
        missing = [k for k in required if body.get(k) in (None, "")]
        if missing:
            raise Refusal(400, f"request body is missing {', '.join(missing)}")
        return body

    async def notebook_of(self, run_id: str, path: str | None = None) -> tuple[dict, dict]:
        """``(run detail, notebook JSON)`` of the run's notebook snapshot (or of its ``.ipynb``
        artifact ``path``), every trust marker stripped and its signatures forgotten
        (notebook_trust.py); 404 when it has none."""
        detail = await self.call(queries.run_detail, self.store, run_id)
        if path is not None:
            if not path.endswith(".ipynb"):
                raise Refusal(400, f"artifact {path[:200]!r} is not a notebook (.ipynb)")
            if not any(a["path"] == path for a in detail["artifacts"]):
                raise Refusal(404, f"run {detail['run_id']} has no artifact {path[:200]!r}")
            detail["notebook"] = path
        if not detail["notebook"]:
            raise Refusal(404, f"run {detail['run_id']} has no notebook snapshot")
        text = await self.call(artifact_files.read_artifact_text, self.store, detail["run_id"], detail["notebook"])
        nb = await self.call(notebook_trust.untrusted_notebook, text,
                             f"artifact {detail['notebook']!r} of run {detail['run_id']}")
        notebook_trust.forget_signature(getattr(self.contents_manager, "notary", None), text, nb)
        return detail, nb

    def table_query(self) -> dict:
        """The runs table's selection as the views send it: experiment, filter, sort, order."""
        order = self.get_argument("order", "desc").lower()
        if order not in ("asc", "desc"):
            raise Refusal(400, f"order must be asc or desc, got {order[:40]!r}")
        return {
            "experiment": self.get_argument("experiment", None) or None,
            "filter": self.get_argument("filter", None) or None,
            "sort": self.get_argument("sort", None) or None,
            "descending": order == "desc",
        }

    def actor(self) -> str | None:
        """Who acts, for the approval record and the audit log: the authenticated user.

        Jupyter Server's own token and password logins identify no person (anyone holding the
        token gets an "Anonymous" user whose random username changes per request), so there the
        actor is the user the server runs as, the same as for the CLI: None lets the registry
        choose it. Any other identity provider (JupyterHub's, ``jupyter mlops server``'s, a
        deployment's own) names its users: the actor is ``User.username``, the field Jupyter
        Server requires to be unique and stable (``name`` and ``display_name`` are for showing)."""
        if type(self.identity_provider) in SHARED_SECRET_PROVIDERS:
            return None
        return self.current_user.username


def bounded_int(name: str, value, low: int, high: int) -> int:
    """``value`` (a JSON integer, or a string of digits) as an int in ``[low, high]``; 400 otherwise.
    Refuses what ``int()`` would quietly accept: ``true``, ``1.9``, ``" 3 "``."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise Refusal(400, f"{name} must be an integer, got {brief(value)}")
    if isinstance(value, str):
        if not INTEGER.fullmatch(value):
            raise Refusal(400, f"{name} must be an integer, got {brief(value)}")
        value = int(value)
    if not low <= value <= high:
        raise Refusal(400, f"{name} must be between {low} and {high}, got {brief(value)}")
    return value


def text_field(body: dict, key: str, limit: int = MAX_TEXT) -> str | None:
    """``body[key]`` as a string of at most ``limit`` characters (None when absent); 400 otherwise."""
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise Refusal(400, f"{key} must be a string, got {brief(value)}")
    if value is not None and len(value) > limit:
        raise Refusal(400, f"{key} is {len(value)} characters long; at most {limit} are kept")
    return value


def _strings(value):
    """Every string (keys too) in a parsed JSON value, without recursion (it may be nested deep)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def brief(value) -> str:
    """A JSON value as an error message shows it: short, whatever the client sent."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**30:
        return "a number of more than 30 digits"
    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "a list"
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:40] + "..."
