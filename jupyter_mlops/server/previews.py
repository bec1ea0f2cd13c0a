"""A look inside an artifact for the Run view's browser: the first rows of a table, the start of
a text, a JSON document pretty-printed, or only its kind (images and notebooks are fetched and
drawn by the view itself; HTML goes to a sandboxed frame that runs no script).

Artifacts were written by whoever logged the run: sizes are capped before anything is read
whole, and a file that does not parse as what its name says is a 422 naming the artifact.
"""
from __future__ import annotations

import json
from pathlib import PurePosixPath

from ..exceptions import InvalidInputError
from .artifact_files import resolve
from .jsonable import json_safe

MAX_TEXT_BYTES = 256 * 1024  # of a text, JSON or HTML artifact shown
MAX_JSON_BYTES = 4 * 1024 * 1024  # parsed to pretty-print; larger ones show as text
MAX_ROWS = 200
MAX_TABLE_COLUMNS = 100
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".webp": "image/webp", ".svg": "image/svg+xml", ".bmp": "image/bmp"}
TABLE_SEPARATORS = {".csv": ",", ".tsv": "\t"}
TEXT_SUFFIXES = {".txt", ".log", ".md", ".py", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".patch", ".diff",
                 ".sql", ".sh", ".r", ".js", ".ts", ".xml", ".rst"}


class UnpreviewableArtifactError(ValueError):
    """The artifact does not read as what its name says (a CSV that is not one, a broken Parquet file)."""


def kind_of(path: str, media_type: str | None = None) -> str:
    """How the view shows an artifact: image, table, html, json, notebook, text or binary."""
    suffix = PurePosixPath(path).suffix.lower()
    if suffix in IMAGE_TYPES:
        return "image"
    if suffix in TABLE_SEPARATORS or suffix == ".parquet":
        return "table"
    if suffix in (".html", ".htm"):
        return "html"
    if suffix == ".json":
        return "json"
    if suffix == ".ipynb":
        return "notebook"
    if suffix in TEXT_SUFFIXES or (media_type or "").startswith("text/"):
        return "text"
    return "binary"


def preview(store, run_id: str, path: str, rows: int = 50) -> dict:
    """``{path, kind, size, ...}``; a table adds ``columns``, ``rows`` and ``total_rows`` (when
    known), a text ``text`` and ``truncated``."""
    if not 1 <= rows <= MAX_ROWS:
        raise InvalidInputError(f"rows must be between 1 and {MAX_ROWS}, got {rows}")
    target, row = resolve(store, run_id, path)
    kind = kind_of(path, row["media_type"])
    out = {"path": path, "kind": kind, "size": row["size"], "media_type": row["media_type"]}
    suffix = PurePosixPath(path).suffix.lower()
    if kind == "image":
        out["media_type"] = IMAGE_TYPES[suffix]
    elif kind == "table":
        out.update(_parquet(target, path, rows) if suffix == ".parquet" else _delimited(target, path, rows,
                                                                                        TABLE_SEPARATORS[suffix]))
    elif kind in ("text", "html"):
        out.update(_text(target))
    elif kind == "json":
        out.update(_json(target, path))
    return json_safe(out)


def _text(target) -> dict:
    with open(target, "rb") as fh:
        head = fh.read(MAX_TEXT_BYTES + 1)
    return {"text": head[:MAX_TEXT_BYTES].decode("utf-8", errors="replace"), "truncated": len(head) > MAX_TEXT_BYTES}


def _json(target, path: str) -> dict:
    if target.stat().st_size > MAX_JSON_BYTES:
        return _text(target)
    try:
        document = json.loads(target.read_bytes())
    except ValueError as exc:
        raise UnpreviewableArtifactError(f"artifact {path!r} is not JSON: {exc}") from exc
    text = json.dumps(document, indent=2, ensure_ascii=False, default=str)
    return {"text": text[:MAX_TEXT_BYTES], "truncated": len(text) > MAX_TEXT_BYTES}


def _delimited(target, path: str, rows: int, separator: str) -> dict:
    import pandas as pd

    try:
        frame = pd.read_csv(target, sep=separator, nrows=rows, dtype=str, keep_default_na=False,
                            encoding_errors="replace", engine="c")
    except (ValueError, pd.errors.ParserError, UnicodeError) as exc:
        raise UnpreviewableArtifactError(f"artifact {path!r} does not read as a table: {exc}") from exc
    return _table(frame, None)


def _parquet(target, path: str, rows: int) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        source = pq.ParquetFile(target)
        batch = next(source.iter_batches(batch_size=rows), None)
        total = source.metadata.num_rows
        schema = source.schema_arrow
    except (OSError, pa.ArrowException) as exc:
        raise UnpreviewableArtifactError(f"artifact {path!r} does not read as Parquet: {exc}") from exc
    frame = (batch.to_pandas() if batch is not None else schema.empty_table().to_pandas()).head(rows)
    return _table(frame, total)


def _table(frame, total: int | None) -> dict:
    more_columns = max(0, len(frame.columns) - MAX_TABLE_COLUMNS)
    frame = frame.iloc[:, :MAX_TABLE_COLUMNS]
    values = [[_cell(v) for v in row] for row in frame.itertuples(index=False, name=None)]
    return {"columns": [str(c) for c in frame.columns], "rows": values, "total_rows": total,
            "more_columns": more_columns}


def _cell(value):
    """A table cell as JSON: numbers and booleans as they are, everything else as text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return value.item()
    except ImportError:  # pragma: no cover - pandas needs numpy
        pass
    return str(value)
