"""Data larger than one machine: batch scoring and drift on a 2-worker LocalCluster whose workers each
have less memory than the data set, equal to the local path on the same generated partitioned Parquet."""
from __future__ import annotations

import os

import dask
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from distributed import Client, LocalCluster
from sklearn.linear_model import LogisticRegression

import jupyter_mlops as mlops
from jupyter_mlops.cli import main
from jupyter_mlops.monitoring.drift import detect_drift
from jupyter_mlops.monitoring.partitioned import TOLERANCE, detect_drift_partitioned, same_verdicts
from jupyter_mlops.serving import dask_batch
from jupyter_mlops.tracking.profile import profile_dataframe

FEATURES = [f"x{i}" for i in range(12)]
PARTS, PART_ROWS = 70, 100_000  # 7M rows x 12 float64 columns and a text column: ~735 MB in memory
WORKER_MEMORY = 600_000_000  # per worker; an idle worker with pandas and scikit-learn imported holds ~270 MB


def frame(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=FEATURES)
    data["x0"] += shift
    data["x3"] = np.round(data["x3"] * 2) / 2  # a column with repeated values
    data["segment"] = np.array(["a", "b", "c", "d"])[rng.integers(0, 4 if not shift else 3, rows)]
    return data


@pytest.fixture(scope="module")
def client():
    # The limit is enforced by the nanny (a worker past 95% of it is killed); no pausing or spilling,
    # which would hide a worker that holds more than it should. Each worker's pid is checked at the
    # end: none was killed and restarted.
    with dask.config.set({"distributed.worker.memory.target": False, "distributed.worker.memory.spill": False,
                          "distributed.worker.memory.pause": False}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit=WORKER_MEMORY,
                               dashboard_address=None)
        dask_client = Client(cluster)
        pids = dask_client.run(os.getpid)
        yield dask_client
        assert dask_client.run(os.getpid) == pids, "a worker went past its memory limit and was restarted"
        dask_client.close()
        cluster.close()


@pytest.fixture(scope="module")
def partitioned(tmp_path_factory):
    """Partitioned Parquet larger than a worker's memory limit, drifted in x0 and segment."""
    folder = tmp_path_factory.mktemp("events") / "day=2024-05-01"
    folder.mkdir()
    for part in range(PARTS):
        pq.write_table(pa_table(frame(PART_ROWS, seed=100 + part, shift=0.3)), folder / f"part-{part:03d}.parquet")
    return folder


def pa_table(data: pd.DataFrame):
    import pyarrow as pa

    return pa.Table.from_pandas(data, preserve_index=False)


@pytest.fixture
def model(project):
    train = frame(5_000, seed=1)
    y = (train["x0"] + train["x1"] > 0).astype(int)
    estimator = LogisticRegression().fit(train[FEATURES], y)
    with mlops.start_run("train") as run:
        mlops.log_model(estimator, training_data=train[FEATURES].assign(y=y), target="y")
    mlops.approve(run.id, by="ana", reason="ok")
    mlops.export(run.id, name="scorer")
    mlops.set_alias("scorer", 1, "production")
    return estimator, train


def test_the_data_is_larger_than_a_worker(partitioned, client):
    in_memory = pq.ParquetDataset(partitioned).read().to_pandas().memory_usage(deep=True).sum()
    limits = {w["memory_limit"] for w in client.scheduler_info()["workers"].values()}
    assert len(client.scheduler_info()["workers"]) == 2 and limits == {WORKER_MEMORY}
    assert in_memory > WORKER_MEMORY


def test_dask_predict_equals_the_local_path_and_loads_the_model_once_per_worker(model, partitioned, client, tmp_path,
                                                                               capsys):
    out = tmp_path / "scored"
    assert main(["predict", "scorer@production", str(partitioned), "-o", str(out), "--executor", "dask",
                 "--scheduler", client.scheduler.address, "--probabilities", "--runtime", "sklearn"]) == 0
    assert f"{PARTS * PART_ROWS} rows scored by scorer/1" in capsys.readouterr().out
    parts = sorted(out.glob("*.parquet"))
    assert len(parts) == PARTS and not (tmp_path / "scored.partial").exists()
    dask_scores = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)

    local_scores = pd.concat([mlops.predict("scorer@production", pd.read_parquet(p), probabilities=True,
                                            runtime="sklearn") for p in sorted(partitioned.glob("*.parquet"))],
                             ignore_index=True)
    pd.testing.assert_frame_equal(dask_scores, local_scores)  # identical, not close: the same code per row
    # Each worker verified and loaded the model once for its many partitions.
    loads = client.run(dask_batch.loads_here)
    assert list(loads.values()) == [{"scorer/1 (sklearn)": 1}] * 2

    # mlops.predict(ref, dask_dataframe): lazy, partition for partition the same.
    import dask.dataframe as dd

    lazy = mlops.predict("scorer@production", dd.read_parquet(partitioned), runtime="sklearn")
    first = lazy.get_partition(0).compute(scheduler=client.get)
    assert first["prediction"].tolist() == local_scores["prediction"].iloc[:len(first)].tolist()


def test_a_bad_value_names_the_partition_and_column(model, tmp_path, client):
    folder = tmp_path / "bad"
    folder.mkdir()
    good = frame(100, seed=5)[FEATURES]
    bad = good.copy()
    bad.loc[7, "x2"] = np.inf
    pq.write_table(pa_table(good), folder / "a.parquet")
    pq.write_table(pa_table(bad), folder / "b.parquet")
    with pytest.raises(Exception, match=r"partition 1: .*x2") as info:
        mlops.predict("scorer@production", folder, output=tmp_path / "out", executor="dask", client=client)
    assert "x2" in str(info.value)
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_dask_drift_equals_the_local_path_within_tolerance(model, partitioned, client):
    profile = profile_dataframe(frame(20_000, seed=2))  # numerical, discrete and categorical columns
    local = detect_drift(profile, iter(pd.read_parquet(p) for p in sorted(partitioned.glob("*.parquet"))))
    on_dask = detect_drift_partitioned(profile, partitioned, client=client)
    assert same_verdicts(local, on_dask, TOLERANCE) == []
    assert on_dask.current_rows == PARTS * PART_ROWS
    assert {c.column for c in on_dask.columns if c.drifted} >= {"x0", "segment"}
    assert not on_dask["x5"].drifted

    # A small reference takes the exact KS and chi-square route: the same there too.
    small = profile_dataframe(frame(800, seed=3))
    assert same_verdicts(detect_drift(small, partitioned / "part-000.parquet"),
                         detect_drift_partitioned(small, partitioned / "part-000.parquet", client=client)) == []


def test_monitor_of_a_dask_dataframe_records_the_same_result(model, partitioned, client):
    import dask.dataframe as dd

    result = mlops.monitor("scorer@production", dd.read_parquet(partitioned, columns=FEATURES))
    assert result.run_id and result.current_rows == PARTS * PART_ROWS and "x0" in result.drifted_columns
    profile = mlops.load_model("scorer@production").reference_profile
    local = detect_drift(profile, iter(pd.read_parquet(p, columns=FEATURES) for p in sorted(partitioned.glob("*.parquet"))))
    assert same_verdicts(local, result) == []
    with pytest.raises(Exception, match="performance .* Dask"):
        mlops.monitor("scorer@production", dd.read_parquet(partitioned), target="x1")
