"""A run in progress: the object ``start_run`` returns and every ``log_*`` call writes through.

Parameters, tags, artifacts and datasets are written at once (they are few); metric points
go to the process's :class:`MetricWriter` buffer and are persisted in batches.
"""
from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

from ..exceptions import InvalidInputError, MlopsError
from ..safe_names import check_artifact_name
from . import artifacts as blobs
from .schema import run_key

MAX_KEY_LENGTH = 255
_time = time.time


def metric_value(key: str, value) -> float:
    """``value`` as a float, or an error naming the metric. Accepts numpy and other number types."""
    if isinstance(value, (str, bytes)) or value is None:
        raise InvalidInputError(f"metric {key!r}: value {value!r} is not a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"metric {key!r}: value {value!r} is not a number") from None


def checked_key(kind: str, key) -> str:
    if not isinstance(key, str) or not key.strip():
        raise InvalidInputError(f"{kind} name {key!r} must be a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInputError(f"{kind} name {key[:40]!r}... is longer than {MAX_KEY_LENGTH} characters")
    return key


def param_text(key: str, value) -> str:
    """Parameters are stored as text; containers are stored as JSON so they read back unambiguously."""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list, tuple)):
        try:
            return json.dumps(value, sort_keys=True, default=str)
        except (TypeError, ValueError):
            return str(value)
    return str(value)


def _is_existing_path(obj) -> bool:
    try:
        return Path(obj).exists()
    except (OSError, ValueError):  # text too long or with NUL bytes to be a path
        return False


class Run:
    """An open run. Use it as a context manager, or let ``end_run`` / a new ``start_run`` end it."""

    def __init__(self, uuid: str, store, writer, name: str | None, experiment: str, owned: bool = True):
        self.id = uuid
        self.owned = owned  # False when attached to a run another process ends (a pipeline step)
        self.name = name
        self.experiment = experiment
        self.store = store
        self.status = "RUNNING"
        self._writer = writer
        self._buffer = writer.buffer
        self._next_step: dict[str, int] = {}
        self._key = run_key(uuid)

    def __repr__(self) -> str:
        return f"<Run {self.id[:8]} {self.name!r} {self.status}>"

    def __enter__(self) -> Run:  # noqa: PYI034 - a Run, also for subclasses' callers
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.status != "RUNNING":
            return
        if exc_type is None or (issubclass(exc_type, SystemExit) and exc.code in (None, 0)):
            self.end("FINISHED")
        elif issubclass(exc_type, KeyboardInterrupt):
            self.end("KILLED")
        else:
            self.set_tag("mlops.error", f"{exc_type.__name__}: {exc}")
            self.end("FAILED")

    @property
    def active(self) -> bool:
        return self.status == "RUNNING"

    def _check_open(self) -> None:
        if self.status != "RUNNING":
            raise MlopsError(f"run {self.id[:8]} ({self.name}) has ended ({self.status}); start a new run to log more")

    # -- metrics: the hot path --------------------------------------------------------------
    def log_metric(self, key: str, value, step: int | None = None) -> None:
        """Buffer one point; never touches the database. ``step`` defaults to the key's last step + 1."""
        if value.__class__ is not float:
            value = metric_value(key, value)
        next_step = self._next_step.get(key)
        if next_step is None:
            self._check_open()
            checked_key("metric", key)
            next_step = 0
        if step is None:
            step = next_step
        elif step.__class__ is not int:
            step = self._checked_step(key, step)
        if step >= next_step:
            self._next_step[key] = step + 1
        if value != value:  # noqa: PLR0124 - NaN (any type, no call on the hot path): SQLite keeps NULL
            value = None
        buf = self._buffer
        buf.append((self._key, self.id, key, step, value, int(_time() * 1000)))
        if len(buf) >= self._writer.limit:
            self._writer.wait_for_room()

    @staticmethod
    def _checked_step(key: str, step) -> int:
        try:
            as_int = int(step)
        except (TypeError, ValueError):
            raise InvalidInputError(f"metric {key!r}: step {step!r} is not an integer") from None
        if as_int != step:
            raise InvalidInputError(f"metric {key!r}: step {step!r} is not an integer")
        return as_int

    def log_metrics(self, values: dict, step: int | None = None) -> None:
        # Validate all first so a bad value records nothing of the batch.
        checked = {checked_key("metric", k): metric_value(k, v) for k, v in values.items()}
        for k, v in checked.items():
            self.log_metric(k, v, step)

    # -- params, tags ------------------------------------------------------------------------
    def log_param(self, key: str, value) -> None:
        self.log_params({key: value})

    def log_params(self, values: dict) -> None:
        self._check_open()
        rows = {checked_key("parameter", k): param_text(k, v) for k, v in values.items()}
        self.store.set_params(self.id, rows)

    def set_tag(self, key: str, value) -> None:
        self.set_tags({key: value})

    def set_tags(self, values: dict) -> None:
        rows = {checked_key("tag", k): param_text(k, v) for k, v in values.items()}
        self.store.set_tags(self.id, rows)

    # -- artifacts and datasets -----------------------------------------------------------
    def log_artifact(self, obj, name: str | None = None) -> str:
        """Store a file, folder, matplotlib figure, DataFrame or text; returns the artifact's sha256.

        A ``str`` is a file path when such a file exists; otherwise it is logged as text, which
        needs ``name`` (so a mistyped path is an error, not a text artifact)."""
        self._check_open()
        if name is not None:
            check_artifact_name(name)  # before anything is stored, e.g. a folder's first files
        root = self.store.artifacts
        if isinstance(obj, (str, os.PathLike)) and _is_existing_path(obj):
            path = Path(obj)
            if path.is_dir():
                last = ""
                for file in sorted(p for p in path.rglob("*") if p.is_file()):
                    last = self.log_artifact(file, f"{name or path.name}/{file.relative_to(path).as_posix()}")
                return last
            sha, size = root.put_file(path)
            name = name or path.name
        elif isinstance(obj, os.PathLike):
            raise InvalidInputError(f"log_artifact: no file or folder at {os.fspath(obj)!r}")
        elif isinstance(obj, str):
            if name is None:
                raise InvalidInputError(
                    f"log_artifact: no file or folder at {obj[:80]!r}; to log text, pass name='notes.txt'"
                )
            sha, size = root.put_bytes(obj.encode())
        elif hasattr(obj, "savefig"):  # matplotlib Figure
            buf = io.BytesIO()
            obj.savefig(buf, format="png", bbox_inches="tight")
            name = name or "figure.png"
            sha, size = root.put_bytes(buf.getvalue())
        elif type(obj).__module__.startswith("pandas") and hasattr(obj, "to_csv"):
            name = name or "dataframe.csv"
            sha, size = root.put_bytes(obj.to_csv(index=True).encode())
        elif isinstance(obj, bytes):
            if name is None:
                raise InvalidInputError("log_artifact: bytes need a name, e.g. name='data.bin'")
            sha, size = root.put_bytes(obj)
        else:
            raise InvalidInputError(
                f"log_artifact: cannot log a {type(obj).__name__}; pass a path, a matplotlib figure, "
                "a DataFrame, bytes or text"
            )
        self.store.add_artifact(self.id, check_artifact_name(name), sha, size, blobs.media_type_of(name))
        return sha

    def log_dataset(self, df, name: str) -> dict:
        """Record a dataset's content fingerprint, shape and schema (not its content)."""
        self._check_open()
        from .capture import dataset_fingerprint

        info = dataset_fingerprint(df)
        self.store.add_dataset(self.id, checked_key("dataset", name), **info)
        from .datasets import record_frame

        record_frame(self.store, self.id, df, name, info=info)  # a version in the dataset catalog
        return info

    # -- ending --------------------------------------------------------------------------
    def flush(self) -> None:
        self._writer.flush()

    def end(self, status: str = "FINISHED") -> None:
        from .lifecycle import finish_run

        finish_run(self, status)

    # Handy for ``mlops.get_run(run.id)``-style introspection without another import.
    def record(self):
        self.flush()
        return self.store.get_run(self.id)
