"""REST handlers under ``/mlops/api/``: the sidebar's door onto the store and the registry.

Every handler is an ``APIHandler`` behind ``@tornado.web.authenticated`` (POSTs are also
XSRF-checked by Jupyter Server, as for its own API). Store calls block, so they run in a small
thread pool; errors come back as JSON ``{"message": ...}`` with 4xx for bad input.
"""
from __future__ import annotations

import asyncio
import json
import mimetypes
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from .. import exceptions as errors
from ..tracking.store import open_store
from . import artifact_files, nbdiff, queries, registry_views, rerun

API = "mlops/api"
CHUNK = 1 << 20
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="mlops-api")


def _status_for(exc: Exception) -> int | None:
    """The HTTP status a library error stands for (None: not a client error)."""
    if isinstance(exc, (errors.RunNotFoundError, errors.ModelNotFoundError, FileNotFoundError)):
        return 404
    if isinstance(exc, (errors.ApprovalRefusedError, errors.PackageVerificationError)):
        return 409  # the request is fine; the run or package is not in a state that allows it
    if isinstance(exc, artifact_files.ArtifactOutsideStoreError):
        return 403
    if isinstance(exc, (errors.InvalidInputError, ValueError)):  # InvalidNameError and FilterSyntaxError too
        return 400
    return None


class MlopsHandler(APIHandler):
    """Runs store work off the event loop and turns library errors into JSON HTTP errors."""

    @property
    def store(self):
        return open_store(self.settings.get("mlops_tracking_uri"))

    async def call(self, fn, *args, **kwargs):
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(_pool, partial(fn, *args, **kwargs))
        except tornado.web.HTTPError:
            raise
        except Exception as exc:
            status = _status_for(exc)
            if status is None:
                self.log.exception("jupyter_mlops: %s failed", self.request.path)
                raise tornado.web.HTTPError(500, _escape(f"{type(exc).__name__}: {exc}")) from exc
            raise tornado.web.HTTPError(status, _escape(str(exc))) from exc

    def reply(self, data) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data, default=str, allow_nan=False))

    def int_argument(self, name: str, default: int) -> int:
        raw = self.get_argument(name, None)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise tornado.web.HTTPError(400, _escape(f"query argument {name} must be an integer, got {raw!r}"))

    def json_body(self, *required: str) -> dict:
        try:
            body = json.loads(self.request.body or b"{}")
        except json.JSONDecodeError as exc:
            raise tornado.web.HTTPError(400, _escape(f"request body is not JSON: {exc}"))
        if not isinstance(body, dict):
            raise tornado.web.HTTPError(400, "request body must be a JSON object")
        missing = [k for k in required if body.get(k) in (None, "")]
        if missing:
            raise tornado.web.HTTPError(400, _escape(f"request body is missing {', '.join(missing)}"))
        return body

    async def notebook_of(self, run_id: str) -> tuple[dict, dict]:
        """``(run detail, notebook JSON)`` of the run's notebook snapshot; 404 when it has none."""
        detail = await self.call(queries.run_detail, self.store, run_id)
        if not detail["notebook"]:
            raise tornado.web.HTTPError(404, _escape(f"run {detail['run_id']} has no notebook snapshot"))
        nb = await self.call(artifact_files.read_artifact_json, self.store, detail["run_id"], detail["notebook"])
        return detail, nb

    def actor(self, body: dict) -> str:
        """Who acts: the name given in the body, else the logged-in Jupyter user."""
        if body.get("by"):
            return str(body["by"])
        user = self.current_user
        return getattr(user, "username", None) or getattr(user, "name", None) or "jupyter"


def _escape(message: str) -> str:
    # HTTPError formats its log message with %-args; a literal % in user text must survive it.
    return message.replace("%", "%%")


class ExperimentsHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self):
        self.reply({"experiments": await self.call(self.store.experiments)})


class RunsHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self):
        order = self.get_argument("order", "desc").lower()
        if order not in ("asc", "desc"):
            raise tornado.web.HTTPError(400, _escape(f"order must be asc or desc, got {order!r}"))
        page = await self.call(
            queries.runs_page, self.store,
            experiment=self.get_argument("experiment", None) or None,
            filter=self.get_argument("filter", None) or None,
            sort=self.get_argument("sort", None) or None,
            descending=order == "desc",
            page=self.int_argument("page", 0),
            page_size=self.int_argument("page_size", 50),
        )
        self.reply(page)


class RunHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self, run_id):
        detail = await self.call(queries.run_detail, self.store, run_id)
        detail["approval"] = await self.call(registry_views.approval_of, self.store, detail["run_id"])
        self.reply(detail)


class MetricHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self, run_id, key):
        max_points = self.int_argument("max_points", queries.DEFAULT_MAX_POINTS)
        self.reply(await self.call(queries.metric_series, self.store, run_id, key, max_points))


class ArtifactHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self, run_id, path):
        target, row = await self.call(artifact_files.resolve, self.store, run_id, path)
        media_type = row["media_type"] or mimetypes.guess_type(path)[0] or "application/octet-stream"
        self.set_header("Content-Length", str(row["size"]))
        self.set_header("X-Content-Type-Options", "nosniff")
        name = path.rsplit("/", 1)[-1].replace('"', "")
        self.set_header("Content-Disposition", f'attachment; filename="{name}"')
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
    """The run's notebook snapshot as JSON, for opening it in JupyterLab."""

    @tornado.web.authenticated
    async def get(self, run_id):
        detail, nb = await self.notebook_of(run_id)
        self.reply({"run_id": detail["run_id"], "path": detail["notebook"], "notebook": nb})


class DiffHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self):
        a, b = self.get_argument("a", None), self.get_argument("b", None)
        if not a or not b:
            raise tornado.web.HTTPError(400, "give two runs as query arguments a and b")
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
            raise tornado.web.HTTPError(409, _escape(str(exc)))
        except errors.InvalidInputError as exc:
            raise tornado.web.HTTPError(400, _escape(str(exc)))
        started = await rerun.start(spec, self.store.uri)
        self.set_status(202)
        self.reply(started)


class ApprovalHandler(MlopsHandler):
    """POST ``{"decision": "approve"|"reject", "reason": ..., "by"?: ...}``; GET the current record."""

    @tornado.web.authenticated
    async def get(self, run_id):
        uuid = await self.call(self.store.resolve_run_id, run_id)
        record = await self.call(registry_views.approval_of, self.store, uuid)
        if record is None:
            raise tornado.web.HTTPError(404, _escape(f"run {uuid} has no approval decision"))
        self.reply(record)

    @tornado.web.authenticated
    async def post(self, run_id):
        body = self.json_body("decision", "reason")
        decision = str(body["decision"]).lower()
        if decision not in ("approve", "reject"):
            raise tornado.web.HTTPError(400, _escape(f"decision must be approve or reject, got {decision!r}"))
        uuid = await self.call(self.store.resolve_run_id, run_id)
        record = await self.call(registry_views.decide, self.store, uuid, decision, self.actor(body), str(body["reason"]))
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
        self.reply(await self.call(registry_views.version_detail, self.store, name, int(version)))


class VerifyHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self, name, version):
        self.reply(await self.call(registry_views.verify, self.store, name, int(version)))


class AliasHandler(MlopsHandler):
    """POST ``{"alias": "production", "version": 3, "by"?: ...}`` moves (or creates) an alias."""

    @tornado.web.authenticated
    async def post(self, name):
        body = self.json_body("alias", "version")
        try:
            version = int(body["version"])
        except (TypeError, ValueError):
            raise tornado.web.HTTPError(400, _escape(f"version must be an integer, got {body['version']!r}"))
        await self.call(registry_views.set_alias, self.store, name, version, str(body["alias"]), self.actor(body))
        self.reply({"name": name, "alias": str(body["alias"]), "version": version,
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
        (rf"runs/{RUN}", RunHandler),
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
