"""Background writer: metric points are buffered in memory and persisted in batches.

``log_metric`` only appends a tuple to a deque (thread-safe, no lock, no I/O). One daemon
thread per process drains it every ``flush_interval`` seconds, in one transaction of multi-row
INSERTs per batch; it also beats the heartbeat of the runs this process has open. When
``max_buffered`` points are waiting, ``log_metric`` wakes the thread and waits while it drains
them; it also waits while a large batch is being written. ``flush()`` drains synchronously
(used by ``end_run``, at interpreter exit and on SIGTERM).

While the store cannot be written (disk full, database down), ``log_metric`` never waits for
it: the buffer keeps the newest ``max_buffered`` points and drops the oldest, counting them per
run. Once the store takes writes again the count is recorded on the run (tag
``mlops.lost_points``, with ``mlops.warning``), and runs that ended meanwhile get their end
recorded only then (see ``end_when_written``): a run never ends a clean FINISHED with points
missing.

The same thread samples system metrics (CPU, memory, GPUs: system_metrics.py) into the buffer
for the runs that asked, every few seconds; while none asks it does nothing of the kind. Before, a run logging 3M points with the disk full ended a clean FINISHED with none
written, 2.96M points waiting and 800 MB resident; now at most 500k wait (149 MB resident)
and the run says it lost 3M.

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

from ..exceptions import StoreError
from .schema import run_key

log = logging.getLogger("jupyter_mlops")
LOST_TAG = "mlops.lost_points"
WARNING_TAG = "mlops.warning"

DEFAULT_FLUSH_INTERVAL = float(os.environ.get("MLOPS_FLUSH_INTERVAL", "1.0"))
DEFAULT_HEARTBEAT_INTERVAL = float(os.environ.get("MLOPS_HEARTBEAT_INTERVAL", "10.0"))
# Past this many waiting points (~50 MB) log_metric waits for the writer: memory stays bounded,
# and the writer, no longer competing for the GIL, catches up at full speed.
DEFAULT_MAX_BUFFERED = 500_000  # MLOPS_MAX_BUFFERED, read when a writer starts
# A batch of at least this share of max_buffered comes from a tight logging loop, which then
# waits while the batch is written (see above).
LARGE_BATCH_SHARE = 0.1
# While the store is failing, each retry first writes this many points: a failed attempt at
# 100k points built 57 MB of statement parameters, every second.
PROBE_POINTS = 1000


class MetricWriter:
    """Owns the metric buffer of one process and the thread that empties it into a store."""

    def __init__(self, store, flush_interval: float = DEFAULT_FLUSH_INTERVAL,
                 heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL, max_buffered: int | None = None):
        self.store = store
        self.flush_interval = flush_interval
        self.heartbeat_interval = heartbeat_interval
        if max_buffered is None:
            max_buffered = int(os.environ.get("MLOPS_MAX_BUFFERED", DEFAULT_MAX_BUFFERED))
        self.max_buffered = max(max_buffered, 1)
        self.large_batch = max(int(self.max_buffered * LARGE_BATCH_SHARE), 1)
        # log_metric calls wait_for_room once this many points wait: max_buffered, or 0 while a
        # large batch is being written.
        self.limit = self.max_buffered
        self.buffer: collections.deque = collections.deque()
        self.live_runs: set[str] = set()
        self.points_written = 0
        self.last_error: BaseException | None = None  # set while the store is failing
        self.lost: dict[str, int] = {}  # run id -> points dropped, since the process started
        self.ending: dict[str, str] = {}  # run id -> end status, recorded once its points are written
        self._unrecorded: set[str] = set()  # runs whose lost count is not on the run yet
        self._warned_at = self._warned_drop_at = 0.0  # warnings: at most one a minute each
        # Re-entrant: a SIGTERM handler may flush while the interrupted main thread is flushing.
        self._flush_lock = threading.RLock()
        # Held only while points are taken from or put back into the buffer (never during I/O),
        # so the logging thread can drop points while a write to a failing store hangs.
        # Re-entrant for the same reason as _flush_lock.
        self._pop_lock = threading.RLock()
        self._room = threading.Condition()
        self._wake = threading.Event()
        # System metrics: the runs sampled (id -> Run), each one's next step, the sampler once one asked.
        self.sampled_runs: dict = {}
        self._sample_steps: dict[str, int] = {}
        self._sampler = None
        self._sample_interval = float("inf")
        self._next_sample = float("inf")
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="jupyter_mlops-writer", daemon=True)
        self._thread.start()

    def wait_for_room(self) -> None:
        """Block the logging thread while the buffer is full (waking the thread) or a large batch
        is being written. It never touches the database itself. While the store is failing it
        does not wait: it drops the oldest points instead (a tenth of the bound at a time)."""
        with self._room:
            if len(self.buffer) >= self.max_buffered:
                self._wake.set()
            while len(self.buffer) >= self.limit and not self._stop:
                if self.last_error is not None:
                    if len(self.buffer) >= self.max_buffered:
                        with self._pop_lock:
                            self._drop_oldest(self.max_buffered - self.large_batch)
                    return
                self._room.wait(timeout=1.0)

    def flush(self) -> int:
        """Write every buffered point now; returns how many were written. Then, if the store had
        failed, records the points lost meanwhile and the ends that waited for them."""
        with self._flush_lock:
            written = 0
            if self.last_error is not None and len(self.buffer) > PROBE_POINTS:
                # Failing: try a small batch before building the statement for all of them.
                written = self._write(PROBE_POINTS)
            written += self._write(None)
            if self._unrecorded or self.ending:
                self._settle()
        return written

    def _write(self, limit: int | None) -> int:
        """Insert the oldest ``limit`` waiting points (all with None); on failure keep them waiting."""
        buf = self.buffer
        with self._pop_lock:
            n = len(buf) if limit is None else min(len(buf), limit)
            pop = buf.popleft
            batch = [pop() for _ in range(n)]
        if n >= self.large_batch:
            self.limit = 0
        try:
            if n:
                try:
                    self.store.insert_metrics(batch)
                except BaseException as exc:
                    self._put_back(batch, exc)
                    raise
                self.points_written += n
                self.last_error = None
        finally:
            self.limit = self.max_buffered
            with self._room:
                self._room.notify_all()
        return n

    def _put_back(self, batch: list, exc: BaseException) -> None:
        """Keep the newest points for the next attempt, within the bound; count the rest lost."""
        # Only the message: the exception's traceback and the driver error's parameters would keep
        # the failed batch and its statement alive for as long as the store is failing.
        self.last_error = StoreError(str(exc) or type(exc).__name__)
        with self._pop_lock:
            room = max(self.max_buffered - len(self.buffer), 0)
            kept = batch[len(batch) - room:] if room < len(batch) else batch
            self._count_lost(batch[:len(batch) - len(kept)])
            self.buffer.extendleft(reversed(kept))
            self._drop_oldest(self.max_buffered)

    def _drop_oldest(self, keep: int) -> None:
        """Drop the oldest waiting points beyond ``keep`` (caller holds ``_pop_lock``)."""
        buf, dropped = self.buffer, []
        while len(buf) > keep:
            dropped.append(buf.popleft())
        self._count_lost(dropped)

    def _count_lost(self, points: list) -> None:
        if not points:
            return
        for run_id, n in collections.Counter(point[1] for point in points).items():
            self.lost[run_id] = self.lost.get(run_id, 0) + n
            self._unrecorded.add(run_id)
        if time.monotonic() - self._warned_drop_at > 60:
            self._warned_drop_at = time.monotonic()
            log.warning("jupyter_mlops: the store cannot be written (%s); keeping the newest %d metric points "
                        "and dropping older ones (%d so far; MLOPS_MAX_BUFFERED)", self.last_error,
                        self.max_buffered, sum(self.lost.values()))

    def _settle(self) -> None:
        """Record lost counts, then the ends that waited for them; what fails is retried next flush."""
        try:
            for run_id in list(self._unrecorded):
                count = self.lost[run_id]
                self.store.set_tags(run_id, lost_tags(count, self.max_buffered))
                with self._pop_lock:  # points are counted lost under it: none were, meanwhile
                    if self.lost[run_id] == count:
                        self._unrecorded.discard(run_id)
            for run_id, status in list(self.ending.items()):
                if run_id not in self._unrecorded:
                    self.store.end_run(run_id, status)
                    del self.ending[run_id]
                    self.live_runs.discard(run_id)
        except Exception as exc:  # noqa: BLE001 - the store is failing again: the next flush retries
            log.debug("jupyter_mlops: could not record lost points or run ends yet: %s", exc)

    def end_when_written(self, run_id: str, status: str) -> None:
        """Record the run's end once its buffered points are written (or their loss recorded)."""
        self.ending[run_id] = status
        self._wake.set()

    def settled(self, run_id: str) -> bool:
        """No point of the run waits, and its losses, if any, are recorded on it."""
        return run_id not in self._unrecorded and all(point[1] != run_id for point in list(self.buffer))

    def drain(self) -> None:
        """Flush and record every pending loss and end; raises while the store refuses them."""
        self.flush()
        if self._unrecorded or self.ending:
            raise self.last_error or StoreError(f"{len(self.ending)} run ends could not be recorded yet")

    def abandon(self) -> list[str]:
        """At exit, when the store never came back: every waiting point is lost. Records what the
        store still takes; returns the runs whose end could not be recorded (they show CRASHED)."""
        with self._flush_lock, self._pop_lock:
            self._drop_oldest(0)
        with self._flush_lock:
            self._settle()
        return list(self.ending)

    def sample_system_metrics(self, run, interval: float) -> None:
        """Sample CPU, memory and GPUs into ``system.*`` metrics of ``run`` every ``interval``
        seconds (the shortest asked for), on this writer's thread, until the run ends."""
        from .system_metrics import SystemSampler

        if self._sampler is None:
            self._sampler = SystemSampler()
        self._sample_steps.setdefault(run.id, 0)
        self.sampled_runs[run.id] = run
        self._sample_interval = min(self._sample_interval, interval)
        self._next_sample = min(self._next_sample, time.monotonic() + self._sample_interval)
        self._wake.set()

    def _sample_if_due(self) -> None:
        if time.monotonic() < self._next_sample:
            return
        for run_id, run in list(self.sampled_runs.items()):
            if run.status != "RUNNING":
                del self.sampled_runs[run_id]
        if not self.sampled_runs:
            self._sample_interval = self._next_sample = float("inf")
            return
        self._next_sample = time.monotonic() + self._sample_interval
        try:
            values = self._sampler.sample()
        except Exception as exc:  # noqa: BLE001 - a sampler failing (a GPU gone) must not stop the writing
            if time.monotonic() - self._warned_at > 60:
                self._warned_at = time.monotonic()
                log.warning("jupyter_mlops: could not sample system metrics: %s", exc)
            return
        stamp = time.time_ns() // 1_000_000
        for run_id in list(self.sampled_runs):
            step = self._sample_steps[run_id]
            self._sample_steps[run_id] = step + 1
            key = run_key(run_id)
            self.buffer.extend((key, run_id, name, step, value, stamp) for name, value in values.items())

    def _loop(self) -> None:
        next_beat = time.monotonic() + self.heartbeat_interval
        while not self._stop:
            self._wake.wait(max(min(self.flush_interval, self._next_sample - time.monotonic()), 0))
            self._wake.clear()
            self._sample_if_due()
            try:
                self.flush()
                if time.monotonic() >= next_beat and self.live_runs:
                    self.store.beat(tuple(self.live_runs))
                    next_beat = time.monotonic() + self.heartbeat_interval
            except Exception as exc:  # noqa: BLE001 - keep running: the next round retries
                if time.monotonic() - self._warned_at > 60:
                    self._warned_at = time.monotonic()
                    log.warning("jupyter_mlops: could not write metrics yet (%d buffered): %s", len(self.buffer), exc)
            else:
                continue
            # Outside the handler: the error's traceback holds the failed batch, freed only once it ends.
            time.sleep(min(self.flush_interval, 1.0))

    def close(self) -> None:
        """Flush and stop the thread (interpreter exit)."""
        self._stop = True
        self._wake.set()
        self._thread.join(timeout=5)
        self.flush()


def lost_tags(lost: int, max_buffered: int) -> dict[str, str]:
    return {LOST_TAG: str(lost),
            WARNING_TAG: f"{lost} metric points were lost while the store could not be written (at most "
                         f"MLOPS_MAX_BUFFERED={max_buffered} points wait for it)"}
