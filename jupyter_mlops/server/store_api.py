"""The store over HTTP: the endpoints ``tracking/remote.py`` calls, under ``/mlops/api/tracking/``.

One endpoint per record operation of :class:`~jupyter_mlops.tracking.store.Store` that the
tracking doors use (runs, params, tags, metric batches, artifacts, datasets, and the reads the
lifecycle and the pipeline runner make), each checking what it is given and handing it to the
same Store method a local process calls. What the client cannot choose: the run's user (the
token's), columns outside an exact list, points of runs that do not exist, an artifact whose
blob was never uploaded. Every write is idempotent (the client's run id, upserts, a metric
batch's id recorded once written), so a client may retry any call whose answer it lost.

Metric batches are a JSON line (the batch's id, its run ids and metric names) followed by the
points as binary columns (see ``parse_batch``): read with numpy, several times faster than JSON.

It runs past 400 lines on purpose: one short endpoint per Store operation, each with the checks
of what it is given, kept together so that none is missed when the Store gains an operation.
"""
from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from typing import ClassVar

import tornado.web
from prometheus_client import Counter
from sqlalchemy import delete, insert, select

from ..exceptions import RunNotFoundError
from ..tracking import datasets, search
from ..tracking import schema as s
from ..tracking.model_runs import model_run_of
from ..tracking.run import MAX_KEY_LENGTH
from ..tracking.store import POINTS_PER_READ, STEP_STATUSES, now_ms
from .handlers import CHUNK, MlopsHandler, _pool, bounded_int, text_field
from .refusals import Refusal
from .uploads import MAX_UPLOAD_BYTES, BlobUpload

POINTS = Counter("mlops_server_metric_points", "Metric points written through the tracking server", ["api"])
BATCHES = Counter("mlops_server_metric_batches", "Metric batches received", ["outcome"])
RUN_ID = re.compile(r"[0-9a-f]{32}")
SHA256 = re.compile(r"[0-9a-f]{64}")
MAX_POINTS_PER_BATCH = 200_000
POINT_BYTES = 4 + 4 + 8 + 8 + 8  # run index, key index, step, value, timestamp
MAX_RUNS_PER_CALL = 1000
# Run columns a client may set when it creates or updates a run; never ``user``.
RUN_FIELDS = {"name": str, "parent_uuid": str, "source_path": str, "source_hash": str, "git_commit": str,
              "git_dirty": bool, "environment_hash": str}
UPDATE_FIELDS = {**RUN_FIELDS, "status": str, "end_time": int, "heartbeat": int, "start_time": int}
BATCH_IDS_KEPT_MS = 24 * 3600 * 1000  # a client retries for minutes, never a day
_in_flight: set[str] = set()
_in_flight_lock = threading.Lock()
_last_cleanup = [0.0]


class StoreCall(MlopsHandler):
    """JSON in, JSON out; NaN and infinity kept (the client is Python), everything else as for our API."""

    def reply(self, data) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data, default=str))

    async def run_of(self, run_id: str) -> str:
        """The full id of an existing run (404 otherwise)."""
        return await self.call(self.store.resolve_run_id, run_id)


def _fields(given, allowed: dict) -> dict:
    if not isinstance(given, dict):
        raise Refusal(400, "fields must be a JSON object")
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise Refusal(400, f"run field(s) {', '.join(unknown)[:200]} cannot be set here; allowed: "
                           f"{', '.join(sorted(allowed))}")
    for key, value in given.items():
        kind = allowed[key]
        if value is not None and (type(value) is not kind):
            raise Refusal(400, f"run field {key} must be {kind.__name__} or null, got {type(value).__name__}")
        if isinstance(value, str) and len(value) > 4096:
            raise Refusal(400, f"run field {key} is longer than 4096 characters")
    return given


def _pairs(body: dict, field: str) -> dict[str, str]:
    values = body.get(field)
    if not isinstance(values, dict):
        raise Refusal(400, f"{field} must be a JSON object of names to text")
    for key, value in values.items():
        if not key.strip() or len(key) > MAX_KEY_LENGTH:
            raise Refusal(400, f"name {key[:40]!r} in {field} must be 1 to {MAX_KEY_LENGTH} characters")
        if not isinstance(value, str):
            raise Refusal(400, f"{field}[{key[:40]!r}] must be text")
    return values


class ExperimentHandler(StoreCall):
    mlops_actions: ClassVar[dict[str, str]] = {"POST": "log"}

    @tornado.web.authenticated
    async def post(self):
        name = text_field(self.json_body("name"), "name", MAX_KEY_LENGTH)
        self.reply({"id": await self.call(self.store.experiment_id, name)})


class EnvironmentsHandler(StoreCall):
    mlops_actions: ClassVar[dict[str, str]] = {"POST": "log"}

    @tornado.web.authenticated
    async def post(self):
        body = self.json_body("hash", "python_version", "platform")
        env_hash, packages = text_field(body, "hash", 64), body.get("packages") or {}
        if not isinstance(packages, dict) or not all(isinstance(v, str) for v in packages.values()):
            raise Refusal(400, "packages must be a JSON object of distribution names to versions")
        await self.call(self.store.save_environment, env_hash, text_field(body, "python_version", 64),
                        text_field(body, "platform", 255), packages)
        self.reply({})


class EnvironmentHandler(StoreCall):
    @tornado.web.authenticated
    async def get(self, env_hash):
        found = await self.call(self.store.environment, env_hash)
        if found is None:
            raise Refusal(404, f"no environment {env_hash[:64]!r}")
        self.reply(found)


class RunsHandler(StoreCall):
    """POST creates a run as the token's user; creating the same id again is a no-op."""

    mlops_actions: ClassVar[dict[str, str]] = {"POST": "log"}

    @tornado.web.authenticated
    async def post(self):
        body = self.json_body("uuid", "experiment_id", "heartbeat_interval")
        run_id = text_field(body, "uuid", 32)
        if not RUN_ID.fullmatch(run_id):
            raise Refusal(400, f"run id {run_id[:40]!r} must be 32 lowercase hex digits")
        experiment_id = bounded_int("experiment_id", body["experiment_id"], 1, 2**62)
        interval = body["heartbeat_interval"]
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not 0.01 <= interval <= 86400:
            raise Refusal(400, "heartbeat_interval must be a number of seconds between 0.01 and 86400")
        fields = _fields(body.get("fields") or {}, RUN_FIELDS)
        await self.call(create_run, self.store, run_id, experiment_id, float(interval), self.current_user.username,
                        fields)
        self.set_status(201)
        self.reply({"run_id": run_id})


def create_run(store, run_id: str, experiment_id: int, interval: float, user: str, fields: dict) -> None:
    r, e = s.runs, s.experiments
    with store.engine.connect() as conn:
        if conn.execute(select(e.c.id).where(e.c.id == experiment_id)).first() is None:
            raise RunNotFoundError(f"no experiment with id {experiment_id}")
        if fields.get("parent_uuid") and conn.execute(select(r.c.uuid).where(r.c.uuid == fields["parent_uuid"])).first() is None:
            raise RunNotFoundError(f"no parent run {fields['parent_uuid'][:40]!r}")
        existing = conn.execute(select(r.c.experiment_id, r.c.user).where(r.c.uuid == run_id)).first()
    if existing is not None:  # a retry of a create whose answer was lost
        if (existing.experiment_id, existing.user) != (experiment_id, user):
            raise Refusal(409, f"run {run_id} exists already")
        return
    store.create_run(run_id, experiment_id, interval, **{**fields, "user": user})


class RunHandler(StoreCall):
    @tornado.web.authenticated
    async def get(self, run_id):
        record = await self.call(self.store.get_run, run_id)
        self.reply(record.to_dict())


class ResolveHandler(StoreCall):
    @tornado.web.authenticated
    async def get(self, run_id):
        self.reply({"run_id": await self.run_of(run_id)})


class UpdateHandler(StoreCall):
    mlops_actions: ClassVar[dict[str, str]] = {"POST": "log"}

    @tornado.web.authenticated
    async def post(self, run_id):
        fields = _fields(self.json_body("fields")["fields"], UPDATE_FIELDS)
        if "status" in fields and fields["status"] not in STEP_STATUSES:
            raise Refusal(400, f"status must be one of {', '.join(STEP_STATUSES)}")
        uuid = await self.run_of(run_id)
        await self.call(self.store.update_run, uuid, **fields)
        self.reply({})


class EndHandler(StoreCall):
    mlops_actions: ClassVar[dict[str, str]] = {"POST": "log"}

    @tornado.web.authenticated
    async def post(self, run_id):
        status = text_field(self.json_body("status"), "status", 16)
        if status not in STEP_STATUSES:
            raise Refusal(400, f"status must be one of {', '.join(STEP_STATUSES)}, got {status[:20]!r}")
        uuid = await self.run_of(run_id)
        await self.call(self.store.end_run, uuid, status)
        self.reply({})


class HeartbeatHandler(StoreCall):
    mlops_actions: ClassVar[dict[str, str]] = {"POST": "log"}

    @tornado.web.authenticated
    async def post(self):
        run_ids = self.json_body("run_ids")["run_ids"]
        if not isinstance(run_ids, list) or len(run_ids) > MAX_RUNS_PER_CALL or \
                not all(isinstance(r, str) and RUN_ID.fullmatch(r) for r in run_ids):
            raise Refusal(400, f"run_ids must be a list of at most {MAX_RUNS_PER_CALL} run ids")
        await self.call(self.store.beat, run_ids)
        self.reply({})


class PairsHandler(StoreCall):
    """POST ``{"values": {...}}`` sets the run's params or tags; GET (tags) reads them."""

    mlops_actions: ClassVar[dict[str, str]] = {"POST": "log"}

    @tornado.web.authenticated
    async def post(self, run_id, kind):
        values = _pairs(self.json_body("values"), "values")
        uuid = await self.run_of(run_id)
        await self.call(self.store.set_params if kind == "params" else self.store.set_tags, uuid, values)
        self.reply({})

    @tornado.web.authenticated
    async def get(self, run_id, kind):
        if kind != "tags":
            raise Refusal(404, "read a run's params with GET tracking/runs/RUN")
        self.reply({"tags": await self.call(self.store.tags_of, await self.run_of(run_id))})


class ArtifactRecordHandler(StoreCall):
    """POST ``{"path", "sha256", "size", "media_type"}``: the run's artifact, once its blob is uploaded."""

    mlops_actions: ClassVar[dict[str, str]] = {"POST": "log"}

    @tornado.web.authenticated
    async def post(self, run_id):
        from ..safe_names import check_artifact_name

        body = self.json_body("path", "sha256", "size", "media_type")
        path = check_artifact_name(text_field(body, "path", 1000))
        sha = text_field(body, "sha256", 64)
        if not SHA256.fullmatch(sha):
            raise Refusal(400, f"sha256 {sha[:70]!r} must be 64 lowercase hex digits")
        size = bounded_int("size", body["size"], 0, 2**62)
        media = text_field(body, "media_type", 255)
        uuid = await self.run_of(run_id)
        if not await self.call(blob_exists, self.store, sha):
            raise Refusal(409, f"no blob {sha} in the artifact store: upload it first (PUT tracking/blobs/{sha})")
        await self.call(self.store.add_artifact, uuid, path, sha, size, media)
        self.reply({})


class DatasetHandler(StoreCall):
    """POST a dataset of the run (``Store.add_dataset``) or, with ``role``, a catalog version."""

    mlops_actions: ClassVar[dict[str, str]] = {"POST": "log"}

    @tornado.web.authenticated
    async def post(self, run_id, kind):
        body = self.json_body("name", "fingerprint")
        name, fingerprint = text_field(body, "name", MAX_KEY_LENGTH), text_field(body, "fingerprint", 64)
        schema = body.get("schema") or {}
        if not isinstance(schema, dict):
            raise Refusal(400, "schema must be a JSON object of columns to types")
        uuid = await self.run_of(run_id)
        if kind == "datasets":
            rows, columns = bounded_int("rows", body.get("rows", 0), 0, 2**62), bounded_int("columns", body.get("columns", 0), 0, 2**31)
            await self.call(self.store.add_dataset, uuid, name, fingerprint, rows, columns, schema)
            self.reply({})
            return
        role = text_field(body, "role", 16)
        if role not in datasets.ROLES:
            raise Refusal(400, f"role must be one of {', '.join(datasets.ROLES)}")
        profile = body.get("profile") or {}
        if not isinstance(profile, dict):
            raise Refusal(400, "profile must be a JSON object")
        rows = body.get("rows")
        rows = None if rows is None else bounded_int("rows", rows, 0, 2**62)
        size = body.get("size")
        size = None if size is None else bounded_int("size", size, 0, 2**62)
        # datasets._record: the one writer of catalog versions, which a remote client's _record calls through here
        version = await self.call(datasets._record, self.store, uuid, role, name, fingerprint,
                                  text_field(body, "source_uri", 4096), schema, profile, rows, size)
        self.reply({"version_id": version})


class MetricHistoryHandler(StoreCall):
    @tornado.web.authenticated
    async def get(self, run_id, key):
        self.reply({"points": await self.call(self.store.metric_history, run_id, key)})


class PointsSinceHandler(StoreCall):
    """A live chart's poll: the run's status and its points after a point id (``after``)."""

    @tornado.web.authenticated
    async def get(self, run_id):
        after = self.int_argument("after", 0, low=0, high=2**62)
        limit = self.int_argument("limit", POINTS_PER_READ, low=1, high=POINTS_PER_READ)
        status, points = await self.call(self.store.points_since, await self.run_of(run_id), after, limit)
        self.reply({"status": status, "points": points})


class ModelRunHandler(StoreCall):
    """The run holding the model for a run (itself, or a pipeline's best step), and why."""

    @tornado.web.authenticated
    async def get(self, run_id):
        found, note = await self.call(model_run_of, self.store, await self.run_of(run_id))
        self.reply({"run_id": found, "note": note})


class LatestMetricHandler(StoreCall):
    @tornado.web.authenticated
    async def get(self, run_id, key):
        self.reply({"value": await self.call(self.store.latest_metric, await self.run_of(run_id), key)})


class TaggedRunHandler(StoreCall):
    """GET ``?key=&value=&status=...``: the newest run with that tag (a pipeline step's cache key)."""

    @tornado.web.authenticated
    async def get(self):
        key, value = self.get_argument("key"), self.get_argument("value")
        statuses = tuple(self.get_arguments("status")) or ("FINISHED",)
        if not set(statuses) <= set(STEP_STATUSES):
            raise Refusal(400, f"status must be among {', '.join(STEP_STATUSES)}")
        self.reply({"run_id": await self.call(self.store.latest_run_with_tag, key, value, statuses)})


class SearchHandler(StoreCall):
    """POST the arguments of ``search_runs``; the DataFrame comes back as columns and rows."""

    mlops_actions: ClassVar[dict[str, str]] = {"POST": "read"}

    @tornado.web.authenticated
    async def post(self):
        body = self.json_body()
        experiment = body.get("experiment")
        if experiment is not None and not (isinstance(experiment, str) or
                                           (isinstance(experiment, list) and all(isinstance(x, str) for x in experiment))):
            raise Refusal(400, "experiment must be a name or a list of names")
        order_by = body.get("order_by")
        if isinstance(order_by, str):
            order_by = [order_by]
        if order_by is not None and not (isinstance(order_by, list) and all(isinstance(x, str) for x in order_by)):
            raise Refusal(400, "order_by must be a list of strings")
        max_results = body.get("max_results")
        flags = {k: body.get(k, False) for k in ("unexecuted_steps", "all_lifecycles")}
        if not all(isinstance(v, bool) for v in flags.values()):
            raise Refusal(400, "unexecuted_steps and all_lifecycles must be true or false")
        self.reply(await self.call(search_table, self.store, experiment, text_field(body, "filter", 100_000),
                                   order_by, max_results, **flags))


def search_table(store, experiment, filter, order_by, max_results, **flags) -> dict:
    import pandas as pd

    df = search.search_runs(store, experiment, filter, order_by,
                            search.DEFAULT_MAX_RESULTS if max_results is None else max_results, **flags)
    for column in ("start_time", "end_time"):
        if column in df:
            df[column] = [None if pd.isna(t) else int(t.value // 1_000_000) for t in df[column]]
    rows = df.astype(object).where(df.notna(), None).values.tolist()
    return {"columns": list(df.columns), "rows": rows}


class MetricsHandler(StoreCall):
    """POST a columnar batch of points; a batch id seen before is acknowledged without writing."""

    mlops_actions: ClassVar[dict[str, str]] = {"POST": "log"}

    @tornado.web.authenticated
    async def post(self):
        batch = await asyncio.get_running_loop().run_in_executor(_pool, parse_batch, self.request.body)
        written = await self.call(ingest, self.store, batch)
        self.reply({"written": written, "duplicate": written is None})


def parse_batch(body: bytes) -> dict:
    """A batch as tracking/remote.py's ``encode_batch`` writes it: a JSON line ``{"batch", "runs",
    "keys", "points"}``, then the columns (uint32 run and key indexes, int64 steps, float64 values,
    int64 timestamps, little-endian). Everything is checked; a missing value (NaN) becomes None."""
    import numpy as np

    line, newline, payload = body.partition(b"\n")
    try:
        head = json.loads(line) if newline else None
    except (ValueError, RecursionError):
        head = None
    if not isinstance(head, dict):
        raise Refusal(400, "a metric batch starts with one JSON line: {\"batch\", \"runs\", \"keys\", \"points\"}")
    batch_id, runs, keys, count = (head.get(k) for k in ("batch", "runs", "keys", "points"))
    if not isinstance(batch_id, str) or not re.fullmatch(r"[0-9a-f]{32}", batch_id):
        raise Refusal(400, "batch must be a 32-hex-digit id")
    if not isinstance(runs, list) or not 0 < len(runs) <= MAX_RUNS_PER_CALL or \
            not all(isinstance(r, str) and RUN_ID.fullmatch(r) for r in runs):
        raise Refusal(400, f"runs must list 1 to {MAX_RUNS_PER_CALL} run ids")
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) and 0 < len(k) <= MAX_KEY_LENGTH
                                                         and "\x00" not in k for k in keys):
        raise Refusal(400, f"keys must list metric names of 1 to {MAX_KEY_LENGTH} characters")
    if isinstance(count, bool) or not isinstance(count, int) or not 0 < count <= MAX_POINTS_PER_BATCH:
        raise Refusal(400, f"a batch holds 1 to {MAX_POINTS_PER_BATCH} points")
    if len(payload) != count * POINT_BYTES:
        raise Refusal(400, f"a batch of {count} points has {count * POINT_BYTES} bytes of columns, got {len(payload)}")
    widths = (("run", "<u4"), ("key", "<u4"), ("step", "<i8"), ("value", "<f8"), ("timestamp", "<i8"))
    columns, offset = {}, 0
    for name, dtype in widths:
        column = np.frombuffer(payload, dtype=dtype, count=count, offset=offset)
        columns[name], offset = column, offset + column.nbytes
    for name, bound in (("run", len(runs)), ("key", len(keys))):
        if int(columns[name].max()) >= bound:
            raise Refusal(400, f"{name} holds indexes past the batch's {name}s")
    values = columns["value"].tolist()
    missing = np.flatnonzero(np.isnan(columns["value"]))
    for i in missing.tolist():  # NaN is kept as NULL (SQLite has no NaN)
        values[i] = None
    run_keys = [s.run_key(r) for r in runs]
    run = columns["run"].tolist()
    points = list(zip(map(run_keys.__getitem__, run), map(runs.__getitem__, run),
                      map(keys.__getitem__, columns["key"].tolist()), columns["step"].tolist(), values,
                      columns["timestamp"].tolist()))
    return {"batch": batch_id, "runs": runs, "points": points}


def ingest(store, batch: dict) -> int | None:
    """Write the batch's points once; None when it was written before (its id recorded, or its
    last point stored: the server died between the two)."""
    batch_id, points = batch["batch"], batch["points"]
    with _in_flight_lock:
        if batch_id in _in_flight:
            raise Refusal(409, f"batch {batch_id} is being written; retry")
        _in_flight.add(batch_id)
    try:
        b, m = s.ingested_batches, s.metrics
        last = points[-1]
        with store.engine.connect() as conn:
            if conn.execute(select(b.c.id).where(b.c.id == batch_id)).first() is not None:
                BATCHES.labels("duplicate").inc()
                return None
            # A batch is written in one transaction, so its last point is there exactly when the
            # batch is: this catches a batch whose id was not recorded (the server died in between).
            if conn.execute(select(m.c.id).where(m.c.run_key == last[0], m.c.run_uuid == last[1], m.c.key == last[2],
                                                 m.c.step == last[3], m.c.timestamp == last[5]).limit(1)).first():
                BATCHES.labels("duplicate").inc()
                return None
            known = set()
            for start in range(0, len(batch["runs"]), 500):
                part = batch["runs"][start:start + 500]
                known.update(conn.execute(select(s.runs.c.uuid).where(s.runs.c.uuid.in_(part))).scalars())
        missing = [r for r in batch["runs"] if r not in known]
        if missing:
            raise RunNotFoundError(f"metric batch names {len(missing)} run(s) this store does not have: {missing[0]}")
        store.insert_metrics(points)
        with store.engine.begin() as conn:
            conn.execute(insert(b).values(id=batch_id, points=len(points), created_at=now_ms()))
            if time.monotonic() - _last_cleanup[0] > 600:
                _last_cleanup[0] = time.monotonic()
                conn.execute(delete(b).where(b.c.created_at < now_ms() - BATCH_IDS_KEPT_MS))
        BATCHES.labels("written").inc()
        POINTS.labels("mlops").inc(len(points))
        return len(points)
    finally:
        with _in_flight_lock:
            _in_flight.discard(batch_id)


def blob_exists(store, sha: str) -> bool:
    artifacts = store.artifacts
    if getattr(artifacts, "is_remote", False):
        return artifacts.fs.exists(artifacts._key(sha))
    return artifacts.local_path(sha).is_file()


@tornado.web.stream_request_body
class BlobHandler(StoreCall):
    """``HEAD`` whether the store has a blob, ``GET`` it, ``PUT`` it: streamed, checked against its name."""

    mlops_actions: ClassVar[dict[str, str]] = {"PUT": "log", "HEAD": "read", "GET": "read"}
    upload: BlobUpload | None = None

    async def prepare(self):
        await super().prepare()
        if not SHA256.fullmatch(self.path_kwargs["sha256"]):
            raise Refusal(400, f"{self.path_kwargs['sha256'][:70]!r} is not a sha256 (64 lowercase hex digits)")
        if self.request.method == "PUT":
            self.request.connection.set_max_body_size(MAX_UPLOAD_BYTES)

    async def data_received(self, chunk: bytes) -> None:
        if self.upload is None:
            self.upload = await self.call(BlobUpload, self.store)
        self.upload.write(chunk)

    @tornado.web.authenticated
    async def put(self, sha256):
        upload = self.upload or await self.call(BlobUpload, self.store)
        self.upload = None
        sha, size = await self.call(upload.finish, sha256)
        self.reply({"sha256": sha, "size": size})

    def on_connection_close(self) -> None:
        if self.upload is not None:
            self.upload.abort()
            self.upload = None

    @tornado.web.authenticated
    async def head(self, sha256):
        if not await self.call(blob_exists, self.store, sha256):
            self.set_status(404)  # an ordinary answer (the client uploads it next), not a refusal to log
        self.finish()

    @tornado.web.authenticated
    async def get(self, sha256):
        if not await self.call(blob_exists, self.store, sha256):
            raise Refusal(404, f"no blob {sha256}")
        target = await self.call(self.store.artifacts.local_path, sha256)
        fh = await self.call(open, target, "rb")
        try:
            self.set_header("Content-Type", "application/octet-stream")
            while chunk := await self.call(fh.read, CHUNK):
                self.write(chunk)
                await self.flush()
        finally:
            fh.close()
        self.finish(set_content_type="application/octet-stream")


RUN = r"(?P<run_id>[^/]+)"


def routes() -> list[tuple[str, type]]:
    from .auth import authorized

    table = [
        (r"tracking/experiments", ExperimentHandler),
        (r"tracking/environments", EnvironmentsHandler),
        (r"tracking/environments/(?P<env_hash>[^/]+)", EnvironmentHandler),
        (r"tracking/runs", RunsHandler),
        (rf"tracking/runs/{RUN}", RunHandler),
        (rf"tracking/resolve/{RUN}", ResolveHandler),
        (rf"tracking/runs/{RUN}/update", UpdateHandler),
        (rf"tracking/runs/{RUN}/end", EndHandler),
        (rf"tracking/runs/{RUN}/(?P<kind>params|tags)", PairsHandler),
        (rf"tracking/runs/{RUN}/artifacts", ArtifactRecordHandler),
        (rf"tracking/runs/{RUN}/(?P<kind>datasets|dataset-versions)", DatasetHandler),
        (rf"tracking/runs/{RUN}/metrics/(?P<key>.+)", MetricHistoryHandler),
        (rf"tracking/runs/{RUN}/latest/(?P<key>.+)", LatestMetricHandler),
        (rf"tracking/runs/{RUN}/points", PointsSinceHandler),
        (rf"tracking/runs/{RUN}/model-run", ModelRunHandler),
        (r"tracking/tagged-run", TaggedRunHandler),
        (r"tracking/heartbeat", HeartbeatHandler),
        (r"tracking/metrics", MetricsHandler),
        (r"tracking/search", SearchHandler),
        (r"tracking/blobs/(?P<sha256>[^/]+)", BlobHandler),
    ]
    return [(pattern, authorized(handler)) for pattern, handler in table]
