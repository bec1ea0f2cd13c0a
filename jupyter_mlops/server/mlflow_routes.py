"""Thin handlers for the MLflow-compatible API: ``/api/2.0/mlflow/...`` and the artifact proxy
``/api/2.0/mlflow-artifacts/artifacts/...`` (mlflow_api.py holds what they do).

Every answer is JSON; a refusal is MLflow's ``{"error_code", "message"}`` (so the ``mlflow``
client raises its usual ``RestException``), a bug an ``INTERNAL_ERROR`` 500 whose traceback
stays in the server log. The artifact proxy maps ``<experiment>/<run id>/artifacts/<path>``
onto the run's artifacts: an upload is streamed into the content-addressed store and recorded
under ``<path>``, a download streams the recorded blob.
"""
from __future__ import annotations

import json
import re
from http.client import responses
from typing import ClassVar

import tornado.web

from .. import exceptions as errors
from ..safe_names import check_artifact_name
from ..tracking import artifacts as blob_names
from ..tracking import schema as s
from . import artifact_files, mlflow_api
from .handlers import MlopsHandler
from .refusals import Refusal, refusal_for
from .store_api import POINTS
from .uploads import MAX_UPLOAD_BYTES, BlobUpload

# What a refusal's status means in MLflow's error codes (databricks.proto).
CODES = {400: "INVALID_PARAMETER_VALUE", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
         404: "RESOURCE_DOES_NOT_EXIST", 405: "BAD_REQUEST", 409: "INVALID_STATE", 413: "INVALID_PARAMETER_VALUE",
         422: "INVALID_PARAMETER_VALUE"}
ARTIFACT_PATH = re.compile(r"(?P<experiment>[^/]{1,40})/(?P<run_id>[0-9a-f]{32})/artifacts(?:/(?P<path>.*))?")


class MlflowHandler(MlopsHandler):
    """Errors in MLflow's shape; the rest (store, thread pool, JSON bodies) as for our own API."""

    def write_error(self, status_code: int, **kwargs) -> None:
        exc = (kwargs.get("exc_info") or (None, None, None))[1]
        if isinstance(exc, mlflow_api.MlflowApiError):
            status, code, message = exc.status, exc.error_code, exc.message
        elif isinstance(exc, errors.RunNotFoundError):
            status, code, message = 404, "RESOURCE_DOES_NOT_EXIST", str(exc)
        elif (refusal := refusal_for(exc)) is not None:
            status, message = refusal.status_code, refusal.message
            code = CODES.get(status, "BAD_REQUEST")
        elif exc is not None:
            status, code = 500, "INTERNAL_ERROR"
            message = f"internal error, see the server log: {type(exc).__name__}: {exc}"
        else:
            status, code, message = status_code, CODES.get(status_code, "INTERNAL_ERROR"), responses.get(status_code, "")
        self.set_status(status)
        if status == 401:
            self.set_header("WWW-Authenticate", 'Bearer realm="jupyter_mlops"')
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error_code": code, "message": message or responses.get(status, "")}))

    def log_exception(self, typ, value, tb) -> None:
        if isinstance(value, mlflow_api.MlflowApiError):
            self.log.warning("jupyter_mlops: %d %s %s: %s", value.status, self.request.method, self.request.path,
                             value.message)
        else:
            super().log_exception(typ, value, tb)


class EndpointHandler(MlflowHandler):
    """One MLflow endpoint: its function per HTTP method, with the action each needs."""

    def initialize(self, calls: dict) -> None:
        self.calls = calls
        self.mlops_actions = {method: action for method, (_, action) in calls.items()}

    async def answer(self, request: dict) -> None:
        call, _ = self.calls[self.request.method]
        self.reply(await self.call(call, self.store, self.current_user.username, request))
        if call is mlflow_api.log_metric:
            POINTS.labels("mlflow").inc()
        elif call is mlflow_api.log_batch:
            POINTS.labels("mlflow").inc(len(request.get("metrics") or ()))

    @tornado.web.authenticated
    async def get(self):
        if "GET" not in self.calls:
            raise Refusal(405, f"{self.request.path} takes POST")
        request = {}
        for key, values in self.request.query_arguments.items():
            decoded = [v.decode("utf-8", "replace") for v in values]
            request[key] = decoded[0] if len(decoded) == 1 else decoded
        if "experiment_ids" in request and isinstance(request["experiment_ids"], str):
            request["experiment_ids"] = [request["experiment_ids"]]
        await self.answer(request)

    @tornado.web.authenticated
    async def post(self):
        if "POST" not in self.calls:
            raise Refusal(405, f"{self.request.path} takes GET")
        await self.answer(self.json_body())


@tornado.web.stream_request_body
class ArtifactHandler(MlflowHandler):
    """``PUT`` streams a file into the run's artifacts, ``GET`` streams one back."""

    mlops_actions: ClassVar[dict[str, str]] = {"PUT": "log", "GET": "read"}
    upload: BlobUpload | None = None
    refused: BaseException | None = None  # why the body being received will not be kept

    async def prepare(self):
        await super().prepare()
        if self.request.method == "PUT":
            self.request.connection.set_max_body_size(MAX_UPLOAD_BYTES)

    def target(self, path: str) -> tuple[str, str]:
        """``(run id, artifact name)`` of a proxied path; the run must exist."""
        match = ARTIFACT_PATH.fullmatch(path)
        if match is None or not match["path"]:
            raise mlflow_api.invalid(f"artifact path {path[:200]!r} is not <experiment>/<run id>/artifacts/<path>")
        try:
            name = check_artifact_name(match["path"])
        except errors.InvalidInputError as exc:
            raise mlflow_api.invalid(str(exc)) from None
        return match["run_id"], name

    async def data_received(self, chunk: bytes) -> None:
        if self.refused is not None:
            return  # read to the end and dropped; put() answers with the refusal
        if self.upload is None:
            try:
                run_id, _ = self.target(self.path_kwargs["path"])
                await self.call(mlflow_api.run_id_of, self.store, {"run_id": run_id}, logging=True)
            except mlflow_api.MlflowApiError as exc:
                self.refused = exc
                return
            self.upload = await self.call(BlobUpload, self.store)
        self.upload.write(chunk)

    @tornado.web.authenticated
    async def put(self, path):
        if self.refused is not None:
            raise self.refused
        run_id, name = self.target(path)
        await self.call(mlflow_api.run_id_of, self.store, {"run_id": run_id}, logging=True)
        upload = self.upload or await self.call(BlobUpload, self.store)
        self.upload = None
        sha, size = await self.call(upload.finish)
        await self.call(self.store.add_artifact, run_id, name, sha, size, blob_names.media_type_of(name))
        self.reply({})

    def on_connection_close(self) -> None:
        if self.upload is not None:  # the client went away mid-upload: nothing is kept
            self.upload.abort()
            self.upload = None

    @tornado.web.authenticated
    async def get(self, path):
        run_id, name = self.target(path)
        try:
            target, row = await self.call(artifact_files.resolve, self.store, run_id, name)
        except FileNotFoundError as exc:
            raise mlflow_api.not_found(str(exc)) from None
        await self.send_artifact(target, row, name)


class ArtifactListHandler(MlflowHandler):
    """``GET ?path=<experiment>/<run id>/artifacts[/folder]``: the folder's files and sub-folders."""

    @tornado.web.authenticated
    async def get(self):
        path = self.get_argument("path", "")
        match = ARTIFACT_PATH.fullmatch(path.strip("/"))
        if match is None:
            self.reply({"files": []})  # MLflow lists nothing where there is nothing
            return
        run_id = await self.call(mlflow_api.run_id_of, self.store, {"run_id": match["run_id"]})
        folder = (match["path"] or "").strip("/")
        self.reply({"files": await self.call(list_folder, self.store, run_id, folder)})


class NotCoveredHandler(MlflowHandler):
    """Any other MLflow endpoint (the model registry, traces, ...): ``ENDPOINT_NOT_FOUND`` in
    MLflow's shape, so the client says so instead of failing on an HTML page."""

    mlops_actions: ClassVar[dict[str, str]] = dict.fromkeys(("GET", "POST", "PUT", "PATCH", "DELETE"), "read")

    async def refuse(self, *args):
        raise mlflow_api.MlflowApiError(
            "ENDPOINT_NOT_FOUND", f"{self.request.method} {self.request.path[:200]} is not covered by this server's "
            "MLflow compatibility (tracking and artifacts are; see the README)", 404)

    get = post = put = patch = delete = refuse


def list_folder(store, run_id: str, folder: str) -> list[dict]:
    from sqlalchemy import select

    a = s.artifacts
    with store.engine.connect() as conn:
        rows = conn.execute(select(a.c.path, a.c.size).where(a.c.run_uuid == run_id).order_by(a.c.path)).all()
    prefix = f"{folder}/" if folder else ""
    children: dict[str, dict] = {}
    for path, size in rows:
        if not path.startswith(prefix) or path == folder:
            continue
        head, _, rest = path[len(prefix):].partition("/")
        if rest:
            children.setdefault(head, {"path": head, "is_dir": True})
        else:
            children[head] = {"path": head, "is_dir": False, "file_size": size}
    return list(children.values())


def routes() -> list[tuple]:
    """``(pattern relative to the base URL, handler[, kwargs])`` of the MLflow API, each behind the role check."""
    from .auth import authorized

    calls: dict[str, dict] = {}
    for path, method, call, action in mlflow_api.ENDPOINTS:
        calls.setdefault(path, {})[method] = (call, action)
    endpoint = authorized(EndpointHandler)
    found: list[tuple] = [(rf"api/2\.0/mlflow/{re.escape(path)}", endpoint, {"calls": table})
                          for path, table in calls.items()]
    found.append((r"api/2\.0/mlflow-artifacts/artifacts", authorized(ArtifactListHandler)))
    found.append((r"api/2\.0/mlflow-artifacts/artifacts/(?P<path>.+)", authorized(ArtifactHandler)))
    found.append((r"(?:ajax-)?api/[0-9.]+/mlflow(?:-artifacts)?/.*", authorized(NotCoveredHandler)))
    return found
