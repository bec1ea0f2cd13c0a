"""The database under the tracking store: one SQLAlchemy engine on a URI, set up and migrated safely.

SQLite (the default) runs in WAL mode with ``synchronous=NORMAL`` and a busy timeout, so
many kernels can write one project file at once; PostgreSQL uses the same portable SQL.
Migrating takes a cross-process lock first, so any number of processes may open a fresh
store at the same moment. The record operations on top live in :mod:`.store`.
"""
from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path

from sqlalchemy import create_engine, event, func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from .. import config
from ..exceptions import StoreError
from . import schema as s

SQLITE_BUSY_TIMEOUT_MS = 60_000
SQLITE_MAGIC = b"SQLite format 3\x00"


class Database:
    """The engine of one store URI, with its file prepared, its connections set up and its transactions."""

    def __init__(self, uri: str):
        self.uri = uri
        self.db_path = config.sqlite_path(uri)
        if self.db_path is not None:
            prepare_sqlite_file(self.db_path)
        self.engine = open_engine(uri, self.db_path)

    @contextlib.contextmanager
    def migration_lock(self):
        """Serialise schema set-up across processes: a file lock for SQLite, an advisory lock for PostgreSQL."""
        if self.db_path is not None:
            lock_path = self.db_path.with_name(self.db_path.name + ".lock")
            with open(lock_path, "a+b") as fh:
                try:
                    import fcntl
                except ImportError:  # Windows: BEGIN EXCLUSIVE below still serialises
                    yield None
                    return
                fcntl.flock(fh, fcntl.LOCK_EX)
                try:
                    yield None
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)
        elif self.engine.dialect.name == "postgresql":
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT pg_advisory_lock(7466173)")
                conn.commit()
                try:
                    yield None
                finally:
                    conn.exec_driver_sql("SELECT pg_advisory_unlock(7466173)")
                    conn.commit()
        else:
            yield None

    def migrate(self) -> int:
        """Bring the schema to the latest version, once; safe to call from many processes at once."""
        try:
            with self.migration_lock():
                if self.db_path is not None:
                    self._enable_wal()
                with self.transaction() as conn:
                    current = schema_version(conn)
                    if current > s.LATEST_VERSION:
                        raise StoreError(
                            f"the store {mask_password(self.uri)} has schema version {current}, newer than this "
                            f"jupyter_mlops understands ({s.LATEST_VERSION}); upgrade jupyter_mlops"
                        )
                    for version, migration in s.MIGRATIONS:
                        if version > current:
                            migration(conn)
                            applied_at = time.time_ns() // 1_000_000
                            conn.execute(insert(s.schema_version).values(version=version, applied_at=applied_at))
                    return max(current, s.LATEST_VERSION)
        except DBAPIError as exc:
            raise self.explain(exc) from exc

    def _enable_wal(self) -> None:
        with self.engine.connect() as conn:
            mode = conn.exec_driver_sql("PRAGMA journal_mode=WAL").scalar()
            if str(mode).lower() != "wal":
                raise StoreError(f"{self.db_path}: could not switch SQLite to WAL mode (got {mode!r})")

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return schema_version(conn)

    @contextlib.contextmanager
    def transaction(self):
        """A write transaction; on SQLite an exclusive one, so DDL and version checks cannot interleave."""
        if self.db_path is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql("BEGIN EXCLUSIVE")
            try:
                yield conn
            except BaseException:
                conn.exec_driver_sql("ROLLBACK")
                raise
            conn.exec_driver_sql("COMMIT")

    def explain(self, exc: DBAPIError) -> StoreError:
        """A database error as a one-line StoreError naming the store and what to do."""
        text = str(exc.orig) if exc.orig is not None else str(exc)
        where = self.db_path or mask_password(self.uri)
        if "not a database" in text or "malformed" in text:
            return StoreError(f"{where} is not a valid SQLite database ({text}); move it away or point {config.ENV_URI} elsewhere")
        if "readonly" in text or "unable to open" in text:
            return StoreError(f"cannot write the store {where}: {text}")
        return StoreError(f"store {where}: {text}")

    def max_bind_parameters(self) -> int:
        """How many ``?`` one statement may carry (SQLite before 3.32 allowed only 999)."""
        if self.db_path is None:
            return 65_535  # PostgreSQL's protocol limit
        if sqlite3.sqlite_version_info >= (3, 32):
            return 32_766
        return 999

    def positional_insert_sql(self, table: str, columns: tuple[str, ...], rows: int = 1) -> str:
        """A plain INSERT of ``rows`` rows of flat positional values, for ``executemany`` with tuples:
        the fastest batch path on both back ends."""
        quote = self.engine.dialect.identifier_preparer.quote
        mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        cols = ", ".join(quote(c) for c in columns)
        row = f"({', '.join([mark] * len(columns))})"
        return f"INSERT INTO {quote(table)} ({cols}) VALUES {', '.join([row] * rows)}"

    def positional_upsert_sql(self, table: str, columns: tuple[str, ...], keys: tuple[str, ...], only_if: str) -> str:
        """INSERT ... ON CONFLICT DO UPDATE (same syntax on SQLite >= 3.24 and PostgreSQL), updating
        only when the new row's ``only_if`` column is at least the stored one."""
        quote = self.engine.dialect.identifier_preparer.quote
        changing = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in columns if c not in keys)
        return (
            f"{self.positional_insert_sql(table, columns)} ON CONFLICT ({', '.join(quote(k) for k in keys)}) "
            f"DO UPDATE SET {changing} WHERE excluded.{quote(only_if)} >= {quote(table)}.{quote(only_if)}"
        )

    def dialect_insert(self, table):
        """The back end's own INSERT construct, which knows ON CONFLICT."""
        dialect = self.engine.dialect.name
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        elif dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:  # pragma: no cover - only SQLite and PostgreSQL are supported
            raise StoreError(f"unsupported database {dialect!r}; use SQLite or PostgreSQL")
        return dialect_insert(table)


def prepare_sqlite_file(path: Path) -> None:
    """Create the store's folder, or refuse a path that is no writable SQLite database."""
    try:
        ours = not path.parent.exists() or path.parent.name == config.DEFAULT_DIR
        path.parent.mkdir(parents=True, exist_ok=True)
        if ours and not (path.parent / ".gitignore").exists():
            # The store is local state, never something to commit.
            (path.parent / ".gitignore").write_text("*\n")
    except OSError as exc:
        raise StoreError(
            f"cannot create the store folder {path.parent}: {exc.strerror}. "
            f"Set {config.ENV_URI} to a writable path."
        ) from exc
    if path.exists():
        if path.is_dir():
            raise StoreError(f"{path} is a folder, not a tracking database")
        with open(path, "rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
        if head and head != SQLITE_MAGIC:
            raise StoreError(
                f"{path} is not an SQLite database, so it cannot be a tracking store. "
                f"Move it away or set {config.ENV_URI} to another path."
            )
        if not os.access(path, os.W_OK):
            raise StoreError(f"the store {path} is not writable (permission denied)")
    elif not os.access(path.parent, os.W_OK):
        raise StoreError(
            f"cannot create the store {path}: the folder {path.parent} is not writable. "
            f"Set {config.ENV_URI} to a writable path."
        )


def open_engine(uri: str, db_path: Path | None) -> Engine:
    """An engine for ``uri``; SQLite connections get the busy timeout and pragmas the store relies on."""
    if db_path is None:
        try:
            return create_engine(uri, pool_pre_ping=True, pool_size=10, max_overflow=20)
        except Exception as exc:  # bad URL, missing driver
            raise StoreError(f"cannot open the tracking store {mask_password(uri)}: {exc}") from exc
    engine = create_engine(
        uri,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        pool_size=5,
        max_overflow=10,
    )

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn, _record):
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")
        # 8 MB of page cache instead of 2: sorting 10k runs with their summaries by a metric
        # then stays in memory (search_runs order_by: 34 -> 28 ms of SQL here).
        cur.execute("PRAGMA cache_size=-8000")
        cur.execute("PRAGMA case_sensitive_like=ON")  # LIKE as PostgreSQL has it; ILIKE ignores case
        cur.close()
        dbapi_conn.create_function("mlops_number", 1, sqlite_number, deterministic=True)

    return engine


def schema_version(conn) -> int:
    if not conn.dialect.has_table(conn, "schema_version"):
        return 0
    return conn.execute(select(func.max(s.schema_version.c.version))).scalar() or 0


def sqlite_number(text):
    """SQLite function ``mlops_number`` used by filters: the float in ``text``, or NULL."""
    if text is None:
        return None
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def mask_password(uri: str) -> str:
    """The URI with any password replaced, fit for messages and logs."""
    if "@" not in uri or "://" not in uri:
        return uri
    scheme, rest = uri.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    if ":" in creds:
        creds = creds.split(":", 1)[0] + ":***"
    return f"{scheme}://{creds}@{host}"
