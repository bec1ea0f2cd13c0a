"""``model/model.onnx`` at export, kept only when it predicts what scikit-learn predicts.

ONNX Runtime scores one row of a 100-tree forest in ~15 µs where scikit-learn takes ~10 ms,
but a converter can change a model silently (float32 arithmetic, unsupported options). So the
converted model is checked against the estimator on the input example and on rows built from
the reference profile's samples, with missing values where the training data had some
(labels equal, probabilities within ``TOLERANCE``), and written only when it passes; otherwise
the package says why it has no ONNX file.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ONNX_FILE = "model/model.onnx"
TOLERANCE = 1e-5
# Rows drawn from the reference profile: its per-column samples (at most 1000 values each), once
# aligned by rank and once shuffled per column, so both ordinary and unusual combinations are tried.
PROFILE_ROWS = 1000
NUMERIC_KINDS = "iuf"
log = logging.getLogger("jupyter_mlops")


@dataclass
class OnnxOutcome:
    """What export did about ONNX; stored in package.json under ``onnx`` and as the tag ``mlops.onnx``."""

    file: str | None
    note: str
    labels: str | None = None  # "onnx": the model's label output; "argmax": first most probable class
    rows_checked: int = 0
    seconds: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def tag(self) -> str:
        return f"{'written' if self.file else 'none'}: {self.note}"


def add_to_package(staging: Path, trusted: list[str], label: str | None = None) -> OnnxOutcome:
    """Convert the package's skops model in ``staging``; write ``model/model.onnx`` if it agrees.

    Never fails an export: every problem becomes the outcome's note (and a log line naming
    ``label``, e.g. the model and run: the staging folder's name means nothing to a user)."""
    outcome = _try(staging, trusted)
    log.log(logging.INFO if outcome.file else logging.WARNING, "ONNX for %s: %s", label or "the package", outcome.tag)
    return outcome


def skipped(why: str) -> OnnxOutcome:
    return OnnxOutcome(file=None, note=why)


def _try(staging: Path, trusted: list[str]) -> OnnxOutcome:
    try:
        import onnxruntime  # noqa: F401
        import skl2onnx  # noqa: F401
    except ImportError as exc:
        return skipped(f"not converted: {exc.name} is not installed (pip install 'jupyter_mlops[onnx]')")
    signature = _read_json(staging / "model/signature.json") or {}
    inputs = signature.get("inputs") or []
    if not inputs:
        return skipped("not converted: the model has no signature (log it with an input example)")
    odd = [i["name"] for i in inputs if _kind(i["dtype"]) not in NUMERIC_KINDS]
    if odd:
        return skipped(f"not converted: only numeric inputs are converted; column {odd[0]!r} is "
                       f"{next(i['dtype'] for i in inputs if i['name'] == odd[0])}")
    import skops.io as sio

    seconds = {}
    start = time.perf_counter()
    estimator = sio.load(staging / "model/model.skops", trusted=trusted)
    seconds["load"] = time.perf_counter() - start
    start = time.perf_counter()
    try:
        onnx_bytes = _convert(estimator, len(inputs))
    except Exception as exc:  # noqa: BLE001 - skl2onnx raises many types for unsupported models
        return OnnxOutcome(None, f"not converted: skl2onnx cannot convert {type(estimator).__name__}: "
                           f"{type(exc).__name__}: {_first_line(exc)}", seconds=_rounded(seconds))
    seconds["convert"] = time.perf_counter() - start
    start = time.perf_counter()
    rows = check_rows(signature, _read_json(staging / "model/input_example.json"),
                      _read_json(staging / "reference_profile.json"))
    verdict, labels = compare(estimator, onnx_bytes, signature, rows)
    seconds["check"] = time.perf_counter() - start
    if verdict:
        return OnnxOutcome(None, f"not written: {verdict}", rows_checked=len(rows), seconds=_rounded(seconds))
    path = staging / ONNX_FILE
    path.write_bytes(onnx_bytes)
    return OnnxOutcome(ONNX_FILE, f"matches scikit-learn on {len(rows)} rows (labels equal, probabilities "
                       f"within {TOLERANCE:g})", labels=labels, rows_checked=len(rows), seconds=_rounded(seconds))


def _convert(estimator, n_columns: int) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    options = {id(estimator): {"zipmap": False}} if hasattr(estimator, "predict_proba") else None
    model = convert_sklearn(estimator, initial_types=[("X", FloatTensorType([None, n_columns]))], options=options)
    return model.SerializeToString()


def check_rows(signature: dict, example: dict | None, profile: dict | None):
    """The rows the ONNX model must agree on: the input example plus rows from the profile samples."""
    import numpy as np
    import pandas as pd

    columns = [i["name"] for i in signature["inputs"]]
    frames = []
    if example and example.get("data"):
        frames.append(pd.DataFrame(example["data"], columns=example["columns"])[columns])
    samples = [((profile or {}).get("columns", {}).get(c) or {}).get("sample") for c in columns]
    if all(samples):
        rng = np.random.default_rng(0)
        n = min(PROFILE_ROWS, max(len(s) for s in samples))
        aligned = [np.resize(np.asarray(s, dtype="float64"), n) for s in samples]
        frames.append(pd.DataFrame(np.column_stack(aligned), columns=columns))
        frames.append(pd.DataFrame(np.column_stack([rng.permutation(a) for a in aligned]), columns=columns))
        gaps = [j for j, c in enumerate(columns) if (profile["columns"][c].get("missing") or 0) > 0]
        if gaps:  # the training data had missing values there: ONNX must route them as scikit-learn does
            holes = np.column_stack(aligned)
            for j in gaps:
                holes[(np.arange(n) + j) % 3 == 0, j] = np.nan
            frames.append(pd.DataFrame(holes, columns=columns))
    if not frames:
        return pd.DataFrame(columns=columns)
    rows = pd.concat(frames, ignore_index=True)
    return rows.astype({i["name"]: i["dtype"] for i in signature["inputs"]})


def compare(estimator, onnx_bytes: bytes, signature: dict, rows) -> tuple[str | None, str | None]:
    """``(None, label mode)`` when ONNX agrees with ``estimator`` on ``rows``, else ``(why, None)``."""
    import numpy as np

    from .engines import OnnxRuntime, SklearnRuntime

    if len(rows) == 0:
        return "nothing to check it on: the package has neither an input example nor a reference profile", None
    onnx = OnnxRuntime(onnx_bytes, signature, labels="onnx")
    sklearn = SklearnRuntime(estimator, signature)
    try:
        raw = onnx.run(rows)
    except Exception as exc:  # noqa: BLE001 - ONNX Runtime's own error types; becomes the package's note
        return f"ONNX Runtime cannot run the converted model: {type(exc).__name__}: {_first_line(exc)}", None
    try:
        expected = np.asarray(sklearn.predict(rows))
    except Exception as exc:  # noqa: BLE001 - e.g. a model fitted on other data than its logged training data
        return f"scikit-learn cannot predict the check rows: {type(exc).__name__}: {_first_line(exc)}", None
    if signature.get("task") != "classification" or not hasattr(estimator, "predict_proba"):
        got = raw[0].reshape(expected.shape)
        worst = float(np.max(np.abs(got - expected) / np.maximum(1.0, np.abs(expected)))) if expected.size else 0.0
        return (None, None) if worst <= TOLERANCE else (f"predictions differ by up to {worst:.3g} (relative)", None)
    probabilities = raw[1]
    worst = float(np.max(np.abs(probabilities - sklearn.predict_proba(rows))))
    if worst > TOLERANCE:
        return f"probabilities differ by up to {worst:.3g} (allowed {TOLERANCE:g})", None
    if np.array_equal(raw[0], expected):
        return None, "onnx"
    # float32 sums turn scikit-learn's exact ties (e.g. 50 of 100 trees each way) into 0.49999994
    # against 0.50000006; scikit-learn picks the first class, and so does "argmax".
    if np.array_equal(OnnxRuntime.argmax_labels(probabilities, signature["classes"]), expected):
        return None, "argmax"
    wrong = int(np.sum(raw[0] != expected))
    return f"labels differ on {wrong} of {len(rows)} rows", None


def _kind(dtype: str) -> str:
    import numpy as np

    try:
        return np.dtype(dtype).kind
    except TypeError:
        return "O"


def _read_json(path: Path):
    return json.loads(path.read_text()) if path.is_file() else None


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:300]


def _rounded(seconds: dict) -> dict:
    return {k: round(v, 4) for k, v in seconds.items()}
