"""The REST server of one model package: ``jupyter mlops serve NAME@ALIAS``.

``POST /predict`` takes JSON (``records``, ``dataframe_split``, ``instances``) or CSV and answers
``{"predictions": [...]}`` (``?probabilities=true`` adds them). ``/livez``, ``/readyz``,
``/metrics`` (Prometheus text), ``/v1/model`` and the OpenAPI docs at ``/docs`` come with it.

Kept lean for latency: the body is read raw (no pydantic model), guards (token, size limit)
and metrics live in one plain ASGI middleware, an ONNX prediction of a few rows runs inline on
the event loop, and scikit-learn predictions share model calls through ``MicroBatcher``.
"""
from __future__ import annotations

import hmac
import json
import logging
import time
from contextlib import asynccontextmanager

from ..exceptions import MlopsError
from ..registry.loaded import InputSchemaError
from . import DEFAULT_MAX_BODY_BYTES
from .batcher import MicroBatcher
from .inputs import FORMATS, BadRequest, InputReader
from .metrics import ServerMetrics

try:  # at module level: FastAPI reads the endpoints' annotations from this module's globals
    from fastapi import FastAPI, Request
    from fastapi.responses import PlainTextResponse, Response
except ImportError as exc:
    raise MlopsError(f"serving needs FastAPI and uvicorn ({exc.name} is missing): "
                     "pip install 'jupyter_mlops[serve]'") from None

log = logging.getLogger("jupyter_mlops")

INLINE_ROWS = 256  # ONNX scores this many rows in well under a millisecond: not worth a thread hop
OPEN_PATHS = ("/livez", "/readyz", "/docs", "/openapi.json", "/docs/oauth2-redirect")
JSON = "application/json"


def create_app(model, token: str | None = None, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
               log_predictions: float = 0.0, store=None):
    """A FastAPI app serving ``model`` (a loaded ``PackagedModel``)."""
    metrics = ServerMetrics(model.ref, model.runtime)
    reader = InputReader(model)
    engine = model.engine
    batcher = MicroBatcher(engine)
    state = {"ready": False, "logger": None}

    @asynccontextmanager
    async def lifespan(app):
        if log_predictions:
            from ..tracking.store import open_store
            from .prediction_log import PredictionLogger

            state["logger"] = PredictionLogger(store or open_store(), model.name, model.version, model.input_columns,
                                               log_predictions).start()
        _warm_up(model, reader)
        state["ready"] = True
        yield
        state["ready"] = False
        batcher.close()
        if state["logger"] is not None:
            state["logger"].close()

    app = FastAPI(title=f"{model.ref} ({model.runtime})", version=str(model.version), lifespan=lifespan,
                  redoc_url=None, description=_description(model))

    def reply(status: int, body: dict, reason: str | None = None) -> Response:
        if reason:
            metrics.error(reason)
        return Response(json.dumps(body), status_code=status, media_type=JSON)

    @app.post("/predict", openapi_extra=_predict_openapi(model), response_description="one prediction per row")
    async def predict(request: Request):
        """Predict the rows in the body (JSON: records / dataframe_split / instances, or text/csv);
        ``?probabilities=true`` adds each class's probability."""
        probabilities = request.query_params.get("probabilities", "").lower() in ("1", "true", "yes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body_bytes:  # a chunked body has no Content-Length to refuse up front
                return reply(413, {"error": f"body larger than {max_body_bytes} bytes"}, "too_large")
        media = request.headers.get("content-type", JSON).split(";")[0].strip().lower()
        try:
            if media in (JSON, "application/x-json", "text/json"):
                X = reader.from_json(bytes(body))
            elif media in ("text/csv", "application/csv"):
                X = reader.from_csv(bytes(body))
            else:
                return reply(415, {"error": f"unsupported content type {media[:60]!r}: send application/json "
                                            "or text/csv"}, "media_type")
        except BadRequest as exc:
            return reply(400, {"error": str(exc)}, "bad_request")
        except InputSchemaError as exc:
            return reply(422, {"error": str(exc), "column": exc.column}, "schema")
        if probabilities and not engine.has_proba:
            return reply(400, {"error": f"{model.ref} gives no probabilities"}, "bad_request")
        try:
            if engine.name == "onnx" and len(X) <= INLINE_ROWS:
                predictions = engine.predict(X)
                proba = engine.predict_proba(X) if probabilities else None
            else:
                predictions, proba = await batcher.submit(X, probabilities)
        except Exception as exc:  # never echo the input: the type is enough, the log has the rest
            log.exception("prediction failed for %s", model.ref)
            return reply(500, {"error": f"prediction failed ({type(exc).__name__}); see the server log"}, "model")
        metrics.rows += len(X)
        if state["logger"] is not None:
            state["logger"].offer(X, predictions)
        out = {"predictions": predictions.tolist()}
        if proba is not None:
            out["probabilities"] = proba.tolist()
        return Response(json.dumps(out), media_type=JSON)

    @app.get("/livez")
    async def livez():
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz():
        """The model is loaded and warmed up (and the prediction log writer runs, when enabled)."""
        logger = state["logger"]
        if not state["ready"] or (logger is not None and not logger.alive):
            return Response(json.dumps({"status": "not ready"}), status_code=503, media_type=JSON)
        return {"status": "ready", "model": model.ref, "runtime": model.runtime}

    @app.get("/metrics", response_class=PlainTextResponse)
    async def prometheus():
        """Prometheus text format: requests by path and status, latency histogram, errors."""
        if state["logger"] is not None:
            metrics.logged.update(written=state["logger"].written - metrics.logged["written"],
                                  dropped=state["logger"].dropped - metrics.logged["dropped"])
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/model")
    async def describe():
        """Name, version, signature, runtime and lineage summary of the served model."""
        return model_summary(model)

    app.add_middleware(Guard, metrics=metrics, token=token, max_body_bytes=max_body_bytes)
    return app


class Guard:
    """Plain ASGI middleware: bearer token, Content-Length limit, and per-request metrics."""

    def __init__(self, app, metrics: ServerMetrics, token: str | None, max_body_bytes: int):
        self.app, self.metrics, self.max_body_bytes = app, metrics, max_body_bytes
        self.expected = f"Bearer {token}".encode() if token else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = [500]

        async def sending(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        path = scope["path"]
        try:
            headers = dict(scope["headers"])
            if self.expected is not None and path not in OPEN_PATHS and \
                    not hmac.compare_digest(headers.get(b"authorization", b""), self.expected):
                self.metrics.error("unauthorized")
                await _respond(sending, 401, {"error": "missing or wrong bearer token"},
                               [(b"www-authenticate", b'Bearer realm="jupyter-mlops"')])
            elif _content_length(headers) > self.max_body_bytes:
                self.metrics.error("too_large")
                await _respond(sending, 413, {"error": f"body larger than {self.max_body_bytes} bytes"})
            else:
                await self.app(scope, receive, sending)
        finally:
            self.metrics.observe(ServerMetrics.path_label(path), status[0], time.perf_counter() - start)


def _content_length(headers: dict) -> int:
    try:
        return int(headers.get(b"content-length", b"0"))
    except ValueError:
        return 0


async def _respond(send, status: int, body: dict, headers=()) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", JSON.encode()), (b"content-length", str(len(data)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": data})


def model_summary(model) -> dict:
    lineage = model.lineage or {}
    approval = lineage.get("approval") or {}
    return {
        "name": model.name, "version": model.version, "ref": model.ref,
        "runtime": model.runtime, "runtime_note": model.runtime_note,
        "signature": model.signature,
        "lineage": {
            "run_id": lineage.get("run_id"), "run_name": lineage.get("run_name"),
            "experiment": lineage.get("experiment"), "git_commit": lineage.get("git_commit"),
            "pipeline_run_id": lineage.get("pipeline_run_id"),
            "datasets": [{k: d.get(k) for k in ("name", "fingerprint")} for d in lineage.get("datasets", [])],
            "params": lineage.get("params", {}), "metrics": model.metrics,
            "approved_by": approval.get("actor"), "approved_at": approval.get("created_at"),
        },
    }


def _warm_up(model, reader: InputReader) -> None:
    """One prediction before /readyz says yes: first calls pay for lazy imports and allocations."""
    example = model.input_example
    if example and example.get("data"):
        X = reader.from_json(json.dumps({"dataframe_split": example}).encode())
        model.engine.predict(X)


def _description(model) -> str:
    columns = ", ".join(f"`{i['name']}` ({i['dtype']})" for i in model.signature.get("inputs", [])[:50])
    return (f"Model **{model.ref}** on the {model.runtime} runtime. Inputs: {columns or 'no signature'}. "
            f"`POST /predict` accepts JSON with one of {', '.join(FORMATS)}, or `text/csv`.")


def _predict_openapi(model) -> dict:
    example = model.input_example or {"columns": model.input_columns, "data": []}
    records = [dict(zip(example["columns"], row)) for row in example.get("data", [])[:1]]
    row = {"type": "array", "items": {}}
    schema = {"type": "object", "properties": {
        "records": {"type": "array", "items": {"type": "object"}, "description": "one object per row"},
        "dataframe_split": {"type": "object", "properties": {"columns": {"type": "array", "items": {"type": "string"}},
                                                             "data": {"type": "array", "items": row}}},
        "instances": {"type": "array", "description": "objects, or lists in the model's column order"},
    }}
    header = ",".join(example["columns"])
    first = ",".join("" if v is None else str(v) for v in (example.get("data") or [[]])[0])
    return {"parameters": [{"name": "probabilities", "in": "query", "required": False,
                            "schema": {"type": "boolean", "default": False}}],
            "requestBody": {"required": True, "content": {
        JSON: {"schema": schema, "examples": {
            "records": {"value": {"records": records}},
            "dataframe_split": {"value": {"dataframe_split": {"columns": example["columns"],
                                                              "data": example.get("data", [])[:1]}}}}},
        "text/csv": {"schema": {"type": "string"}, "example": f"{header}\n{first}\n"},
    }}}


def serve(model, host: str = "127.0.0.1", port: int = 8000, token: str | None = None,
          max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, log_predictions: float = 0.0) -> None:
    """Run the server until interrupted (uvicorn, one process; uvloop and httptools when installed)."""
    import uvicorn

    app = create_app(model, token=token, max_body_bytes=max_body_bytes, log_predictions=log_predictions)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, lifespan="on")
