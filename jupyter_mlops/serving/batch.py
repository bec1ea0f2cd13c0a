"""Batch scoring: a CSV or Parquet file (or a DataFrame) through a model, one chunk at a time.

Memory is bounded by the chunk size, not the file: chunks are read (``monitoring.sources``),
checked against the signature and by the value rules of served requests (``inputs``), predicted
and appended to the output, which is written under a temporary name and renamed when complete,
so a failed run never leaves a half-written file that looks finished.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from ..exceptions import InputSchemaError, InvalidInputError
from . import DEFAULT_CHUNK_ROWS
from .inputs import InputReader

OUTPUT_SUFFIXES = (".parquet", ".pq", ".csv")


def predict(model, data, output=None, chunk_size: int = DEFAULT_CHUNK_ROWS, runtime: str | None = None,
            probabilities: bool = False, keep_input: bool = False, progress: bool = False, passthrough=()):
    """Predict every row of ``data`` (DataFrame or .csv/.parquet path) with ``model`` (a reference or
    a loaded model). Without ``output``: a DataFrame with a ``prediction`` column (``proba_<class>``
    columns with ``probabilities``). With ``output`` (.parquet or .csv): the file is written chunk by
    chunk and a summary dict is returned.

    Columns the model does not take (an id, the label) are not scored; ``keep_input`` copies every
    input column to the output, ``passthrough`` the named ones."""
    from ..monitoring.sources import iter_chunks

    if int(chunk_size) < 1:
        raise InvalidInputError(f"chunk size must be a positive number of rows, got {chunk_size}")
    model = _loaded(model, runtime)
    engine = model.engine.with_threads(0) if model.engine.name == "onnx" else model.engine
    if probabilities and not engine.has_proba:
        raise InvalidInputError(f"model {model.ref} gives no probabilities")
    values = InputReader(model)  # the same value rules as served requests
    writer = _Writer(Path(output)) if output is not None else None
    kept, rows, start = [], 0, time.perf_counter()
    bar = _progress(data, progress)
    try:
        for chunk in iter_chunks(data, int(chunk_size)):
            if len(chunk) == 0:
                continue
            scored = _score(model, engine, values, chunk, rows, probabilities, keep_input, data, passthrough)
            rows += len(chunk)
            bar.update(len(chunk))
            if writer is None:
                kept.append(scored)
            else:
                writer.write(scored)
        if writer is None:
            import pandas as pd

            return pd.concat(kept, ignore_index=True) if kept else pd.DataFrame({"prediction": []})
        path = writer.finish()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        bar.close()
    return {"output": str(path), "rows": rows, "seconds": round(time.perf_counter() - start, 3),
            "model": model.ref, "runtime": model.runtime}


def _loaded(model, runtime):
    if isinstance(model, str):
        from ..registry.package import load_model

        return load_model(model, runtime=runtime or "auto")
    if runtime is not None and runtime != model.runtime:
        raise InvalidInputError(f"{model.ref} is loaded on the {model.runtime} runtime; load it with "
                                f"runtime={runtime!r} or pass its reference instead")
    return model


def _score(model, engine, values: InputReader, chunk, offset: int, probabilities: bool, keep_input: bool, source,
           passthrough=()):
    import pandas as pd

    try:
        absent = [c for c in passthrough if c not in chunk.columns]
        if absent:
            raise InputSchemaError(f"no column {absent[0]!r} to pass through", absent[0])
        values.check_frame(chunk, offset)
        X = model.prepare(chunk, extra="ignore")
    except InputSchemaError as exc:
        where = f"{source} " if isinstance(source, (str, Path)) else ""
        raise InputSchemaError(f"{where}rows {offset + 1}-{offset + len(chunk)}: {exc}", exc.column) from None
    kept = list(chunk.columns) if keep_input else list(passthrough)
    out = chunk[kept].reset_index(drop=True) if kept else pd.DataFrame(index=pd.RangeIndex(len(X)))
    out["prediction"] = np.asarray(engine.predict(X))
    if probabilities:
        proba = np.asarray(engine.predict_proba(X))
        for i, label in enumerate(model.signature.get("classes") or range(proba.shape[1])):
            out[f"proba_{label}"] = proba[:, i]
    return out


class _Writer:
    """Appends chunks to ``<output>.partial`` and renames it to ``output`` at the end."""

    def __init__(self, output: Path):
        suffix = output.suffix.lower()
        if suffix not in OUTPUT_SUFFIXES:
            raise InvalidInputError(f"{output}: write .parquet or .csv, not {suffix or 'a file without suffix'}")
        if not output.parent.is_dir():
            raise InvalidInputError(f"{output}: folder {output.parent} does not exist")
        self.output, self.parquet = output, suffix != ".csv"
        self.partial = output.with_name(output.name + ".partial")
        self.parquet_writer = None
        self.first = True

    def write(self, frame) -> None:
        if self.parquet:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self.parquet_writer is None:
                self.parquet_writer = pq.ParquetWriter(self.partial, table.schema)
            self.parquet_writer.write_table(table.cast(self.parquet_writer.schema))
        else:
            frame.to_csv(self.partial, index=False, mode="w" if self.first else "a", header=self.first)
        self.first = False

    def finish(self) -> Path:
        if self.parquet_writer is not None:
            self.parquet_writer.close()
        elif self.first:  # no rows at all: still an output with its header
            self.write(_empty())
            return self.finish()
        self.partial.replace(self.output)
        return self.output

    def abort(self) -> None:
        if self.parquet_writer is not None:
            self.parquet_writer.close()
        self.partial.unlink(missing_ok=True)


def _empty():
    import pandas as pd

    return pd.DataFrame({"prediction": pd.Series([], dtype="float64")})


def _progress(data, show: bool):
    from tqdm import tqdm

    total = None
    if hasattr(data, "__len__") and not isinstance(data, (str, Path)):
        total = len(data)
    elif str(data).lower().endswith((".parquet", ".pq")):
        try:
            import pyarrow.parquet as pq

            total = pq.ParquetFile(data).metadata.num_rows
        except Exception:  # noqa: BLE001 - only a progress total; iter_chunks reports the unreadable file
            total = None  # iter_chunks reports the unreadable file
    # Drawn only on a terminal, and only once scoring takes a while: otherwise its text stays behind
    # in logs and pipes ("0.00rows [00:00, ?rows/s]" after the summary line).
    return tqdm(total=total, unit="rows", unit_scale=True, disable=not (show and sys.stderr.isatty()), leave=False,
                delay=0.5)
