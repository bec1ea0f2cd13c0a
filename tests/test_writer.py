"""The metric writer: who waits for whom while a batch is being written."""
from __future__ import annotations

import sqlite3
import threading
import uuid

import pytest

from jupyter_mlops.tracking.run import Run
from jupyter_mlops.tracking.store import open_store
from jupyter_mlops.tracking.writer import MetricWriter

from .helpers.waiting import wait_until


@pytest.mark.parametrize(("batch", "logging_waits"), [(50, False), (500, True)])
def test_logging_waits_while_a_large_batch_is_written_not_a_small_one(project, db_path, batch, logging_waits):
    """A large batch means a tight logging loop, which would fight the writer for the GIL: it
    waits instead. A small one is written in the background while logging goes on."""
    store = open_store()
    run_id = uuid.uuid4().hex
    store.create_run(run_id, store.experiment_id("writer"), 10.0, name="writer")
    writer = MetricWriter(store, flush_interval=3600, max_buffered=1000)  # large: 100 points or more
    run = Run(run_id, store, writer, "writer", "writer")
    for i in range(batch):
        run.log_metric("m", float(i))
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # the batch cannot be written until this ends
    flushing = threading.Thread(target=writer.flush)
    flushing.start()
    wait_until(lambda: not writer.buffer, "the writer taking the batch")  # then it waits for the blocker
    written_when_logged = []
    logged = threading.Event()

    def log_one() -> None:
        run.log_metric("m", -1.0)
        written_when_logged.append(writer.points_written)
        logged.set()

    logging = threading.Thread(target=log_one)
    logging.start()
    try:
        if logging_waits:
            # Parked on the writer's condition while the batch cannot be written (or, wrongly, done).
            wait_until(lambda: logged.is_set() or writer._room._waiters, "log_metric waiting or returning")
            assert not logged.is_set(), "log_metric returned while the large batch was still being written"
        else:
            wait_until(logged.is_set, "log_metric returning while the batch is still being written")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        flushing.join()
        logging.join()
        writer.close()
    # Waiting means returning only once the batch is in the store; not waiting, before it is.
    assert written_when_logged == [batch if logging_waits else 0]
    assert len(store.metric_history(run_id, "m")) == batch + 1
