"""Batch scoring on a Dask cluster: partitions scored in parallel, the output written as partitioned Parquet.

Each partition goes through exactly what the local path (:mod:`.batch`) does to a chunk: the
signature and value checks of served requests, then the model. So the predictions are the local
path's, row for row. The reference is pinned to one version on the client (an alias moving
mid-job cannot mix two models), and each worker process loads and verifies that version once,
against the registry, then keeps it for every partition it scores.

Workers on other machines need the store (``MLOPS_TRACKING_URI``) and the artifact store, as for
pipeline steps on Dask.
"""
from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

from ..exceptions import InputSchemaError, InvalidInputError
from ..monitoring.dask_sources import dask_client, is_dask_frame, read_partitioned

# The models a worker process has loaded: (store, reference, runtime) -> model. Loaded once, kept.
_MODELS: dict[tuple, object] = {}
_LOADS: dict[tuple, int] = {}  # how often each was loaded here (1, or the cache would be broken)
_LOCK = threading.Lock()


def worker_model(store_uri: str | None, ref: str, runtime: str | None):
    """The model on this worker, loaded and verified the first time a partition needs it."""
    key = (store_uri, ref, runtime)
    model = _MODELS.get(key)
    if model is None:
        with _LOCK:  # a worker's threads score partitions at once: one of them loads
            model = _MODELS.get(key)
            if model is None:
                from ..registry.package import load_model
                from ..tracking.store import open_store

                store = open_store(store_uri) if store_uri else None
                model = _MODELS[key] = load_model(ref, runtime=runtime or "auto", store=store)
                _LOADS[key] = _LOADS.get(key, 0) + 1
    return model


def loads_here() -> dict:
    """What this process loaded and how often (for tests and diagnostics, via ``client.run``)."""
    return {f"{ref} ({runtime or 'auto'})": count for (_, ref, runtime), count in _LOADS.items()}


def score_partition(frame, store_uri, ref, runtime, probabilities, keep_input, passthrough, partition_info=None):
    """One partition through the local path's checks and model (``batch._score``)."""
    from .batch import _score
    from .inputs import InputReader

    model = worker_model(store_uri, ref, runtime)
    engine = model.engine.with_threads(1) if model.engine.name == "onnx" else model.engine
    number = (partition_info or {}).get("number", 0)
    try:
        return _score(model, engine, InputReader(model), frame.reset_index(drop=True), 0, probabilities, keep_input,
                      None, passthrough)
    except InputSchemaError as exc:
        raise InputSchemaError(f"partition {number}: {exc}", exc.column) from None


def predict(model, data, output=None, *, scheduler: str | None = None, client=None, runtime: str | None = None,
            probabilities: bool = False, keep_input: bool = False, passthrough=()):
    """Score ``data`` (a Dask DataFrame, or a folder/glob/file of Parquet or CSV) on Dask.

    Without ``output``: a lazy Dask DataFrame of the predictions (``proba_<class>`` with
    ``probabilities``). With ``output``: a folder of Parquet parts written by the workers (under
    ``<output>.partial`` first, then renamed, for a local folder), and a summary dict."""
    from ..extras import require

    require("distributed", "scoring on Dask")
    ref, store_uri, local_model = _pinned(model, runtime)
    frame = data if is_dask_frame(data) else read_partitioned(data)
    meta = _meta(local_model, frame, probabilities, keep_input, passthrough)
    scored = frame.map_partitions(score_partition, store_uri, ref, runtime, probabilities, keep_input,
                                  tuple(passthrough), meta=meta, enforce_metadata=False)
    if output is None:
        return scored
    with dask_client(scheduler, client) as connected:
        start = time.perf_counter()
        target = os.fspath(output)
        local = "://" not in target
        if local:
            out = Path(target)
            if out.exists() and not out.is_dir():
                raise InvalidInputError(f"{out} is a file; the Dask path writes a folder of Parquet parts")
            if not out.parent.is_dir():
                raise InvalidInputError(f"{out}: folder {out.parent} does not exist")
            partial = out.with_name(out.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            write_to = str(partial)
        else:
            write_to = target
        try:
            # zero-padded part names: listed in name order, the parts are in the input's order
            scored.to_parquet(write_to, write_index=False, compute=True, name_function=_part_name)
            rows = _rows_written(write_to)
        except BaseException:
            if local:
                shutil.rmtree(partial, ignore_errors=True)
            raise
        if local:
            shutil.rmtree(out, ignore_errors=True)
            partial.replace(out)
        return {"output": target, "rows": rows, "partitions": frame.npartitions,
                "seconds": round(time.perf_counter() - start, 3), "model": ref, "runtime": local_model.runtime,
                "workers": len(connected.scheduler_info()["workers"])}


def _pinned(model, runtime):
    """The exact version a reference means now (``name/N``), the store it is in, and the model loaded
    here (verified; used for the output's column types)."""
    from ..tracking.store import open_store

    if not isinstance(model, str):
        raise InvalidInputError("on Dask, pass the model's reference (e.g. 'cancer-clf@production'): each "
                                "worker loads and verifies it itself")
    store = open_store()
    local_model = worker_model(store.uri, model, runtime)
    ref = model
    if getattr(local_model, "version", None) is not None and not model.startswith((".", "/", "~", "file:")) \
            and not model.lower().endswith(".zip"):
        ref = f"{local_model.name}/{local_model.version}"
        _MODELS.setdefault((store.uri, ref, runtime), local_model)
    return ref, store.uri, local_model


def _meta(model, frame, probabilities, keep_input, passthrough):
    """The output's columns and types: the local path on an empty slice of the input's meta."""
    from .batch import _score
    from .inputs import InputReader

    sample = frame._meta
    engine = model.engine
    try:
        return _score(model, engine, InputReader(model), sample, 0, probabilities, keep_input, None, passthrough)
    except (InputSchemaError, ValueError):  # a model that refuses zero rows: a few real ones from the first part
        head = frame.head(20, npartitions=1)
        if head.empty:
            head = frame.head(20, npartitions=-1)
        return _score(model, engine, InputReader(model), head, 0, probabilities, keep_input, None,
                      passthrough).iloc[:0]


def _part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def _rows_written(folder: str) -> int:
    import pyarrow.dataset as ds

    return ds.dataset(folder, format="parquet").count_rows()
