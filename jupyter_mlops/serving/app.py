"""The REST server of one model package: ``jupyter mlops serve NAME@ALIAS``.

``POST /predict`` takes JSON (``records``, ``dataframe_split``, ``instances``) or CSV and answers
``{"predictions": [...]}`` (``?probabilities=true`` adds them). ``/livez``, ``/readyz``,
``/metrics`` (Prometheus text), ``/v1/model`` and the OpenAPI docs at ``/docs`` come with it.

Kept lean for latency: the body is read raw (no pydantic model), guards (token, size limit)
and metrics live in one plain ASGI middleware, an ONNX prediction of a few rows runs inline on
the event loop, and scikit-learn predictions share model calls through ``MicroBatcher``. A large
body is parsed, predicted and encoded in a worker thread instead, so probes and small requests
keep their answers coming while it runs. Every error, a bug's 500 included, is JSON ``{"error": ...}``.
"""
from __future__ import annotations

import gc
import hmac
import json
import logging
import signal
import time
from contextlib import asynccontextmanager

from ..exceptions import InputSchemaError, MlopsError
from . import DEFAULT_MAX_BODY_BYTES
from .batcher import MicroBatcher
from .inputs import FORMATS, BadRequest, InputReader
from .metrics import ServerMetrics

try:  # at module level: FastAPI reads the endpoints' annotations from this module's globals
    import anyio.to_thread
    from fastapi import FastAPI, Request
    from fastapi.responses import PlainTextResponse, Response
    from starlette.exceptions import HTTPException as StarletteHTTPException
except ImportError as exc:
    raise MlopsError(f"serving needs FastAPI and uvicorn ({exc.name} is missing): "
                     "pip install 'jupyter_mlops[serve]'") from None

log = logging.getLogger("jupyter_mlops")

INLINE_ROWS = 256  # ONNX scores this many rows in well under a millisecond: not worth a thread hop
# Bodies up to this size (a row of 30 columns is ~1 kB of JSON) are read on the event loop; larger ones
# are parsed, predicted and encoded in a worker thread, at most LARGE_WORKERS at a time.
INLINE_BYTES = 64 * 1024
LARGE_WORKERS = 2
ENCODE_ROWS = 10_000  # json.dumps keeps the GIL for a whole list: this many rows at a time lets others in
PARSERS = {"application/json": "from_json", "application/x-json": "from_json", "text/json": "from_json",
           "text/csv": "from_csv", "application/csv": "from_csv"}  # media type -> InputReader method
OPEN_PATHS = ("/livez", "/readyz", "/docs", "/openapi.json", "/docs/oauth2-redirect")
JSON = "application/json"


def create_app(model, token: str | None = None, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
               log_predictions: float = 0.0, store=None, freeze_heap: bool = False):
    """A FastAPI app serving ``model`` (a loaded ``PackagedModel``). ``freeze_heap`` (for a process that only
    serves): once warmed up, the objects alive are left out of garbage collection (``gc.freeze``). A full
    collection walks every tracked object; with the model and its libraries frozen, those a large request
    makes still trigger some, but each takes milliseconds instead of up to half a second of stalled answers."""
    metrics = ServerMetrics(model.ref, model.runtime)
    reader = InputReader(model)
    engine = model.engine
    batcher = MicroBatcher(engine)
    state = {"ready": False, "logger": None, "limiter": None}

    @asynccontextmanager
    async def lifespan(app):
        if log_predictions:
            from ..tracking.store import open_store
            from .prediction_log import PredictionLogger

            state["logger"] = PredictionLogger(store or open_store(), model.name, model.version, model.input_columns,
                                               log_predictions).start()
        state["limiter"] = anyio.CapacityLimiter(LARGE_WORKERS)
        _warm_up(model, reader)
        if freeze_heap:
            gc.collect()
            gc.freeze()
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
        if media not in PARSERS:
            return reply(415, {"error": f"unsupported content type {media[:60]!r}: send application/json "
                                        "or text/csv"}, "media_type")
        if probabilities and not engine.has_proba:
            return reply(400, {"error": f"{model.ref} gives no probabilities"}, "bad_request")
        try:
            if len(body) > INLINE_BYTES:  # parse, predict and encode in a worker: the event loop keeps answering
                metrics.in_worker += 1
                try:
                    X, predictions, data = await anyio.to_thread.run_sync(
                        score, bytes(body), media, probabilities, limiter=state["limiter"])
                finally:
                    metrics.in_worker -= 1
            else:
                X = getattr(reader, PARSERS[media])(bytes(body))
                if engine.name == "onnx" and len(X) <= INLINE_ROWS:
                    predictions, proba = _predicted(engine, X, probabilities)
                else:
                    predictions, proba = await _batched(batcher, X, probabilities)
                data = encode(predictions, proba)
        except BadRequest as exc:
            return reply(400, {"error": str(exc)}, "bad_request")
        except InputSchemaError as exc:
            return reply(422, {"error": str(exc), "column": exc.column}, "schema")
        except PredictionFailed as exc:  # never echo the input: the type is enough, the log has the rest
            log.error("prediction failed for %s", model.ref, exc_info=exc.__cause__)
            return reply(500, {"error": f"prediction failed ({exc}); see the server log"}, "model")
        metrics.rows += len(X)
        if state["logger"] is not None:
            state["logger"].offer(X, predictions)
        return Response(data, media_type=JSON)

    def score(body: bytes, media: str, probabilities: bool):
        """A large request from body to encoded answer, in a worker thread."""
        X = getattr(reader, PARSERS[media])(body)
        predictions, proba = _predicted(engine, X, probabilities)
        return X, predictions, encode(predictions, proba)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return Response(json.dumps({"error": str(exc.detail)}), status_code=exc.status_code, media_type=JSON,
                        headers=exc.headers)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception):
        """A bug, not a client mistake; still JSON (the traceback goes to the server log, not the client)."""
        return Response(json.dumps({"error": f"internal error ({type(exc).__name__}); see the server log"}),
                        status_code=500, media_type=JSON)

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


class PredictionFailed(Exception):
    """The model raised on rows that passed every input check: a 500 naming only the exception's type."""


def _predicted(engine, X, probabilities: bool):
    try:
        return engine.predict(X), engine.predict_proba(X) if probabilities else None
    except Exception as exc:
        raise PredictionFailed(type(exc).__name__) from exc


async def _batched(batcher: MicroBatcher, X, probabilities: bool):
    try:
        return await batcher.submit(X, probabilities)
    except Exception as exc:
        raise PredictionFailed(type(exc).__name__) from exc


def encode(predictions, probabilities=None) -> bytes:
    """``{"predictions": [...], "probabilities": [...]}`` as json.dumps writes it, a slice of rows at a time."""
    parts = [b'{"predictions": ', _json_list(predictions)]
    if probabilities is not None:
        parts += [b', "probabilities": ', _json_list(probabilities)]
    return b"".join([*parts, b"}"])


def _json_list(values) -> bytes:
    if len(values) <= ENCODE_ROWS:
        return json.dumps(values.tolist()).encode()
    pieces = (json.dumps(values[i:i + ENCODE_ROWS].tolist())[1:-1] for i in range(0, len(values), ENCODE_ROWS))
    return ("[" + ", ".join(pieces) + "]").encode()


class Guard:
    """Plain ASGI middleware: bearer token, Content-Length limit, and per-request metrics."""

    def __init__(self, app, metrics: ServerMetrics, token: str | None, max_body_bytes: int):
        self.app, self.metrics, self.max_body_bytes = app, metrics, max_body_bytes
        self.token = token.encode() if token else None

    def authorized(self, headers: dict) -> bool:
        """``Authorization: Bearer <token>``; the scheme is case-insensitive (RFC 7235), the token is not."""
        scheme, _, credentials = headers.get(b"authorization", b"").partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(b" "), self.token)

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
            if self.token is not None and path not in OPEN_PATHS and not self.authorized(headers):
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
    """One prediction before /readyz says yes: first calls pay for lazy imports and allocations.
    ``model`` comes from ``load_model``, which verified the package against the registry before
    loading it, so nothing here runs code the registry did not approve."""
    example = model.input_example
    if example and example.get("data"):
        try:
            X = reader.from_json(json.dumps({"dataframe_split": example}).encode())
        except (BadRequest, InputSchemaError) as exc:  # the example breaks a request rule: serve cold
            log.warning("%s: no warm-up, its input example is refused: %s", model.ref, exc)
            return
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
          max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, log_predictions: float = 0.0,
          access_log: bool = True) -> None:
    """Run the server until interrupted (uvicorn, one process; uvloop and httptools when installed).

    ``access_log``: uvicorn's line per request (client, request line, status) on stdout, as an
    operator expects from a web server; off, only warnings and errors are printed."""
    import uvicorn

    app = create_app(model, token=token, max_body_bytes=max_body_bytes, log_predictions=log_predictions,
                     freeze_heap=True)
    # uvicorn shuts down gracefully on SIGTERM / Ctrl-C, then raises the signal again with the handler
    # that was there before it: with this one that is a return to the caller (which can say it
    # stopped, and exits 0) instead of the process dying of the signal.
    previous = signal.signal(signal.SIGTERM, _stopped)
    try:
        uvicorn.run(app, host=host, port=port, log_level="info" if access_log else "warning",
                    access_log=access_log, lifespan="on")
    except (_Stop, KeyboardInterrupt):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Stop(Exception):
    """SIGTERM reached the server after uvicorn's graceful shutdown."""


def _stopped(signum, frame):
    raise _Stop(signum)
