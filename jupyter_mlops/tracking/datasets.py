"""The dataset catalog: every dataset a run used or wrote, as versions keyed by content.

A version is ``(name, fingerprint)``: a DataFrame's content hash (``log_dataset``,
``log_model(training_data=)``, an evaluation's data) or a file's sha256 (a pipeline step's input
and output files, named by their path under the pipeline spec's folder). With it go the source
URI, the schema, a small profile (rows, size, per-column missing count and numeric range) and
which runs consumed it (``input``) or produced it (``output``). Recording the same content again
adds only the use, so a dataset's versions are exactly its distinct contents.

The query functions at the end return JSON-able dicts, for the CLI, the REST API and lineage.
"""
from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from . import schema as s
from .store import now_ms

ROLES = ("input", "output")
PROFILE_COLUMNS = 200  # columns profiled; wider frames keep their schema but a shorter profile
SCHEMA_SAMPLE_ROWS = 1000  # rows of a CSV read to learn its column types


# -- recording ---------------------------------------------------------------------------------------
def frame_profile(df) -> dict:
    """Rows, columns and per-column missing count (and min / max for numbers) of a DataFrame."""
    import pandas as pd

    columns = {}
    for name in list(df.columns)[:PROFILE_COLUMNS]:
        col = df[name]
        entry = {"dtype": str(col.dtype), "missing": int(col.isna().sum())}
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col) and len(col):
            low, high = col.min(), col.max()
            entry["min"], entry["max"] = (None if pd.isna(low) else float(low)), (None if pd.isna(high) else float(high))
        columns[str(name)] = entry
    return {"rows": int(df.shape[0]), "columns": int(df.shape[1]), "column_profiles": columns}


def record_frame(store, run_id: str, df, name: str, role: str = "input", info: dict | None = None,
                 source_uri: str | None = None) -> int:
    """Record DataFrame ``df`` as a version of dataset ``name`` used by ``run_id``; returns the version id.

    ``info``: the ``dataset_fingerprint`` already computed for the run's datasets list, if any."""
    import pandas as pd

    from .capture import dataset_fingerprint

    if not isinstance(df, pd.DataFrame):
        df = pd.DataFrame(df)
    info = info or dataset_fingerprint(df)
    profile = frame_profile(df)
    profile["size_bytes"] = int(df.memory_usage(deep=False).sum())
    return _record(store, run_id, role, name, info["fingerprint"], source_uri, info["schema"], profile,
                   info["rows"], profile["size_bytes"])


def record_file(store, run_id: str, path, role: str, name: str | None = None, sha256: str | None = None) -> int | None:
    """Record the file at ``path`` as a version of dataset ``name`` (default: the path); None when it is missing."""
    from .artifacts import sha256_file

    path = Path(path)
    if not path.is_file():
        return None
    sha256 = sha256 or sha256_file(path)
    schema, rows = file_schema(path)
    size = path.stat().st_size
    profile = {"rows": rows, "columns": len(schema) if schema else None, "size_bytes": size}
    return _record(store, run_id, role, name or str(path), sha256, path.resolve().as_uri(), schema, profile, rows, size)


def record_step_files(store, run_id: str, inputs, outputs, base: Path) -> None:
    """A pipeline step's input and output files, named by their path under ``base`` (the spec's folder)."""
    for path in inputs:
        record_file(store, run_id, path, "input", name=file_name(path, base))
    for path in outputs:
        record_file(store, run_id, path, "output", name=file_name(path, base))


def file_name(path, base: Path) -> str:
    """``build/data/train.csv``: a file's catalog name, the same on every machine that runs the spec."""
    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(Path(base).resolve()).as_posix()
    except ValueError:
        return resolved.as_posix()


def file_schema(path: Path) -> tuple[dict, int | None]:
    """Column types and row count of a CSV or Parquet file (``({}, None)`` for other files or unreadable ones)."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            meta = pq.ParquetFile(path)
            return {f.name: str(f.type) for f in meta.schema_arrow}, int(meta.metadata.num_rows)
        if suffix in (".csv", ".tsv"):
            import pandas as pd

            head = pd.read_csv(path, nrows=SCHEMA_SAMPLE_ROWS, sep="\t" if suffix == ".tsv" else ",")
            with open(path, "rb") as fh:
                lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
            return {str(c): str(t) for c, t in head.dtypes.items()}, max(lines - 1, 0)
    except Exception:  # noqa: BLE001 - a file that does not parse is still a dataset version, without a schema
        return {}, None
    return {}, None


def _record(store, run_id, role, name, fingerprint, source_uri, schema, profile, rows, size) -> int:
    if role not in ROLES:
        raise ValueError(f"dataset role must be one of {ROLES}, got {role!r}")
    if getattr(store, "is_remote", False):  # a tracking server (tracking/remote.py) records it with this function
        return store.record_dataset_version(run_id, role, name, fingerprint, source_uri, schema, profile, rows, size)
    v, u = s.dataset_versions, s.dataset_uses
    now = now_ms()
    with store.writing() as conn:
        store.insert_if_absent(conn, v, {"name": str(name)[:255], "fingerprint": fingerprint, "source_uri": source_uri,
                                         "schema": json.dumps(schema, sort_keys=True), "rows": rows,
                                         "profile": json.dumps(profile, sort_keys=True), "size_bytes": size,
                                         "created_at": now}, ("name", "fingerprint"))
        version_id = conn.execute(select(v.c.id).where(v.c.name == str(name)[:255], v.c.fingerprint == fingerprint)).scalar()
        store.insert_if_absent(conn, u, {"version_id": version_id, "run_uuid": run_id, "role": role, "created_at": now},
                               ("version_id", "run_uuid", "role"))
    return version_id


# -- queries (JSON-able) -------------------------------------------------------------------------------
def list_datasets(store) -> list[dict]:
    """One entry per dataset name: its number of versions and its latest version."""
    v = s.dataset_versions
    with store.engine.connect() as conn:
        rows = conn.execute(select(v).order_by(v.c.name, v.c.created_at, v.c.id)).mappings().all()
    out: dict[str, dict] = {}
    for row in rows:
        entry = out.setdefault(row["name"], {"name": row["name"], "versions": 0})
        entry["versions"] += 1
        entry.update(latest_fingerprint=row["fingerprint"], latest_rows=row["rows"], latest_size_bytes=row["size_bytes"],
                     updated_at=row["created_at"], source_uri=row["source_uri"])
    return list(out.values())


def dataset_versions(store, name: str) -> list[dict]:
    """The versions of ``name``, oldest first, each with the runs that consumed and produced it and its
    schema changes against the version before it."""
    v = s.dataset_versions
    with store.engine.connect() as conn:
        rows = conn.execute(select(v).where(v.c.name == name).order_by(v.c.created_at, v.c.id)).mappings().all()
    uses = _uses(store, [r["id"] for r in rows])
    versions, previous = [], None
    for number, row in enumerate(rows, start=1):
        schema = json.loads(row["schema"])
        versions.append({
            "name": row["name"], "version": number, "id": row["id"], "fingerprint": row["fingerprint"],
            "source_uri": row["source_uri"], "rows": row["rows"], "size_bytes": row["size_bytes"],
            "schema": schema, "profile": json.loads(row["profile"]), "created_at": row["created_at"],
            "produced_by": uses.get((row["id"], "output"), []), "consumed_by": uses.get((row["id"], "input"), []),
            "schema_changes": schema_changes(previous, schema) if previous is not None else None,
        })
        previous = schema
    return versions


def schema_changes(before: dict, after: dict) -> dict:
    """Columns added, removed and whose type changed from ``before`` to ``after``."""
    return {"added": sorted(set(after) - set(before)), "removed": sorted(set(before) - set(after)),
            "changed": {c: [before[c], after[c]] for c in sorted(set(before) & set(after)) if before[c] != after[c]}}


def versions_of_run(store, run_id: str) -> list[dict]:
    """The dataset versions ``run_id`` consumed or produced: ``{name, id, fingerprint, role, source_uri}``."""
    v, u = s.dataset_versions, s.dataset_uses
    with store.engine.connect() as conn:
        rows = conn.execute(select(v.c.id, v.c.name, v.c.fingerprint, v.c.source_uri, u.c.role)
                            .join(u, u.c.version_id == v.c.id).where(u.c.run_uuid == run_id)
                            .order_by(u.c.role, v.c.name)).mappings().all()
    return [dict(r) for r in rows]


def uses_of_version(store, version_id: int) -> dict:
    """``{"input": [run ids], "output": [run ids]}`` of one version."""
    uses = _uses(store, [version_id])
    return {role: [r["run_id"] for r in uses.get((version_id, role), [])] for role in ROLES}


def _uses(store, version_ids: list[int]) -> dict:
    if not version_ids:
        return {}
    u, r = s.dataset_uses, s.runs
    with store.engine.connect() as conn:
        rows = conn.execute(select(u.c.version_id, u.c.role, u.c.run_uuid, r.c.name, r.c.status, u.c.created_at)
                            .join(r, r.c.uuid == u.c.run_uuid).where(u.c.version_id.in_(version_ids))
                            .order_by(u.c.created_at, u.c.id)).all()
    out: dict = {}
    for version_id, role, run_id, run_name, status, created in rows:
        out.setdefault((version_id, role), []).append({"run_id": run_id, "run_name": run_name, "status": status,
                                                       "at": created})
    return out
