"""The tracking store: the run record's reads and writes, one Store per URI and process.

The database underneath (engine, SQLite file, migrations under a cross-process lock) is
:mod:`.engine`; this module holds the record operations on it. It runs past 400 lines on
purpose: ``Store`` is the one object every door holds, and its reads and writes of a run are
short methods on the same tables, easier to check side by side than spread over modules.
"""
from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from dataclasses import dataclass, field
from itertools import chain, islice
from operator import itemgetter, le

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from .. import config
from ..exceptions import InvalidInputError, RunNotFoundError
from . import lifecycle_states, summaries
from . import schema as s
from .engine import Database, mask_password

# A run is CRASHED when its heartbeat is older than this many intervals (plus a grace period).
STALE_HEARTBEATS = 4
STALE_GRACE_MS = 2_000

RUN_STATUSES = ("RUNNING", "FINISHED", "FAILED", "KILLED", "CRASHED")
# Pipeline steps may also be CACHED (result reused) or SKIPPED (an upstream step failed).
STEP_STATUSES = RUN_STATUSES + ("CACHED", "SKIPPED")

METRIC_COLUMNS = ("run_key", "run_uuid", "key", "step", "value", "timestamp")
LATEST_COLUMNS = ("run_uuid", "key", "step", "value", "timestamp")
# Metric points go in as multi-row INSERTs of this many rows: about twice SQLite's single-row
# executemany rate, and the writer thread releases the GIL once per chunk instead of once per
# row, so it keeps up while a user's loop holds the GIL.
METRIC_ROWS_PER_INSERT = 5000
# Chunks handed to one executemany: bounds the memory of the flattened copies.
METRIC_CHUNKS_PER_CALL = 20
# Points one live-chart poll reads at most: a reply of a few MB, the rest comes with the next poll.
POINTS_PER_READ = 50_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def stale_cutoff_ms(interval_s: float, now: int | None = None) -> int:
    """Heartbeats older than this (ms) belong to a run whose process is gone."""
    return (now or now_ms()) - int(STALE_HEARTBEATS * interval_s * 1000) - STALE_GRACE_MS


def effective_status(status: str, heartbeat: int, interval_s: float, now: int | None = None) -> str:
    if status == "RUNNING" and heartbeat < stale_cutoff_ms(interval_s, now):
        return "CRASHED"
    return status


@dataclass
class RunRecord:
    """Everything recorded about one run, as read back from the store."""

    uuid: str
    experiment: str
    name: str | None
    status: str
    start_time: int
    end_time: int | None
    parent_uuid: str | None
    source_path: str | None
    source_hash: str | None
    git_commit: str | None
    git_dirty: bool | None
    user: str | None
    environment_hash: str | None
    params: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    tags: dict = field(default_factory=dict)
    artifacts: list = field(default_factory=list)
    datasets: list = field(default_factory=list)
    # "active", "archived" or "deleted": the run's own state, or its experiment's when further along.
    lifecycle: str = "active"

    @property
    def id(self) -> str:
        return self.uuid

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


class Store:
    """Reads and writes the run record. Thread-safe; one instance per URI per process."""

    def __init__(self, uri: str):
        self.uri = uri
        self.artifact_root = config.get_artifact_root(uri)  # local: the store itself, else scratch space
        self._artifacts = None
        self.database = db = Database(uri)
        self.db_path = db.db_path
        self.engine = db.engine
        self._metric_insert_sql = db.positional_insert_sql("metrics", METRIC_COLUMNS)
        self._metric_rows_per_insert = min(METRIC_ROWS_PER_INSERT, db.max_bind_parameters() // len(METRIC_COLUMNS))
        self._metric_chunk_sql = db.positional_insert_sql("metrics", METRIC_COLUMNS, self._metric_rows_per_insert)
        self._latest_upsert_sql = db.positional_upsert_sql(
            "latest_metrics", LATEST_COLUMNS, ("run_uuid", "key"), only_if="step"
        )
        self.migrate()

    # -- the database underneath (engine.py) ------------------------------------------------
    def migrate(self) -> int:
        """Bring the schema to the latest version, once; safe to call from many processes at once."""
        return self.database.migrate()

    def schema_version(self) -> int:
        return self.database.schema_version()

    @contextlib.contextmanager
    def _write(self):
        try:
            with self.engine.begin() as conn:
                yield conn
        except DBAPIError as exc:
            if isinstance(exc, IntegrityError):
                raise
            raise self.database.explain(exc) from exc

    @property
    def artifacts(self):
        """The artifact store (local folder or fsspec URL), opened on first use."""
        if self._artifacts is None:
            from .artifact_store import open_artifact_store

            self._artifacts = open_artifact_store(config.get_artifact_uri(self.uri), self.artifact_root)
        return self._artifacts

    @contextlib.contextmanager
    def writing(self):
        """A read-then-write transaction for modules built on the store (registry, monitoring).

        On SQLite it is taken exclusively up front: a deferred transaction that read before
        another process committed could not write afterwards (SQLITE_BUSY_SNAPSHOT)."""
        try:
            with self.database.transaction() as conn:
                yield conn
        except DBAPIError as exc:
            if isinstance(exc, IntegrityError):
                raise
            raise self.database.explain(exc) from exc

    def insert_if_absent(self, conn, table, row: dict, keys: tuple[str, ...]) -> bool:
        """Insert ``row`` unless a row with the same ``keys`` exists; True when this call inserted it."""
        stmt = self._dialect_insert(table).on_conflict_do_nothing(index_elements=list(keys))
        # RETURNING rather than rowcount: psycopg reports no rowcount for this statement.
        stmt = stmt.returning(table.c[keys[0]])
        return conn.execute(stmt, row).first() is not None

    # -- writes ----------------------------------------------------------------------------
    def experiment_id(self, name: str) -> int:
        """The id of experiment ``name``, created on first use (race-free across processes).
        An archived or deleted experiment takes no new runs: they would be hidden at once."""
        e = s.experiments
        with self.engine.connect() as conn:
            row = conn.execute(select(e.c.id, e.c.lifecycle).where(e.c.name == name)).first()
        if row is not None:
            if row.lifecycle != lifecycle_states.ACTIVE:
                raise InvalidInputError(lifecycle_states.closed_experiment_message(name, row.lifecycle))
            return row.id
        try:
            with self._write() as conn:
                conn.execute(insert(s.experiments).values(name=name, created_at=now_ms()))
        except IntegrityError:
            pass  # another process created it first
        with self.engine.connect() as conn:
            return conn.execute(select(s.experiments.c.id).where(s.experiments.c.name == name)).scalar_one()

    def save_environment(self, env_hash: str, python_version: str, platform: str, packages: dict) -> None:
        with self.engine.connect() as conn:
            if conn.execute(select(s.environments.c.hash).where(s.environments.c.hash == env_hash)).first():
                return
        try:
            with self._write() as conn:
                conn.execute(
                    insert(s.environments).values(
                        hash=env_hash,
                        python_version=python_version,
                        platform=platform,
                        packages=json.dumps(packages, sort_keys=True),
                        created_at=now_ms(),
                    )
                )
        except IntegrityError:
            pass

    def create_run(self, uuid: str, experiment_id: int, heartbeat_interval: float, **fields) -> None:
        t = now_ms()
        with self._write() as conn:
            conn.execute(
                insert(s.runs).values(
                    uuid=uuid,
                    experiment_id=experiment_id,
                    status="RUNNING",
                    start_time=t,
                    heartbeat=t,
                    heartbeat_interval=heartbeat_interval,
                    **fields,
                )
            )

    def update_run(self, uuid: str, **fields) -> None:
        with self._write() as conn:
            conn.execute(update(s.runs).where(s.runs.c.uuid == uuid).values(**fields))

    def end_run(self, uuid: str, status: str) -> None:
        t = now_ms()
        self.update_run(uuid, status=status, end_time=t, heartbeat=t)

    def beat(self, uuids) -> None:
        """Mark runs as alive; called by the writer thread, never on a user's thread."""
        uuids = list(uuids)
        if not uuids:
            return
        with self._write() as conn:
            conn.execute(
                update(s.runs)
                .where(s.runs.c.uuid.in_(uuids), s.runs.c.status == "RUNNING")
                .values(heartbeat=now_ms())
            )

    def _dialect_insert(self, table):
        return self.database.dialect_insert(table)

    def _upsert(self, table, rows: list[dict], keys: tuple[str, ...]):
        stmt = self._dialect_insert(table)
        changing = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
        return stmt.on_conflict_do_update(index_elements=list(keys), set_=changing), rows

    def set_params(self, uuid: str, values: dict[str, str]) -> None:
        self._set_pairs("params", uuid, values)

    def set_tags(self, uuid: str, values: dict[str, str]) -> None:
        self._set_pairs("tags", uuid, values)

    def _set_pairs(self, kind: str, uuid: str, values: dict[str, str]) -> None:
        if not values:
            return
        rows = [{"run_uuid": uuid, "key": k, "value": v} for k, v in values.items()]
        stmt, rows = self._upsert(summaries.KINDS[kind], rows, ("run_uuid", "key"))
        with self._write() as conn:
            conn.execute(stmt, rows)
            summaries.refresh(conn, kind, [uuid])

    def insert_metrics(self, points: list[tuple]) -> None:
        """Persist ``(run_key, run_uuid, key, step, value, timestamp_ms)`` tuples in one transaction,
        and move each run's latest point per key forward."""
        if not points:
            return
        latest = [p[1:] for p in latest_points(points)]
        rows = self._metric_rows_per_insert
        whole = len(points) - len(points) % rows
        per_call = rows * METRIC_CHUNKS_PER_CALL
        with self._write() as conn:
            if self.engine.dialect.name == "postgresql":
                self._copy_metrics(conn, points)
            else:
                for start in range(0, whole, per_call):
                    chunks = [
                        tuple(chain.from_iterable(points[i:i + rows]))
                        for i in range(start, min(start + per_call, whole), rows)
                    ]
                    conn.exec_driver_sql(self._metric_chunk_sql, chunks)
                if whole < len(points):
                    conn.exec_driver_sql(self._metric_insert_sql, points[whole:])
            conn.exec_driver_sql(self._latest_upsert_sql, latest)
            summaries.refresh(conn, "metrics", [p[0] for p in latest])

    def _copy_metrics(self, conn, points: list[tuple]) -> None:
        """PostgreSQL's COPY, inside the caller's transaction: several times the rate of INSERTs."""
        quote = self.engine.dialect.identifier_preparer.quote
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            with cursor.copy(f"COPY metrics ({', '.join(quote(c) for c in METRIC_COLUMNS)}) FROM STDIN") as copy:
                write = copy.write_row
                for point in points:
                    write(point)
        finally:
            cursor.close()

    def add_artifact(self, uuid: str, path: str, sha256: str, size: int, media_type: str) -> None:
        row = {
            "run_uuid": uuid,
            "path": path,
            "sha256": sha256,
            "size": size,
            "media_type": media_type,
            "created_at": now_ms(),
        }
        stmt, rows = self._upsert(s.artifacts, [row], ("run_uuid", "path"))
        # The unique constraint, not the id, identifies a row here.
        with self._write() as conn:
            conn.execute(stmt, rows)

    def add_dataset(self, uuid: str, name: str, fingerprint: str, rows: int, columns: int, schema: dict) -> None:
        with self._write() as conn:
            conn.execute(
                insert(s.datasets).values(
                    run_uuid=uuid,
                    name=name,
                    fingerprint=fingerprint,
                    rows=rows,
                    columns=columns,
                    schema=json.dumps(schema),
                    created_at=now_ms(),
                )
            )

    # -- reads -----------------------------------------------------------------------------
    def resolve_run_id(self, run_id: str) -> str:
        """Accept a full run id or a unique prefix of at least 6 characters, as git does."""
        run_id = str(run_id).strip()
        with self.engine.connect() as conn:
            if conn.execute(select(s.runs.c.uuid).where(s.runs.c.uuid == run_id)).first():
                return run_id
            if len(run_id) >= 6:
                found = conn.execute(
                    select(s.runs.c.uuid).where(s.runs.c.uuid.startswith(run_id, autoescape=True)).limit(2)
                ).scalars().all()
                if len(found) == 1:
                    return found[0]
                if len(found) > 1:
                    raise RunNotFoundError(f"run id prefix {run_id!r} is ambiguous; give more characters")
        if len(run_id) < 6:  # a short prefix could match many runs later: ask for more rather than say "no run"
            raise RunNotFoundError(f"run id prefix {run_id!r} is too short: give 6 or more characters of the run id")
        raise RunNotFoundError(f"no run {run_id!r} in {mask_password(self.uri)}")

    def get_run(self, run_id: str) -> RunRecord:
        uuid = self.resolve_run_id(run_id)
        r, e = s.runs, s.experiments
        with self.engine.connect() as conn:
            row = conn.execute(
                select(r, e.c.name.label("experiment"), e.c.lifecycle.label("experiment_lifecycle"))
                .join(e, e.c.id == r.c.experiment_id).where(r.c.uuid == uuid)
            ).mappings().one()
            params = dict(conn.execute(select(s.params.c.key, s.params.c.value).where(s.params.c.run_uuid == uuid)).all())
            tags = dict(conn.execute(select(s.tags.c.key, s.tags.c.value).where(s.tags.c.run_uuid == uuid)).all())
            lm = s.latest_metrics
            metrics = {
                k: (float("nan") if v is None else v)
                for k, v in conn.execute(select(lm.c.key, lm.c.value).where(lm.c.run_uuid == uuid)).all()
            }
            a = s.artifacts
            artifacts = [
                dict(m)
                for m in conn.execute(
                    select(a.c.path, a.c.sha256, a.c.size, a.c.media_type, a.c.created_at)
                    .where(a.c.run_uuid == uuid)
                    .order_by(a.c.id)
                ).mappings()
            ]
            d = s.datasets
            datasets = [
                dict(m, schema=json.loads(m["schema"]))
                for m in conn.execute(
                    select(d.c.name, d.c.fingerprint, d.c.rows, d.c.columns, d.c.schema).where(d.c.run_uuid == uuid).order_by(d.c.id)
                ).mappings()
            ]
        return RunRecord(
            uuid=uuid,
            experiment=row["experiment"],
            name=row["name"],
            status=effective_status(row["status"], row["heartbeat"], row["heartbeat_interval"]),
            start_time=row["start_time"],
            end_time=row["end_time"],
            parent_uuid=row["parent_uuid"],
            source_path=row["source_path"],
            source_hash=row["source_hash"],
            git_commit=row["git_commit"],
            git_dirty=row["git_dirty"],
            user=row["user"],
            environment_hash=row["environment_hash"],
            params=params,
            metrics=metrics,
            tags=tags,
            artifacts=artifacts,
            datasets=datasets,
            lifecycle=lifecycle_states.effective(row["lifecycle"], row["experiment_lifecycle"]),
        )

    def latest_run_with_tag(self, key: str, value: str, statuses=("FINISHED",)) -> str | None:
        """The newest run (of the given statuses) carrying tag ``key=value``, e.g. a step's cache key.
        Never a deleted run: its outputs are on their way to being collected."""
        r, t, e = s.runs, s.tags, s.experiments
        with self.engine.connect() as conn:
            return conn.execute(
                select(r.c.uuid)
                .join(t, t.c.run_uuid == r.c.uuid)
                .join(e, e.c.id == r.c.experiment_id)
                .where(t.c.key == key, t.c.value == value, r.c.status.in_(statuses),
                       r.c.lifecycle != lifecycle_states.DELETED, e.c.lifecycle != lifecycle_states.DELETED)
                .order_by(r.c.start_time.desc())
                .limit(1)
            ).scalar()

    def tags_of(self, run_id: str) -> dict[str, str]:
        t = s.tags
        with self.engine.connect() as conn:
            return dict(conn.execute(select(t.c.key, t.c.value).where(t.c.run_uuid == run_id)).all())

    def latest_metric(self, run_id: str, key: str) -> float | None:
        lm = s.latest_metrics
        with self.engine.connect() as conn:
            return conn.execute(select(lm.c.value).where(lm.c.run_uuid == run_id, lm.c.key == key)).scalar()

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float, int]]:
        """All points of one metric of one run as ``(step, value, timestamp)``, by step."""
        uuid = self.resolve_run_id(run_id)
        m = s.metrics
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(m.c.step, m.c.value, m.c.timestamp)
                .where(m.c.run_key == s.run_key(uuid), m.c.run_uuid == uuid, m.c.key == key)
                .order_by(m.c.step, m.c.timestamp)
            ).all()
        return [(st, float("nan") if v is None else v, ts) for st, v, ts in rows]

    def points_since(self, run_id: str, after: int, limit: int = POINTS_PER_READ) -> tuple[str, list[tuple]]:
        """The run's status and up to ``limit`` of its points written after point id ``after``, as
        ``(id, key, step, value)`` oldest first: what a live chart polls for. The status is read
        first, so a run seen ended has had its last points written before the read."""
        r, m = s.runs, s.metrics
        with self.engine.connect() as conn:
            run = conn.execute(select(r.c.status, r.c.heartbeat, r.c.heartbeat_interval)
                               .where(r.c.uuid == run_id)).one_or_none()
            if run is None:
                raise RunNotFoundError(f"no run {run_id!r}")
            rows = conn.execute(
                select(m.c.id, m.c.key, m.c.step, m.c.value)
                .where(m.c.run_key == s.run_key(run_id), m.c.run_uuid == run_id, m.c.id > after)
                .order_by(m.c.id).limit(limit)
            ).all()
        return effective_status(*run), [(i, k, st, float("nan") if v is None else v) for i, k, st, v in rows]

    def environment(self, env_hash: str) -> dict | None:
        e = s.environments
        with self.engine.connect() as conn:
            row = conn.execute(select(e).where(e.c.hash == env_hash)).mappings().first()
        if row is None:
            return None
        return dict(row, packages=json.loads(row["packages"]))

    def experiments(self, all_lifecycles: bool = False) -> list[dict]:
        """Experiments with how many runs each holds; archived and deleted ones (and runs) only
        with ``all_lifecycles``, as run listings have it."""
        e, r = s.experiments, s.runs
        joined = r.c.experiment_id == e.c.id
        if not all_lifecycles:
            joined = joined & (r.c.lifecycle == lifecycle_states.ACTIVE)
        stmt = (select(e.c.id, e.c.name, e.c.created_at, func.count(r.c.uuid).label("runs"), e.c.lifecycle)
                .select_from(e.outerjoin(r, joined))
                .group_by(e.c.id, e.c.name, e.c.created_at, e.c.lifecycle)
                .order_by(e.c.id))
        if not all_lifecycles:
            stmt = stmt.where(e.c.lifecycle == lifecycle_states.ACTIVE)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).mappings().all()
        return [dict(x) for x in rows]

    def dispose(self) -> None:
        self.engine.dispose()


def latest_points(points: list[tuple]) -> list[tuple]:
    """The point with the highest step per (run, key) of a batch; of equal steps the later one.

    Steps usually only grow, and then the last point of each key is the one: a dict keeps it at
    C speed. Otherwise compare point by point."""
    steps = list(map(itemgetter(3), points))
    if all(map(le, steps, islice(steps, 1, None))):
        return list({(p[1], p[2]): p for p in points}.values())
    latest: dict[tuple, tuple] = {}
    for p in points:
        k = (p[1], p[2])
        prev = latest.get(k)
        if prev is None or p[3] >= prev[3]:
            latest[k] = p
    return list(latest.values())


_open: dict[tuple[str, int], Store] = {}
_open_lock = threading.Lock()


def open_store(uri: str | None = None) -> Store:
    """The store for ``uri`` (default: the configured one), opened and migrated once per process."""
    uri = config.normalize_uri(uri) if uri else config.get_tracking_uri()
    key = (uri, os.getpid())  # an engine must not cross a fork
    store = _open.get(key)
    if store is None:
        with _open_lock:
            store = _open.get(key)
            if store is None:
                if config.is_tracking_server(uri):  # jupyter mlops server: the same operations over HTTP
                    from .remote import RemoteStore

                    store = _open[key] = RemoteStore(uri)
                else:
                    store = _open[key] = Store(uri)
    return store


def forget_open_stores() -> None:
    with _open_lock:
        for store in _open.values():
            store.dispose()
        _open.clear()


config.on_tracking_uri_change(forget_open_stores)
