"""Tables of the tracking store and the ordered list of schema migrations.

SQLAlchemy Core only, with types every back end has, so the same code runs on SQLite and
PostgreSQL. Times are integer milliseconds since the epoch, as MLflow stores them.

It runs past 400 lines on purpose: every migration sits beside the tables it shapes, in order, so
the schema a store ends up with can be read top to bottom.
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
    # "active" | "archived" | "deleted" (see lifecycle_states.py); its runs follow it. Added by migration 6.
    Column("lifecycle", String(16), nullable=False, server_default="active"),
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
    # The run's params, latest metrics and tags as one JSON object, kept in step with those
    # tables (see summaries.py) so that search_runs reads one row per run. Added by migration 3.
    Column("summary", Text, nullable=False, server_default="{}"),
    # "active" | "archived" | "deleted" (soft: restorable until gc purges the run). Added by migration 6.
    Column("lifecycle", String(16), nullable=False, server_default="active"),
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


# --- Registry (migration 2): approvals, model versions, aliases, the audit log. ---

# The current decision on a run; its history is in the audit log. One row per run makes two
# racing approvals of the same run idempotent.
approvals = Table(
    "approvals",
    metadata,
    Column("run_uuid", String(32), ForeignKey("runs.uuid"), primary_key=True),
    Column("decision", String(16), nullable=False),  # "approved" | "rejected"
    Column("actor", String(255), nullable=False),
    Column("reason", Text, nullable=False),
    Column("metrics", Text, nullable=False),  # JSON object: the run's latest metrics at that moment
    Column("created_at", BigInteger, nullable=False),
)

registered_models = Table(
    "registered_models",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
)

# A version's manifest digest and trusted skops types live here, never only in the package,
# so a tampered package cannot vouch for itself.
model_versions = Table(
    "model_versions",
    metadata,
    Column("name", String(255), ForeignKey("registered_models.name"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("run_uuid", String(32), ForeignKey("runs.uuid"), nullable=False),
    Column("package_uri", Text, nullable=False),
    Column("manifest_digest", String(64), nullable=False),
    Column("trusted_types", Text, nullable=False),  # JSON list of type names skops may load
    Column("model_format", String(32), nullable=False),  # "skops" | "pickle" (explicit opt-in)
    Column("signature", Text, nullable=False),  # JSON
    Column("metrics", Text, nullable=False),  # JSON: the run's metrics at export
    Column("created_by", String(255), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_model_versions_run", "run_uuid"),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("name", String(255), ForeignKey("registered_models.name"), primary_key=True),
    Column("alias", String(255), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_by", String(255), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

model_version_tags = Table(
    "model_version_tags",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),
)

# Append-only: every approval, rejection, export, alias change, retraining decision.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("created_at", BigInteger, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", String(512), nullable=False),  # a run id, or "name/version", or "name@alias"
    Column("details", Text, nullable=False),  # JSON object
    Index("ix_audit_log_subject", "subject"),
)

# Sampled requests and predictions of a served model, for monitoring (written in batches).
prediction_log = Table(
    "prediction_log",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("features", Text, nullable=False),  # JSON object: column -> value
    Column("prediction", Text, nullable=False),  # JSON value
    Index("ix_prediction_log_model", "name", "version", "created_at"),
)


# --- Jobs (migration 4): schedules, their occurrences (the claims), notifications to deliver. ---

# A pipeline, notebook or monitor fired on a cron in a time zone. ``next_fire_at`` lives here, not
# in a scheduler's memory, so any number of schedulers agree on what is due and a restart catches up.
schedules = Table(
    "schedules",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),  # "pipeline" | "notebook" | "monitor"
    Column("target", Text, nullable=False),  # JSON: what to run (spec path, notebook, model reference + data)
    Column("cron", String(255), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("parameters", Text, nullable=False),  # JSON object of templates ("{date}", "{scheduled_time}")
    Column("overlap", String(8), nullable=False),  # "skip" | "queue" | "allow"
    Column("catchup", String(8), nullable=False),  # "none" | "latest" | "all"
    Column("retries", Integer, nullable=False),
    Column("timeout", Float),  # seconds; NULL: no limit
    Column("notify", Text, nullable=False),  # JSON: {"on": [...], "webhook": ..., "email": ...}
    Column("paused", Boolean, nullable=False),
    Column("next_fire_at", BigInteger),  # ms; NULL while paused
    Column("created_by", String(255), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_schedules_next_fire", "paused", "next_fire_at"),
)

# One row per (schedule, scheduled time): inserting it is the claim that makes the occurrence fire
# exactly once, whichever scheduler gets there first. Its state moves PENDING -> CLAIMED -> RUNNING
# -> FINISHED | FAILED | KILLED, or SKIPPED (overlap); a failed attempt with retries left goes back
# to PENDING after ``not_before``. ``lease_until`` is renewed by the scheduler holding it: an
# expired lease means that scheduler is gone.
schedule_occurrences = Table(
    "schedule_occurrences",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("schedule_id", IdType, ForeignKey("schedules.id"), nullable=False),
    Column("scheduled_time", BigInteger, nullable=False),  # ms, UTC
    Column("state", String(16), nullable=False),
    Column("attempt", Integer, nullable=False),  # attempts started so far
    Column("not_before", BigInteger, nullable=False),  # ms; a retry waits until then
    Column("claimed_by", String(255)),
    Column("lease_until", BigInteger),
    Column("run_id", String(32)),  # the pipeline or monitoring run, once it exists
    Column("started_at", BigInteger),
    Column("ended_at", BigInteger),
    Column("error", Text),
    Column("note", Text),  # e.g. occurrences left out by the catch-up policy, the drift summary
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("schedule_id", "scheduled_time", name="uq_schedule_occurrences_time"),
    Index("ix_schedule_occurrences_state", "state", "not_before"),
)

# Notifications waiting to be delivered (an outbox): kept in the store so a failed delivery is
# retried later, by any scheduler, and never fails the job it reports on.
schedule_notifications = Table(
    "schedule_notifications",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("occurrence_id", IdType, nullable=False),
    Column("channel", String(16), nullable=False),  # "webhook" | "email"
    Column("destination", Text, nullable=False),
    Column("event", String(16), nullable=False),  # "failure" | "drift" | "success"
    Column("payload", Text, nullable=False),  # JSON: what the message says
    Column("state", String(16), nullable=False),  # PENDING | SENDING | SENT | GAVE_UP
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", BigInteger, nullable=False),
    Column("claimed_by", String(255)),
    Column("last_error", Text),
    Column("created_at", BigInteger, nullable=False),
    Column("sent_at", BigInteger),
    Index("ix_schedule_notifications_due", "state", "next_attempt_at"),
)


# --- Tracking server (migration 5): its users, and the metric batches it has taken. ---

# Who may use ``jupyter mlops server`` and as what (viewer, editor, approver, admin). Only the
# sha256 of each token is kept: a copy of the store hands out no working tokens.
users = Table(
    "users",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("created_by", String(255), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# Ids of metric batches the server has written, so a client retrying a batch whose answer it
# never got (the server restarted, the connection dropped) does not write its points twice.
ingested_batches = Table(
    "ingested_batches",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("points", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_ingested_batches_created", "created_at"),
)


def _initial_schema(conn) -> None:
    v1 = [schema_version, experiments, environments, runs, params, tags, metrics, latest_metrics, artifacts, datasets]
    metadata.create_all(conn, tables=v1, checkfirst=True)


def _registry_schema(conn) -> None:
    v2 = [approvals, registered_models, model_versions, model_aliases, model_version_tags, audit_log, prediction_log]
    metadata.create_all(conn, tables=v2, checkfirst=True)


def _run_summaries(conn) -> None:
    from .summaries import add_to_existing_runs

    add_to_existing_runs(conn)


def _jobs_schema(conn) -> None:
    metadata.create_all(conn, tables=[schedules, schedule_occurrences, schedule_notifications], checkfirst=True)


def _server_schema(conn) -> None:
    metadata.create_all(conn, tables=[users, ingested_batches], checkfirst=True)


def _lifecycles(conn) -> None:
    from .lifecycle_states import add_lifecycle_columns

    add_lifecycle_columns(conn)


# --- Dataset catalog (migration 7, tracking/datasets.py): every dataset a run used or wrote, as
# versions keyed by content fingerprint, and which runs consumed (input) or produced (output) each.
dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    Column("fingerprint", String(64), nullable=False),  # content: a frame's hash, a file's sha256
    Column("source_uri", Text),  # file://... for files; NULL for an in-memory frame
    Column("schema", Text, nullable=False),  # JSON object: column -> dtype ({} when unknown)
    Column("profile", Text, nullable=False),  # JSON: rows, columns, size, per-column missing/min/max
    Column("rows", BigInteger),
    Column("size_bytes", BigInteger),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("name", "fingerprint", name="uq_dataset_versions_name_fingerprint"),
    Index("ix_dataset_versions_fingerprint", "fingerprint"),
)

dataset_uses = Table(
    "dataset_uses",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("version_id", IdType, ForeignKey("dataset_versions.id"), nullable=False),
    Column("run_uuid", String(32), ForeignKey("runs.uuid"), nullable=False),
    Column("role", String(8), nullable=False),  # "input" | "output"
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("version_id", "run_uuid", "role", name="uq_dataset_uses"),
    Index("ix_dataset_uses_run", "run_uuid"),
)


def _dataset_catalog(conn) -> None:
    metadata.create_all(conn, tables=[dataset_versions, dataset_uses], checkfirst=True)


# (version, function) in order. A migration runs inside the store's migration lock, exactly
# once per store; never edit one that has shipped, append a new one instead.
MIGRATIONS = [
    (1, _initial_schema),
    (2, _registry_schema),
    (3, _run_summaries),
    (4, _jobs_schema),
    (5, _server_schema),
    (6, _lifecycles),
    (7, _dataset_catalog),
]
LATEST_VERSION = MIGRATIONS[-1][0]
