"""Background writer: metric points are buffered in memory and persisted in batches.

``log_metric`` only appends a tuple to a deque (thread-safe, no lock, no I/O). One daemon
thread per process drains it every ``flush_interval`` seconds, in one transaction of multi-row
INSERTs per batch; it also beats the heartbeat of the runs this process has open. When
``max_buffered`` points are waiting, ``log_metric`` wakes the thread and waits while it drains
them; it also waits while a large batch is being written. ``flush()`` drains synchronously
(used by ``end_run``, at interpreter exit and on SIGTERM).

Why the logging thread waits while a large batch is written, rather than go on beside the
writer: a loop logging at full speed holds the GIL, and a writer working beside it gets the GIL
back only every switch interval (5 ms) per chunk, far later on a busy machine. On a shared
2-core machine, 400k points written beside such a loop took 3-4 s instead of 0.6 s, and
starting at 50k or 250k waiting points persisted 6-50 % fewer points/s than waiting
(benchmarks/bench_tracking.py, figure 2). Batches under a tenth of the bound, what an ordinary
training loop produces in a flush interval, are still written in the background.
"""
from __future__ import annotations

import collections
import logging
import os
import threading
import time

log = logging.getLogger("jupyter_mlops")

DEFAULT_FLUSH_INTERVAL = float(os.environ.get("MLOPS_FLUSH_INTERVAL", "1.0"))
DEFAULT_HEARTBEAT_INTERVAL = float(os.environ.get("MLOPS_HEARTBEAT_INTERVAL", "10.0"))
# Past this many waiting points (~50 MB) log_metric waits for the writer: memory stays bounded,
# and the writer, no longer competing for the GIL, catches up at full speed.
DEFAULT_MAX_BUFFERED = int(os.environ.get("MLOPS_MAX_BUFFERED", "500000"))
# A batch of at least this share of max_buffered comes from a tight logging loop, which then
# waits while the batch is written (see above).
LARGE_BATCH_SHARE = 0.1


class MetricWriter:
    """Owns the metric buffer of one process and the thread that empties it into a store."""

    def __init__(self, store, flush_interval: float = DEFAULT_FLUSH_INTERVAL,
                 heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL, max_buffered: int = DEFAULT_MAX_BUFFERED):
        self.store = store
        self.flush_interval = flush_interval
        self.heartbeat_interval = heartbeat_interval
        self.max_buffered = max(max_buffered, 1)
        self.large_batch = max(int(self.max_buffered * LARGE_BATCH_SHARE), 1)
        # log_metric calls wait_for_room once this many points wait: max_buffered, or 0 while a
        # large batch is being written.
        self.limit = self.max_buffered
        self.buffer: collections.deque = collections.deque()
        self.live_runs: set[str] = set()
        self.points_written = 0
        self.last_error: BaseException | None = None
        # Re-entrant: a SIGTERM handler may flush while the interrupted main thread is flushing.
        self._flush_lock = threading.RLock()
        self._room = threading.Condition()
        self._wake = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="jupyter_mlops-writer", daemon=True)
        self._thread.start()

    def wait_for_room(self) -> None:
        """Block the logging thread while the buffer is full (waking the thread) or a large batch
        is being written. It never touches the database itself, and gives up while the store is
        failing (see last_error)."""
        with self._room:
            if len(self.buffer) >= self.max_buffered:
                self._wake.set()
            while len(self.buffer) >= self.limit and not self._stop and self.last_error is None:
                self._room.wait(timeout=1.0)

    def flush(self) -> int:
        """Write every buffered point now; returns how many were written."""
        with self._flush_lock:
            buf = self.buffer
            n = len(buf)
            if not n:
                return 0
            if n >= self.large_batch:
                self.limit = 0
            try:
                pop = buf.popleft
                batch = [pop() for _ in range(n)]
                try:
                    self.store.insert_metrics(batch)
                except BaseException as exc:
                    # Keep the points for the next attempt instead of dropping them.
                    buf.extendleft(reversed(batch))
                    self.last_error = exc
                    raise
                self.points_written += n
                self.last_error = None
            finally:
                self.limit = self.max_buffered
                with self._room:
                    self._room.notify_all()
        return n

    def _loop(self) -> None:
        next_beat = time.monotonic() + self.heartbeat_interval
        while not self._stop:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            try:
                self.flush()
                if time.monotonic() >= next_beat and self.live_runs:
                    self.store.beat(tuple(self.live_runs))
                    next_beat = time.monotonic() + self.heartbeat_interval
            except Exception as exc:  # keep running: the next round retries
                log.warning("jupyter_mlops: could not write metrics yet (%d buffered): %s", len(self.buffer), exc)
                time.sleep(min(self.flush_interval, 1.0))

    def close(self) -> None:
        """Flush and stop the thread (interpreter exit)."""
        self._stop = True
        self._wake.set()
        self._thread.join(timeout=5)
        self.flush()
