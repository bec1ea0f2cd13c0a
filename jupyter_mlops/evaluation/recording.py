"""Writing an evaluation onto a run: metrics, tags and artifacts.

The run may be open in this process (then its own ``log_*`` calls write, through the buffered
writer) or finished, which is the usual case: a candidate run is evaluated before it is
approved. A finished run gets its points straight through the store, each key one step past
its latest point, so a second evaluation supersedes the first in the latest metrics.
"""
from __future__ import annotations

import math
import time

from sqlalchemy import select

from ..tracking import schema as s
from ..tracking.artifacts import media_type_of
from ..tracking.schema import run_key


def record(store, run_id: str, metrics: dict, tags: dict, artifacts: dict, dataset: tuple | None = None) -> None:
    """``artifacts``: name -> bytes. ``dataset``: (name, fingerprint info, frame) of the evaluation data,
    listed with the run's datasets and as a version in the dataset catalog."""
    from ..tracking import lifecycle

    metrics = {k: float(v) for k, v in metrics.items() if v is not None and not math.isnan(v)}
    run = lifecycle.active_run()
    if run is not None and run.id == run_id and run.active:
        run.log_metrics(metrics)
        run.set_tags(tags)
        for name, data in artifacts.items():
            run.log_artifact(data, name)
        _dataset(store, run_id, dataset)
        return
    steps = _next_steps(store, run_id, list(metrics))
    now = int(time.time() * 1000)
    key = run_key(run_id)
    store.insert_metrics([(key, run_id, k, steps.get(k, 0), v, now) for k, v in metrics.items()])
    store.set_tags(run_id, tags)
    for name, data in artifacts.items():
        sha, size = store.artifacts.put_bytes(data)
        store.add_artifact(run_id, name, sha, size, media_type_of(name))
    _dataset(store, run_id, dataset)


def _dataset(store, run_id: str, dataset) -> None:
    from ..tracking.datasets import record_frame

    if dataset:
        name, info, frame = dataset
        store.add_dataset(run_id, name, **info)
        record_frame(store, run_id, frame, name, info=info)


def _next_steps(store, run_id: str, keys: list[str]) -> dict:
    lm = s.latest_metrics
    with store.engine.connect() as conn:
        rows = conn.execute(select(lm.c.key, lm.c.step).where(lm.c.run_uuid == run_id)).all()
    wanted = set(keys)
    return {k: step + 1 for k, step in rows if k in wanted}
