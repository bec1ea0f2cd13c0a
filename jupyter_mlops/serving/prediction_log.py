"""``--log-predictions RATE``: a sample of requests and their predictions, into ``prediction_log``.

The request path only draws a random number and, for a sampled request, appends references to
its input and output to a bounded queue. A background thread turns them into rows and inserts
them in batches, so a slow or busy store never delays a prediction; when the queue is full the
sample is dropped and counted instead.
"""
from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import deque

import numpy as np

log = logging.getLogger("jupyter_mlops")
MAX_ROWS_PER_REQUEST = 100  # a 10k-row request is logged by its first rows only
MAX_QUEUED = 10_000
FLUSH_SECONDS = 1.0


class PredictionLogger:
    def __init__(self, store, name: str, version: int, columns: list[str], rate: float,
                 flush_seconds: float = FLUSH_SECONDS, max_queued: int = MAX_QUEUED):
        if not 0.0 < rate <= 1.0:
            raise ValueError(f"--log-predictions must be a rate in (0, 1], got {rate}")
        self.store, self.name, self.version, self.columns = store, name, int(version), columns
        self.rate, self.flush_seconds, self.max_queued = rate, flush_seconds, max_queued
        self.queue: deque = deque()
        self.written = self.dropped = 0
        self._wake = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="mlops-prediction-log", daemon=True)

    def start(self) -> PredictionLogger:
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def offer(self, X, predictions) -> None:
        """Maybe keep this request (called on the request path: must stay cheap)."""
        if random.random() >= self.rate:
            return
        if len(self.queue) >= self.max_queued:
            self.dropped += min(len(X), MAX_ROWS_PER_REQUEST)
            return
        self.queue.append((time.time(), X, predictions))

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued and stop."""
        self._stop = True
        self._wake.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            try:
                self._flush()
            except Exception:  # the store may be briefly unreachable; the samples are lost, serving goes on
                log.exception("prediction log: could not write %d queued requests", len(self.queue))
            if self._stop:
                self._flush()
                return

    def _flush(self) -> None:
        from sqlalchemy import insert

        from ..tracking import schema as s

        batch = []
        while self.queue:
            batch.append(self.queue.popleft())
        rows = [row for item in batch for row in self._rows(*item)]
        if not rows:
            return
        try:
            with self.store.writing() as conn:
                conn.execute(insert(s.prediction_log), rows)
        except Exception:
            self.dropped += len(rows)
            raise
        self.written += len(rows)

    def _rows(self, when: float, X, predictions) -> list[dict]:
        created = int(when * 1000)
        if isinstance(X, np.ndarray):
            head = X[:MAX_ROWS_PER_REQUEST]
            records = [dict(zip(self.columns, row)) for row in head.tolist()]
        else:
            head = X.iloc[:MAX_ROWS_PER_REQUEST]
            records = head.astype(object).where(head.notna(), None).to_dict("records")
        values = np.asarray(predictions[:MAX_ROWS_PER_REQUEST]).tolist()
        return [{"name": self.name, "version": self.version, "created_at": created,
                 "features": json.dumps(record, default=str), "prediction": json.dumps(value, default=str)}
                for record, value in zip(records, values)]
