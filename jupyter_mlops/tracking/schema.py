"""Tables of the tracking store and the ordered list of schema migrations.

SQLAlchemy Core only, with types every back end has, so the same code runs on SQLite and
PostgreSQL. Times are integer milliseconds since the epoch, as MLflow stores them.
"""
from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# SQLite only auto-numbers an INTEGER PRIMARY KEY; elsewhere ids must be 64-bit.
IdType = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", BigInteger, nullable=False),
)

experiments = Table(
    "experiments",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
)

environments = Table(
    "environments",
    metadata,
    Column("hash", String(64), primary_key=True),
    Column("python_version", String(64), nullable=False),
    Column("platform", String(255), nullable=False),
    Column("packages", Text, nullable=False),  # JSON object: distribution name -> version
    Column("created_at", BigInteger, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("uuid", String(32), primary_key=True),
    Column("experiment_id", IdType, ForeignKey("experiments.id"), nullable=False),
    Column("name", String(255)),
    Column("status", String(16), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger),
    Column("heartbeat", BigInteger, nullable=False),
    # Seconds between heartbeats of the writing process; readers call a run CRASHED from it.
    Column("heartbeat_interval", Float, nullable=False),
    Column("parent_uuid", String(32), ForeignKey("runs.uuid")),
    Column("source_path", Text),
    Column("source_hash", String(64)),
    Column("git_commit", String(64)),
    Column("git_dirty", Boolean),
    Column("user", String(255)),
    Column("environment_hash", String(64), ForeignKey("environments.hash")),
    Index("ix_runs_experiment_start", "experiment_id", "start_time"),
    Index("ix_runs_status", "status"),
    Index("ix_runs_parent", "parent_uuid"),
)

params = Table(
    "params",
    metadata,
    Column("run_uuid", String(32), ForeignKey("runs.uuid"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),
)

tags = Table(
    "tags",
    metadata,
    Column("run_uuid", String(32), ForeignKey("runs.uuid"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),
    Index("ix_tags_key", "key"),  # cache look-ups by tag (values can be long: not indexed)
)

# Every point ever logged. Written in large batches by the metric writer thread.
metrics = Table(
    "metrics",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    # An integer digest of run_uuid (see run_key()): indexing it instead of the 32-character id
    # makes batch inserts ~1.5x faster. Reads match both columns, so a digest collision is harmless.
    Column("run_key", BigInteger, nullable=False),
    Column("run_uuid", String(32), ForeignKey("runs.uuid"), nullable=False),
    Column("key", String(255), nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("value", Float),  # NULL stands for NaN (SQLite cannot store NaN)
    Column("timestamp", BigInteger, nullable=False),
    Index("ix_metrics_run_key_step", "run_key", "key", "step"),
)


def run_key(run_uuid: str) -> int:
    """A signed 60-bit integer from the first 15 hex digits of a run id (uuid4 hex: random)."""
    return int(run_uuid[:15], 16)

# The point with the highest step per run and key, kept up to date on every flush so that
# searching and sorting by a metric never scans the full history.
latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_uuid", String(32), ForeignKey("runs.uuid"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("step", BigInteger, nullable=False),
    Column("value", Float),
    Column("timestamp", BigInteger, nullable=False),
    Index("ix_latest_metrics_key_value", "key", "value"),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("run_uuid", String(32), ForeignKey("runs.uuid"), nullable=False),
    Column("path", Text, nullable=False),  # logical name inside the run, e.g. "notebook/train.ipynb"
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("media_type", String(255), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("run_uuid", "path", name="uq_artifacts_run_path"),
)

datasets = Table(
    "datasets",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("run_uuid", String(32), ForeignKey("runs.uuid"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("columns", Integer, nullable=False),
    Column("schema", Text, nullable=False),  # JSON object: column -> dtype
    Column("created_at", BigInteger, nullable=False),
    Index("ix_datasets_run", "run_uuid"),
    Index("ix_datasets_fingerprint", "fingerprint"),
)


def _initial_schema(conn) -> None:
    v1 = [schema_version, experiments, environments, runs, params, tags, metrics, latest_metrics, artifacts, datasets]
    metadata.create_all(conn, tables=v1, checkfirst=True)


# (version, function) in order. A migration runs inside the store's migration lock, exactly
# once per store; never edit one that has shipped, append a new one instead.
MIGRATIONS = [
    (1, _initial_schema),
]
LATEST_VERSION = MIGRATIONS[-1][0]
