"""The metric writer: who waits for whom while a batch is being written."""
from __future__ import annotations

import sqlite3
import threading
import time
import uuid

import pytest

from jupyter_mlops.tracking.run import Run
from jupyter_mlops.tracking.store import open_store
from jupyter_mlops.tracking.writer import MetricWriter


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
    deadline = time.monotonic() + 30
    while writer.buffer:  # the batch has been taken once the buffer is empty
        assert time.monotonic() < deadline
        time.sleep(0.01)
    logged = threading.Event()
    logging = threading.Thread(target=lambda: (run.log_metric("m", -1.0), logged.set()))
    logging.start()
    try:
        if logging_waits:
            assert not logged.wait(0.5)
        else:
            assert logged.wait(30)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        flushing.join()
        logging.join()
        writer.close()
    assert len(store.metric_history(run_id, "m")) == batch + 1
