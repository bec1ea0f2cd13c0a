"""The store over HTTP: ``MLOPS_TRACKING_URI=http(s)://host:port`` (and ``MLOPS_TOKEN``) makes every
door (the API, magics, the pipeline runner, Dask workers) log to ``jupyter mlops server``.

:class:`RemoteStore` has the record operations of :class:`~jupyter_mlops.tracking.store.Store`
that tracking needs, each one REST call (server/store_api.py); the process holds a token and no
database credentials. ``log_metric`` is unchanged: the same buffered :class:`MetricWriter`
thread hands its batches to :meth:`RemoteStore.insert_metrics`, which POSTs them (binary columns,
at most ``POINTS_PER_REQUEST`` per request, each with an id the server records so that a retry
never writes twice). Every call is retried with exponential backoff on a lost connection or a
5xx answer; when the server stays away the writer keeps the newest ``MLOPS_MAX_BUFFERED``
points, counts what it drops and records the count on the run once the server is back.

Artifacts are streamed in chunks (``requests`` sends a file object as it reads it) to
``tracking/blobs/<sha256>``; the server checks the digest of what arrived against the name, and
a downloaded blob is checked again here. The registry, gc and SQL-level reads (``store.engine``)
are not available through the server yet: using them says so.
"""
from __future__ import annotations

import hashlib
import logging
import math
import os
import random
import tempfile
import threading
import time
from operator import itemgetter
from pathlib import Path
from urllib.parse import quote, urlsplit

from .. import config
from ..exceptions import InvalidInputError, RunNotFoundError, StoreError
from . import artifacts as blobs

log = logging.getLogger("jupyter_mlops")
ENV_TOKEN = "MLOPS_TOKEN"
ENV_RETRY_SECONDS = "MLOPS_REMOTE_RETRY_SECONDS"
API = "/mlops/api/tracking"
POINTS_PER_REQUEST = 50_000
BATCH_MEDIA_TYPE = "application/x-mlops-metric-batch"
DEFAULT_RETRY_SECONDS = 30.0  # a restarting server has this long before a call gives up
RETRY_STATUSES = frozenset({409, 429, 500, 502, 503, 504})  # 409: the same batch is being written
CONNECT_TIMEOUT, READ_TIMEOUT = 10, 300


class RemoteStore:
    """The tracking store behind ``jupyter mlops server``; thread-safe, one instance per URI and process."""

    is_remote = True

    def __init__(self, uri: str, token: str | None = None):
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise StoreError(f"tracking server URI {uri!r} must look like http(s)://host:port")
        if parts.username or parts.password:
            raise StoreError("put the tracking server's token in MLOPS_TOKEN, not in MLOPS_TRACKING_URI")
        self.uri = uri.rstrip("/")
        self.token = token if token is not None else os.environ.get(ENV_TOKEN, "")
        self.retry_seconds = float(os.environ.get(ENV_RETRY_SECONDS, DEFAULT_RETRY_SECONDS))
        self.artifact_root = config.get_artifact_root(self.uri)  # local cache of downloaded blobs
        self._local = threading.local()
        self._artifacts = None

    def __repr__(self) -> str:
        return f"<RemoteStore {self.uri}>"

    # -- HTTP ------------------------------------------------------------------------------------
    def _session(self):
        session = getattr(self._local, "session", None)
        if session is None:
            import requests

            session = self._local.session = requests.Session()
            session.trust_env = False  # no proxies or .netrc credentials from the environment
            if self.token:
                session.headers["Authorization"] = f"Bearer {self.token}"
            session.headers["User-Agent"] = "jupyter_mlops-remote-store"
        return session

    def request(self, method: str, path: str, *, json=None, params=None, data=None, headers=None,
                stream: bool = False, ok=(200, 201), retry_seconds: float | None = None):
        """One call, retried with backoff (0.1 s doubling to 5 s, with jitter) while the server is
        unreachable or answers 5xx, for ``retry_seconds``; a 4xx raises at once, as the error it means."""
        import requests

        deadline = time.monotonic() + (self.retry_seconds if retry_seconds is None else retry_seconds)
        delay, attempt = 0.1, 0
        url = self.uri + path
        while True:
            attempt += 1
            if hasattr(data, "seek"):
                data.seek(0)
            try:
                response = self._session().request(method, url, json=json, params=params, data=data, headers=headers,
                                                   stream=stream, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
            except (requests.ConnectionError, requests.Timeout) as exc:
                failure = f"cannot reach the tracking server {self.uri}: {type(exc).__name__}"
            else:
                if response.status_code in ok:
                    return response
                if response.status_code not in RETRY_STATUSES:
                    raise self._error(response, method, path)
                failure = f"the tracking server {self.uri} answered {response.status_code}: {_message(response)}"
                response.close()
            if time.monotonic() + delay > deadline:
                raise StoreError(f"{failure} (gave up after {attempt} attempts)")
            log.debug("jupyter_mlops: %s; retrying in %.1f s", failure, delay)
            time.sleep(delay * (0.5 + random.random()))  # jitter, not a secret
            delay = min(delay * 2, 5.0)

    def _error(self, response, method: str, path: str) -> Exception:
        message = _message(response)
        status = response.status_code
        if status == 404:
            return RunNotFoundError(message)
        if status in (401, 403):
            hint = "" if self.token else f" (set {ENV_TOKEN})"
            return StoreError(f"the tracking server {self.uri} refused {method} {path}: {message}{hint}")
        if status in (400, 422):
            return InvalidInputError(message)
        return StoreError(f"the tracking server {self.uri} answered {status} to {method} {path}: {message}")

    def _get(self, path: str, **params):
        return self.request("GET", path, params=params or None).json()

    def _post(self, path: str, body: dict):
        return self.request("POST", path, json=body).json()

    # -- writes ----------------------------------------------------------------------------------
    def experiment_id(self, name: str) -> int:
        return self._post(f"{API}/experiments", {"name": name})["id"]

    def save_environment(self, env_hash: str, python_version: str, platform: str, packages: dict) -> None:
        self._post(f"{API}/environments", {"hash": env_hash, "python_version": python_version, "platform": platform,
                                           "packages": packages})

    def create_run(self, uuid: str, experiment_id: int, heartbeat_interval: float, **fields) -> None:
        fields.pop("user", None)  # the server records the token's user
        self._post(f"{API}/runs", {"uuid": uuid, "experiment_id": experiment_id,
                                   "heartbeat_interval": heartbeat_interval, "fields": fields})

    def update_run(self, uuid: str, **fields) -> None:
        self._post(f"{API}/runs/{_q(uuid)}/update", {"fields": fields})

    def end_run(self, uuid: str, status: str) -> None:
        self._post(f"{API}/runs/{_q(uuid)}/end", {"status": status})

    def beat(self, uuids) -> None:
        uuids = list(uuids)
        for start in range(0, len(uuids), 1000):
            self._post(f"{API}/heartbeat", {"run_ids": uuids[start:start + 1000]})

    def set_params(self, uuid: str, values: dict[str, str]) -> None:
        if values:
            self._post(f"{API}/runs/{_q(uuid)}/params", {"values": values})

    def set_tags(self, uuid: str, values: dict[str, str]) -> None:
        if values:
            self._post(f"{API}/runs/{_q(uuid)}/tags", {"values": values})

    def insert_metrics(self, points: list[tuple]) -> None:
        """POST ``(run_key, run_uuid, key, step, value, timestamp_ms)`` tuples in columnar batches.

        When a later batch fails, the batches the server took are removed from ``points`` (in
        place) before the error is raised: the writer keeps and re-sends only the rest."""
        sent = 0
        try:
            while sent < len(points):
                chunk = points[sent:sent + POINTS_PER_REQUEST]
                self.request("POST", f"{API}/metrics", data=encode_batch(chunk),
                             headers={"Content-Type": BATCH_MEDIA_TYPE})
                sent += len(chunk)
        finally:
            if sent < len(points):
                del points[:sent]

    def add_artifact(self, uuid: str, path: str, sha256: str, size: int, media_type: str) -> None:
        self._post(f"{API}/runs/{_q(uuid)}/artifacts", {"path": path, "sha256": sha256, "size": size,
                                                        "media_type": media_type})

    def add_dataset(self, uuid: str, name: str, fingerprint: str, rows: int, columns: int, schema: dict) -> None:
        self._post(f"{API}/runs/{_q(uuid)}/datasets", {"name": name, "fingerprint": fingerprint, "rows": rows,
                                                       "columns": columns, "schema": schema})

    def record_dataset_version(self, run_id, role, name, fingerprint, source_uri, schema, profile, rows, size) -> int:
        """A dataset catalog version used or made by the run (tracking/datasets.py)."""
        return self._post(f"{API}/runs/{_q(run_id)}/dataset-versions", {
            "role": role, "name": str(name), "fingerprint": fingerprint, "source_uri": source_uri,
            "schema": schema or {}, "profile": profile or {}, "rows": rows, "size": size})["version_id"]

    # -- reads -----------------------------------------------------------------------------------
    def resolve_run_id(self, run_id: str) -> str:
        return self._get(f"{API}/resolve/{_q(str(run_id).strip())}")["run_id"]

    def get_run(self, run_id: str):
        from dataclasses import fields

        from .store import RunRecord

        found = self._get(f"{API}/runs/{_q(str(run_id).strip())}")
        # Fields this version knows: a newer server may send more.
        return RunRecord(**{f.name: found[f.name] for f in fields(RunRecord) if f.name in found})

    def latest_run_with_tag(self, key: str, value: str, statuses=("FINISHED",)) -> str | None:
        return self._get(f"{API}/tagged-run", key=key, value=value, status=list(statuses))["run_id"]

    def tags_of(self, run_id: str) -> dict[str, str]:
        return self._get(f"{API}/runs/{_q(run_id)}/tags")["tags"]

    def latest_metric(self, run_id: str, key: str) -> float | None:
        return self._get(f"{API}/runs/{_q(run_id)}/latest/{_q(key)}")["value"]

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float, int]]:
        points = self._get(f"{API}/runs/{_q(str(run_id).strip())}/metrics/{_q(key)}")["points"]
        return [(step, float("nan") if value is None else value, ts) for step, value, ts in points]

    def points_since(self, run_id: str, after: int, limit: int | None = None) -> tuple[str, list[tuple]]:
        params = {"after": after} if limit is None else {"after": after, "limit": limit}
        found = self._get(f"{API}/runs/{_q(str(run_id).strip())}/points", **params)
        return found["status"], [(i, k, st, float("nan") if v is None else v) for i, k, st, v in found["points"]]

    def model_run_of(self, run_id: str) -> tuple[str, str | None]:
        """The run holding the model for ``run_id`` (tracking/model_runs.py), as the server resolves it."""
        found = self._get(f"{API}/runs/{_q(run_id)}/model-run")
        return found["run_id"], found["note"]

    def environment(self, env_hash: str) -> dict | None:
        try:
            return self._get(f"{API}/environments/{_q(env_hash)}")
        except RunNotFoundError:
            return None

    def experiments(self) -> list[dict]:
        return self._get("/mlops/api/experiments")["experiments"]

    def search_runs(self, experiment=None, filter=None, order_by=None, max_results=None, unexecuted_steps=False,
                    all_lifecycles=False):
        """``search_runs``'s DataFrame, searched by the server, with the same columns and types."""
        import numpy as np
        import pandas as pd

        found = self._post(f"{API}/search", {"experiment": experiment, "filter": filter, "order_by": order_by,
                                             "max_results": max_results, "unexecuted_steps": unexecuted_steps,
                                             "all_lifecycles": all_lifecycles})
        columns, rows = found["columns"], found["rows"]
        width = next((i for i, c in enumerate(columns) if c.startswith(("params.", "metrics.", "tags."))), len(columns))
        # Built as search.py builds it: attributes inferred, metrics float64, params and tags Python objects.
        df = pd.DataFrame.from_records([row[:width] for row in rows], columns=columns[:width])
        for column in ("start_time", "end_time"):
            if column in df:
                df[column] = pd.to_datetime(pd.to_numeric(df[column]), unit="ms", utc=True)
        blocks = {}
        for i, column in enumerate(columns[width:], start=width):
            values = [row[i] for row in rows]
            if column.startswith("metrics."):
                blocks[column] = np.array([np.nan if v is None else v for v in values], dtype=float)
            else:
                blocks[column] = pd.Series(values, dtype=object)
        return pd.concat([df, pd.DataFrame(blocks)], axis=1) if blocks else df

    def schema_version(self) -> int:
        return self.request("GET", "/healthz").json()["schema_version"]

    # -- what only a database connection can do ------------------------------------------------
    @property
    def engine(self):
        raise StoreError(f"this needs the store's database, which {self.uri} (a tracking server) does not "
                         "expose; run it on the server, or against the database itself")

    def writing(self):
        return self.engine

    def migrate(self) -> int:
        return self.schema_version()  # the server migrates its own store

    @property
    def artifacts(self):
        if self._artifacts is None:
            self._artifacts = RemoteArtifactStore(self)
        return self._artifacts

    def dispose(self) -> None:
        session = getattr(self._local, "session", None)
        if session is not None:
            session.close()


class RemoteArtifactStore:
    """Blobs through the server: uploaded streaming (skipped when the server has them), downloaded
    once into a local cache and checked against their sha256."""

    is_remote = True

    def __init__(self, store: RemoteStore):
        self.store = store
        self.uri = store.uri
        self.cache = Path(store.artifact_root) / "cache" / "blobs"

    def has(self, sha256: str) -> bool:
        return self.store.request("HEAD", f"{API}/blobs/{sha256}", ok=(200, 404)).status_code == 200

    def put_file(self, path) -> tuple[str, int]:
        sha = blobs.sha256_file(path)
        size = os.path.getsize(path)
        if not self.has(sha):
            with open(path, "rb") as fh:  # requests streams a file object in chunks as it reads it
                self.store.request("PUT", f"{API}/blobs/{sha}", data=fh,
                                   headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)})
        return sha, size

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        sha = hashlib.sha256(data).hexdigest()
        if not self.has(sha):
            self.store.request("PUT", f"{API}/blobs/{sha}", data=data,
                               headers={"Content-Type": "application/octet-stream"})
        return sha, len(data)

    def local_path(self, sha256: str) -> Path:
        """The blob in the local cache, downloaded once, streamed to disk and checked against its digest."""
        target = blobs.blob_path(self.cache, sha256)
        if target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as fh:
                response = self.store.request("GET", f"{API}/blobs/{sha256}", stream=True)
                with response:
                    for chunk in response.iter_content(blobs.CHUNK):
                        fh.write(chunk)
                        digest.update(chunk)
            if digest.hexdigest() != sha256:
                raise StoreError(f"artifact {sha256[:12]} from {self.uri} does not match its digest; not kept")
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return target

    def read_bytes(self, sha256: str) -> bytes:
        return self.local_path(sha256).read_bytes()

    def package_uri(self, name: str, version: int) -> str:
        raise StoreError("model packages are not exported through the tracking server yet; export on the server")

    put_package = fetch_package = package_uri


def encode_batch(points: list[tuple]) -> bytes:
    """Points as the server takes them: one JSON line naming the batch, its runs and metric names,
    then the columns as little-endian arrays (run and key indexes uint32, step int64, value float64
    with NaN for a missing value, timestamp int64): about 40 % of the bytes of columnar JSON and
    several times faster to make and to read, in the writer thread of the user's process too."""
    import json

    import numpy as np

    n = len(points)
    uuids, keys = list(map(itemgetter(1), points)), list(map(itemgetter(2), points))
    runs = {u: i for i, u in enumerate(dict.fromkeys(uuids))}
    names = {k: i for i, k in enumerate(dict.fromkeys(keys))}
    values = list(map(itemgetter(4), points))
    if None in values:  # NaN, kept as None by the writer (as the store keeps it)
        values = [math.nan if v is None else v for v in values]
    payload = b"".join((
        np.fromiter(map(runs.__getitem__, uuids), dtype="<u4", count=n).tobytes(),
        np.fromiter(map(names.__getitem__, keys), dtype="<u4", count=n).tobytes(),
        np.fromiter(map(itemgetter(3), points), dtype="<i8", count=n).tobytes(),
        np.fromiter(values, dtype="<f8", count=n).tobytes(),
        np.fromiter(map(itemgetter(5), points), dtype="<i8", count=n).tobytes(),
    ))
    head = json.dumps({"runs": list(runs), "keys": list(names), "points": len(points)}, separators=(",", ":"))
    # The batch's id is its content's digest: sent again (a retry, or the writer re-sending what
    # it kept after a failure) it is recognised and not written twice.
    batch_id = hashlib.sha256(head.encode() + payload).hexdigest()[:32]
    return f'{{"batch":"{batch_id}",{head[1:]}\n'.encode() + payload


def _q(part: str) -> str:
    return quote(str(part), safe="")


def _message(response) -> str:
    try:
        return str(response.json().get("message") or response.reason)[:500]
    except ValueError:
        return (response.text or response.reason or "")[:200]
