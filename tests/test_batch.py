"""Batch scoring: files in chunks, the same predictions as the model, and memory bounded by the chunk."""
from __future__ import annotations

import json
import subprocess

import numpy as np
import onnxruntime  # noqa: F401 - half of these tests score on it (CI installs the onnx and parquet extras)
import pandas as pd
import pyarrow  # noqa: F401
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier

import jupyter_mlops as mlops
from jupyter_mlops.cli import main
from jupyter_mlops.exceptions import InputSchemaError, InvalidInputError

from .conftest import PYTHON, python_env


def export(model, frame, target, name="m") -> dict:
    with mlops.start_run("train") as run:
        mlops.log_model(model, training_data=frame, target=target)
    mlops.approve(run.id, by="ana", reason="ok")
    return mlops.export(run.id, name=name)


@pytest.fixture
def cancer(project):
    data = load_breast_cancer(as_frame=True)
    model = RandomForestClassifier(n_estimators=20, random_state=0).fit(data.data, data.target)
    export(model, data.frame, "target")
    return model, data.data


@pytest.mark.parametrize("runtime", ["onnx", "sklearn"])
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_file_scored_in_chunks_matches_the_model(cancer, tmp_path, capsys, runtime, suffix):
    model, X = cancer
    source = tmp_path / f"in{suffix}"
    X.to_csv(source, index=False) if suffix == ".csv" else X.to_parquet(source)
    out = tmp_path / f"out{'.parquet' if suffix == '.csv' else '.csv'}"  # and the other format out
    code = main(["predict", "m", str(source), "-o", str(out), "--chunk-size", "50", "--runtime", runtime,
                 "--probabilities", "--keep-input"])
    assert code == 0
    assert f"569 rows scored by m/1 ({runtime})" in capsys.readouterr().out
    scored = pd.read_csv(out) if out.suffix == ".csv" else pd.read_parquet(out)
    assert list(scored.columns) == [*X.columns, "prediction", "proba_0", "proba_1"]
    assert scored["prediction"].tolist() == model.predict(X).tolist()
    assert np.allclose(scored[["proba_0", "proba_1"]], model.predict_proba(X), rtol=0, atol=1e-5)
    assert np.allclose(scored[X.columns], X)
    assert not list(tmp_path.glob("*.partial"))


def test_api_predict_on_a_dataframe_and_a_loaded_model(cancer, tmp_path):
    model, X = cancer
    scored = mlops.predict("m", X, chunk_size=100)
    assert list(scored.columns) == ["prediction"] and scored["prediction"].tolist() == model.predict(X).tolist()
    assert mlops.predict("m", X.iloc[:3], output=tmp_path / "o.csv")["runtime"] == "onnx"  # batch: auto
    loaded = mlops.load_model("m", runtime="sklearn")
    again = mlops.predict(loaded, X.iloc[:10], probabilities=True)
    assert np.allclose(again[["proba_0", "proba_1"]], model.predict_proba(X.iloc[:10]))
    summary = mlops.predict(loaded, X, output=tmp_path / "o.parquet")
    assert summary["rows"] == 569 and summary["runtime"] == "sklearn"
    with pytest.raises(InvalidInputError, match="loaded on the sklearn runtime"):
        mlops.predict(loaded, X, runtime="onnx")


def test_a_bad_row_names_its_chunk_and_column_and_leaves_no_output(cancer, tmp_path, capsys):
    _, X = cancer
    bad = X.astype({"mean area": object})
    bad.loc[433, "mean area"] = "twelve"
    source = tmp_path / "in.csv"
    bad.to_csv(source, index=False)
    out = tmp_path / "out.parquet"
    with pytest.raises(InputSchemaError, match=r"in.csv rows 401-500: column 'mean area' must be float64"):
        mlops.predict("m", source, output=out, chunk_size=100)
    assert not out.exists() and not list(tmp_path.glob("*.partial"))
    assert main(["predict", "m", str(source), "-o", str(out), "--chunk-size", "100"]) == 2
    err = capsys.readouterr().err
    assert "rows 401-500" in err and "twelve" not in err and err.count("\n") == 1
    assert main(["predict", "m", str(tmp_path / "nope.csv"), "-o", str(out)]) == 2
    assert main(["predict", "m", str(source), "-o", str(tmp_path / "out.xlsx")]) == 2
    assert "write .parquet or .csv" in capsys.readouterr().err


GENERATE = """
import sys, numpy as np, pyarrow as pa, pyarrow.parquet as pq
rows, cols, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = np.random.default_rng(0)
writer = None
for start in range(0, rows, 100_000):
    n = min(100_000, rows - start)
    table = pa.table({f"f{i}": rng.normal(size=n) for i in range(cols)})
    writer = writer or pq.ParquetWriter(path, table.schema)
    writer.write_table(table)
writer.close()
"""

SCORE = """
import json, resource, sys, time
import pyarrow.parquet  # imported before the baseline: it is needed whatever the chunk size
import jupyter_mlops as mlops
from jupyter_mlops.serving.batch import predict
uri, source, out, chunk = sys.argv[1:5]
mlops.set_tracking_uri(uri)
model = mlops.load_model("big", runtime="auto")

def rss_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024

before = rss_mb()
start = time.perf_counter()
summary = predict(model, source, output=out, chunk_size=int(chunk))
print(json.dumps({"rows": summary["rows"], "runtime": model.runtime, "seconds": time.perf_counter() - start,
                  "rss_before_mb": before, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def test_a_million_rows_in_bounded_memory(project, tmp_path):
    """1M x 20 float64 is 153 MB; scored in 50k-row chunks, the process grows no more for 1M rows than
    for 200k (a reader or writer holding the file would grow by the 122 MB in between)."""
    import pyarrow.parquet as pq

    cols = 20
    rng = np.random.default_rng(1)
    train = pd.DataFrame({f"f{i}": rng.normal(size=5000) for i in range(cols)})
    train["y"] = (train["f0"] + train["f1"] > 0).astype(int)
    model = RandomForestClassifier(n_estimators=10, max_depth=8, random_state=0)
    model.fit(train.drop(columns="y"), train["y"])
    export(model, train, "y", name="big")
    reports = {}
    for rows in (200_000, 1_000_000):
        source, out = tmp_path / f"in-{rows}.parquet", tmp_path / f"out-{rows}.parquet"
        subprocess.run([PYTHON, "-c", GENERATE, str(rows), str(cols), str(source)], check=True, env=python_env())
        proc = subprocess.run([PYTHON, "-c", SCORE, mlops.get_tracking_uri(), str(source), str(out), "50000"],
                              capture_output=True, text=True, env=python_env(), timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        reports[rows] = report = json.loads(proc.stdout.strip().splitlines()[-1])
        report["growth_mb"] = report["peak_rss_mb"] - report["rss_before_mb"]
        print(f"\nbatch scoring of {rows} x {cols} in 50k-row chunks: {report}")
        assert report["rows"] == rows
    assert reports[1_000_000]["growth_mb"] - reports[200_000]["growth_mb"] < 40, reports

    scored = pq.ParquetFile(out)
    assert scored.metadata.num_rows == 1_000_000 and scored.schema_arrow.names == ["prediction"]
    first = pq.ParquetFile(source).read_row_group(0).to_pandas().iloc[:1000]
    head = scored.read_row_group(0).to_pandas()["prediction"].iloc[:1000]
    assert head.tolist() == model.predict(first).tolist()
    counts = np.bincount(scored.read().column("prediction").to_numpy())
    assert counts.sum() == 1_000_000 and min(counts) > 250_000  # both classes, as y = (f0 + f1 > 0) gives
