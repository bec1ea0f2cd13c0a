"""REST handlers under ``/mlops/api/``: the sidebar's door onto the store and the registry.

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

import tornado.web
from jupyter_server.auth.identity import IdentityProvider, LegacyIdentityProvider, PasswordIdentityProvider
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from .. import exceptions as errors
from ..tracking.store import now_ms, open_store
from . import (
    artifact_files,
    bulk,
    nbdiff,
    notebook_trust,
    notes,
    previews,
    queries,
    registry_views,
    rerun,
    run_views,
    table,
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
            raise Refusal(400, f"request body must be a JSON object, got {_brief(body)}")
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
        raise Refusal(400, f"{name} must be an integer, got {_brief(value)}")
    if isinstance(value, str):
        if not INTEGER.fullmatch(value):
            raise Refusal(400, f"{name} must be an integer, got {_brief(value)}")
        value = int(value)
    if not low <= value <= high:
        raise Refusal(400, f"{name} must be between {low} and {high}, got {_brief(value)}")
    return value


def text_field(body: dict, key: str, limit: int = MAX_TEXT) -> str | None:
    """``body[key]`` as a string of at most ``limit`` characters (None when absent); 400 otherwise."""
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise Refusal(400, f"{key} must be a string, got {_brief(value)}")
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


def _brief(value) -> str:
    """A JSON value as an error message shows it: short, whatever the client sent."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**30:
        return "a number of more than 30 digits"
    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "a list"
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:40] + "..."


class ExperimentsHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self):
        self.reply({"experiments": await self.call(self.store.experiments)})


class RunsHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self):
        page = await self.call(
            queries.runs_page, self.store, **self.table_query(),
            page=self.int_argument("page", 0, low=0),
            page_size=self.int_argument("page_size", 50),  # queries names the range
        )
        self.reply(page)


class ChangesHandler(MlopsHandler):
    """``{"cursor": ...}``: polled by open views; when it moves they reload what they show."""

    @tornado.web.authenticated
    async def get(self):
        self.reply({"cursor": await self.call(table.change_cursor, self.store)})


class TableKeysHandler(MlopsHandler):
    """Every param, metric and tag key of an experiment's runs, for the column chooser and the filter box."""

    @tornado.web.authenticated
    async def get(self):
        experiment = self.get_argument("experiment", None) or None
        self.reply(await self.call(table.column_keys, self.store, experiment))


class TableValuesHandler(MlopsHandler):
    """Chosen columns of every run the filter matches (parallel coordinates)."""

    @tornado.web.authenticated
    async def get(self):
        columns = table.parse_columns(self.get_argument("columns", None), ["name"])
        self.reply(await self.call(table.column_values, self.store, columns, **self.table_query()))


class TableExportHandler(MlopsHandler):
    """The filtered table as a CSV download, with the columns the view shows."""

    @tornado.web.authenticated
    async def get(self):
        columns = table.parse_columns(self.get_argument("columns", None), ["id", "name", "status", "start_time"])
        query = self.table_query()
        text = await self.call(table.export_csv, self.store, columns, **query)
        name = f"{query['experiment'] or 'runs'}.csv"
        self.set_header("Content-Disposition", artifact_files.content_disposition(name))
        self.set_header("X-Content-Type-Options", "nosniff")
        self.finish(text.encode("utf-8"), set_content_type="text/csv; charset=utf-8")


class SeriesHandler(MlopsHandler):
    """One metric of many runs: ``run_ids=a,b`` or the first ``limit`` runs of the table's selection."""

    @tornado.web.authenticated
    async def get(self):
        key = self.get_argument("key", None)
        if not key:
            raise Refusal(400, "give the metric as query argument key")
        query = self.table_query()
        self.reply(await self.call(
            run_views.series, self.store, key, run_ids=run_views.parse_run_ids(self.get_argument("run_ids", None)),
            limit=self.int_argument("limit", 100), max_points=self.int_argument("max_points", queries.DEFAULT_MAX_POINTS),
            **query))


class RunHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self, run_id):
        detail = await self.call(run_views.run_overview, self.store, run_id)
        detail["approval"] = await self.call(registry_views.approval_of, self.store, detail["run_id"])
        self.reply(detail)


class NoteHandler(MlopsHandler):
    """POST ``{"note": "markdown"}`` replaces the run's note, as the authenticated user (audited)."""

    @tornado.web.authenticated
    async def post(self, run_id):
        body = self.json_body()
        if "note" not in body:
            raise Refusal(400, "request body is missing note")
        text = text_field(body, "note", notes.MAX_NOTE)
        actor = self.actor() or registry_views.default_actor()
        self.reply(await self.call(notes.set_note, self.store, run_id, text, actor))


class RunLifecycleHandler(MlopsHandler):
    """POST ``{"action": "archive"|"delete"|"restore", "run_ids": [...]}``: the runs and their
    steps, as the authenticated user (audited). Deleting a run a model version was made from is 409."""

    @tornado.web.authenticated
    async def post(self):
        body = self.json_body("action", "run_ids")
        action = text_field(body, "action")
        ids = bulk.run_ids(body["run_ids"])
        actor = self.actor() or registry_views.default_actor()
        self.reply({"action": action, "changed": await self.call(bulk.change_lifecycle, self.store, action, ids, actor)})


class RunTagsHandler(MlopsHandler):
    """POST ``{"run_ids": [...], "key": ..., "value": ...}`` sets one tag on each run (audited)."""

    @tornado.web.authenticated
    async def post(self):
        body = self.json_body("run_ids", "key")
        key, value = text_field(body, "key"), text_field(body, "value") or ""
        ids = bulk.run_ids(body["run_ids"])
        actor = self.actor() or registry_views.default_actor()
        self.reply({"key": key, "tagged": await self.call(bulk.tag_runs, self.store, ids, key, value, actor)})


class PreviewHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self, run_id, path):
        rows = self.int_argument("rows", 50)
        self.reply(await self.call(previews.preview, self.store, run_id, path, rows))


class MetricHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self, run_id, key):
        max_points = self.int_argument("max_points", queries.DEFAULT_MAX_POINTS)
        self.reply(await self.call(queries.metric_series, self.store, run_id, key, max_points))


class ArtifactHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self, run_id, path):
        target, row = await self.call(artifact_files.resolve, self.store, run_id, path)
        media_type = artifact_files.media_type(row["media_type"], path)
        self.set_header("Content-Length", str(row["size"]))
        self.set_header("X-Content-Type-Options", "nosniff")
        # Always a download (never rendered in the Lab's origin), under its own name, whatever its characters.
        self.set_header("Content-Disposition", artifact_files.content_disposition(path))
        self.set_header("Content-Type", media_type)  # before the first flush sends the headers
        # In chunks, so a large model file is never held in memory whole.
        fh = await self.call(open, target, "rb")
        try:
            while chunk := await self.call(fh.read, CHUNK):
                self.write(chunk)
                await self.flush()
        finally:
            fh.close()
        self.finish(set_content_type=media_type)


class NotebookHandler(MlopsHandler):
    """The run's notebook snapshot as JSON, untrusted, for the read-only snapshot view."""

    @tornado.web.authenticated
    async def get(self, run_id):
        detail, nb = await self.notebook_of(run_id, self.get_argument("path", None) or None)
        self.reply({"run_id": detail["run_id"], "path": detail["notebook"], "notebook": nb})


class DiffHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self):
        a, b = self.get_argument("a", None), self.get_argument("b", None)
        if not a or not b:
            raise Refusal(400, "give two runs as query arguments a and b")
        notebooks = [await self.notebook_of(run_id) for run_id in (a, b)]
        diff = await self.call(nbdiff.diff_notebooks, notebooks[0][1], notebooks[1][1])
        diff["a"] = {"run_id": notebooks[0][0]["run_id"], "path": notebooks[0][0]["notebook"]}
        diff["b"] = {"run_id": notebooks[1][0]["run_id"], "path": notebooks[1][0]["notebook"]}
        self.reply(diff)


class PipelinesHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self):
        limit = self.int_argument("limit", 20)
        self.reply({"pipelines": await self.call(queries.pipelines, self.store, limit)})


class PipelineHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self, run_id):
        self.reply(await self.call(queries.pipeline_detail, self.store, run_id))


class PipelineRerunHandler(MlopsHandler):
    @tornado.web.authenticated
    async def post(self, run_id):
        pipeline = await self.call(queries.pipeline_detail, self.store, run_id)
        try:
            spec = rerun.spec_of(pipeline)
        except FileNotFoundError as exc:
            raise Refusal(409, str(exc)) from exc
        started = await rerun.start(spec, self.store.uri)
        started["started_at"] = now_ms()  # the view opens the first pipeline run of this spec started since
        self.set_status(202)
        self.reply(started)


class ApprovalHandler(MlopsHandler):
    """POST ``{"decision": "approve"|"reject", "reason": ..., "force"?: true}``; GET the current record.

    The actor is the authenticated user (``actor()``). A ``by`` in the body names nobody: it is
    kept as a note after the reason. Rejecting a run whose version is in production needs
    ``"force": true`` (the panel asks first); without it the answer is 409 with ``"needs": "force"``."""

    @tornado.web.authenticated
    async def get(self, run_id):
        uuid = await self.call(self.store.resolve_run_id, run_id)
        record = await self.call(registry_views.approval_of, self.store, uuid)
        if record is None:
            raise Refusal(404, f"run {uuid} has no approval decision")
        self.reply(record)

    @tornado.web.authenticated
    async def post(self, run_id):
        body = self.json_body("decision", "reason")
        decision = text_field(body, "decision").lower()
        if decision not in ("approve", "reject"):
            raise Refusal(400, f"decision must be approve or reject, got {decision[:40]!r}")
        reason, claimed = text_field(body, "reason"), text_field(body, "by")
        force = body.get("force", False)
        if not isinstance(force, bool):
            raise Refusal(400, f"force must be true or false, got {_brief(force)}")
        actor = self.actor()
        if claimed and claimed != (actor or registry_views.default_actor()):
            reason = f"{reason} [the request said by: {claimed[:200]}]"
        uuid = await self.call(self.store.resolve_run_id, run_id)
        try:
            record = await self.call(registry_views.decide, self.store, uuid, decision, actor, reason, force=force)
        except errors.ApprovalRefusedError as exc:
            if decision == "reject":  # the only refusal of a reject: the run is live
                raise Refusal(409, str(exc), needs="force") from exc
            raise
        self.reply(record)


class PendingApprovalsHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self):
        limit = self.int_argument("limit", 50)
        self.reply({"runs": await self.call(registry_views.pending_approvals, self.store, limit)})


class ModelsHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self):
        self.reply({"models": await self.call(registry_views.models, self.store)})


class ModelVersionsHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self, name):
        self.reply({"name": name, "versions": await self.call(registry_views.versions, self.store, name)})


class ModelVersionHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self, name, version):
        version = bounded_int("version", version, 1, INT32_MAX)
        self.reply(await self.call(registry_views.version_detail, self.store, name, version))


class VerifyHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self, name, version):
        version = bounded_int("version", version, 1, INT32_MAX)
        self.reply(await self.call(registry_views.verify, self.store, name, version))


class AliasHandler(MlopsHandler):
    """POST ``{"alias": "production", "version": 3}`` moves (or creates) an alias, as the
    authenticated user (a ``by`` in the body is ignored: the audit entry has no place for a note)."""

    @tornado.web.authenticated
    async def post(self, name):
        body = self.json_body("alias", "version")
        alias = text_field(body, "alias")
        version = bounded_int("version", body["version"], 1, INT32_MAX)
        await self.call(registry_views.set_alias, self.store, name, version, alias, self.actor())
        self.reply({"name": name, "alias": alias, "version": version,
                    "aliases": await self.call(registry_views.aliases_of, self.store, name)})


class AuditHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self):
        limit = self.int_argument("limit", 100)
        subject = self.get_argument("subject", None) or None
        self.reply({"entries": await self.call(registry_views.audit, self.store, subject, limit)})


RUN = r"(?P<run_id>[^/]+)"
NAME = r"(?P<name>[^/]+)"


def routes() -> list[tuple[str, type]]:
    """``(pattern relative to the base URL, handler)``; every value is checked by the handler, so bad ones get a JSON error."""
    return [
        (r"experiments", ExperimentsHandler),
        (r"runs", RunsHandler),
        (r"changes", ChangesHandler),
        (r"table/keys", TableKeysHandler),
        (r"table/values", TableValuesHandler),
        (r"table/export", TableExportHandler),
        (r"series", SeriesHandler),
        (r"bulk/lifecycle", RunLifecycleHandler),
        (r"bulk/tags", RunTagsHandler),
        (rf"runs/{RUN}", RunHandler),
        (rf"runs/{RUN}/note", NoteHandler),
        (rf"runs/{RUN}/preview/(?P<path>.*)", PreviewHandler),
        (rf"runs/{RUN}/metrics/(?P<key>.+)", MetricHandler),
        (rf"runs/{RUN}/artifacts/(?P<path>.*)", ArtifactHandler),
        (rf"runs/{RUN}/notebook", NotebookHandler),
        (rf"runs/{RUN}/approval", ApprovalHandler),
        (r"approvals/pending", PendingApprovalsHandler),
        (r"diff", DiffHandler),
        (r"pipelines", PipelinesHandler),
        (rf"pipelines/{RUN}", PipelineHandler),
        (rf"pipelines/{RUN}/rerun", PipelineRerunHandler),
        (r"models", ModelsHandler),
        (rf"models/{NAME}", ModelVersionsHandler),
        (rf"models/{NAME}/versions/(?P<version>\d+)", ModelVersionHandler),
        (rf"models/{NAME}/versions/(?P<version>\d+)/verify", VerifyHandler),
        (rf"models/{NAME}/aliases", AliasHandler),
        (r"audit", AuditHandler),
    ]


def setup_handlers(web_app, tracking_uri: str | None = None) -> None:
    base_url = web_app.settings["base_url"]
    web_app.settings["mlops_tracking_uri"] = tracking_uri
    handlers = [(url_path_join(base_url, API, pattern) + "$", handler) for pattern, handler in routes()]
    web_app.add_handlers(".*$", handlers)
