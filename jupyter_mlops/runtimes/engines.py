"""One ``predict`` over two engines: the scikit-learn estimator, or ONNX Runtime on ``model.onnx``.

The engine is chosen when a package is opened. ``auto`` (what serving and batch scoring use):
ONNX Runtime when the package holds a checked ``model/model.onnx`` and onnxruntime imports,
scikit-learn otherwise, the reason kept as ``runtime_note`` and logged. ``sklearn`` (the default
of ``load_model`` in a notebook, which should give exactly the probabilities the notebook's own
model gives, not float32 ones within 1e-5). ``onnx``: ONNX Runtime or an error saying why not,
rather than a silent fallback.

Both engines take the input already checked against the signature: a DataFrame in signature
order, or (for all-numeric signatures, the serving fast path) a 2-D float array in that order.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from ..exceptions import InvalidInputError

RUNTIMES = ("sklearn", "onnx", "auto")
# ONNX sums in float32, so scikit-learn's exact ties come out ~1e-7 apart; within this they are
# ties again and, as in scikit-learn, the first class wins.
TIE = 1e-6
log = logging.getLogger("jupyter_mlops")


class SklearnRuntime:
    name = "sklearn"

    def __init__(self, estimator, signature: dict):
        self.estimator = estimator
        self.columns = [i["name"] for i in signature.get("inputs", [])]
        self.dtypes = [i["dtype"] for i in signature.get("inputs", [])]
        self.wants_frame = hasattr(estimator, "feature_names_in_")

    def _input(self, X):
        if isinstance(X, np.ndarray):
            if not self.wants_frame:
                return X
            import pandas as pd

            return pd.DataFrame({c: X[:, i].astype(d, copy=False)
                                 for i, (c, d) in enumerate(zip(self.columns, self.dtypes))})
        return X if self.wants_frame else X.to_numpy()

    @property
    def has_proba(self) -> bool:
        return hasattr(self.estimator, "predict_proba")

    def predict(self, X):
        return self.estimator.predict(self._input(X))

    def predict_proba(self, X):
        return self.estimator.predict_proba(self._input(X))


class OnnxRuntime:
    name = "onnx"

    def __init__(self, model: bytes, signature: dict, labels: str | None = "onnx", threads: int = 1):
        import onnxruntime as ort

        options = ort.SessionOptions()
        # One thread: a single row is done in microseconds, long before a thread pool would help.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.model, self.signature, self.labels = model, signature, labels or "onnx"
        self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.has_proba = len(self.session.get_outputs()) >= 2
        self.classes = np.asarray(signature.get("classes") or [])

    def with_threads(self, threads: int) -> OnnxRuntime:
        """The same model on a session with ``threads`` intra-op threads (0: ONNX Runtime's default)."""
        return OnnxRuntime(self.model, self.signature, self.labels, threads)

    def run(self, X) -> list:
        if not isinstance(X, np.ndarray):
            X = X.to_numpy(dtype=np.float32)
        elif X.dtype != np.float32:
            X = X.astype(np.float32)
        return self.session.run(None, {self.input_name: X})

    def predict(self, X):
        out = self.run(X)
        if not self.has_proba:
            values = out[0]
            return values[:, 0] if values.ndim == 2 and values.shape[1] == 1 else values
        if self.labels == "argmax":
            return self.argmax_labels(out[1], self.classes)
        return out[0]

    def predict_proba(self, X):
        if not self.has_proba:
            raise InvalidInputError("this model has no predict_proba")
        # float32 sums stray ~1e-7 outside [0, 1]; a probability never does.
        return np.clip(self.run(X)[1], 0.0, 1.0).astype(np.float64)

    @staticmethod
    def argmax_labels(probabilities, classes):
        """The first class whose probability is within ``TIE`` of the row's largest (scikit-learn's rule)."""
        top = probabilities >= probabilities.max(axis=1, keepdims=True) - TIE
        return np.asarray(classes)[np.argmax(top, axis=1)]


def choose(read: Callable[[str], bytes], info: dict, estimator, signature: dict, requested: str | None = None):
    """``(engine, note)`` for a package whose package.json is ``info``; ``read(rel)`` gives the bytes of its
    file ``rel`` as verified against the registry (it raises for a file changed since)."""
    if requested not in (None, *RUNTIMES):
        raise InvalidInputError(f"runtime must be one of {', '.join(RUNTIMES)}, got {requested!r}")
    sklearn = SklearnRuntime(estimator, signature)
    if requested in (None, "sklearn"):
        return sklearn, "scikit-learn" + ("" if requested else " (the default in process; runtime='auto' or 'onnx' "
                                                             "for ONNX Runtime)")
    onnx_info = info.get("onnx") or {}
    problem, engine = None, None
    if not onnx_info.get("file"):
        problem = f"the package has no ONNX model ({onnx_info.get('note') or 'exported without ONNX support'})"
    else:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            problem = "onnxruntime is not installed (pip install 'jupyter_mlops[onnx]')"
    if problem is None:
        model = read(onnx_info["file"])  # outside the try: a file changed since verification is refused, not skipped
        try:
            engine = OnnxRuntime(model, signature, onnx_info.get("labels"))
        except Exception as exc:  # noqa: BLE001 - a damaged file was caught by verify; this is an ONNX Runtime refusal
            problem = f"ONNX Runtime cannot load {onnx_info['file']}: {type(exc).__name__}: {str(exc)[:200]}"
    if problem is not None:
        if requested == "onnx":
            raise InvalidInputError(f"runtime 'onnx' is not available for {info.get('name')}/{info.get('version')}: "
                                    f"{problem}")
        log.warning("%s/%s runs on scikit-learn: %s", info.get("name"), info.get("version"), problem)
        return sklearn, f"scikit-learn: {problem}"
    return engine, f"ONNX Runtime on {onnx_info['file']}; {onnx_info.get('note', '')}".rstrip("; ")
