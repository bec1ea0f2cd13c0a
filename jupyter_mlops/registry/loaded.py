"""A loaded model package: the estimator behind one ``predict`` that checks its input first.

Input is checked against the package's signature before the model sees it, so a caller gets
"column 'age' is missing" rather than a scikit-learn stack trace, and the message never echoes
the data back (it may be personal).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..exceptions import InputSchemaError, InvalidInputError, PackageVerificationError


@dataclass(repr=False)
class PackagedModel:
    name: str | None
    version: int | None
    path: str
    estimator: object
    signature: dict
    lineage: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    reference_profile: dict | None = None
    input_example: dict | None = None
    runtime: str = "sklearn"
    runtime_note: str | None = None
    engine: object = field(default=None, repr=False)  # runtimes.engines: scikit-learn or ONNX Runtime

    @classmethod
    def open(cls, folder: Path, record: dict | None, runtime: str | None = None, unsafe_pickle: bool = False):
        """Load from a verified ``folder``; the trusted types come from the registry ``record`` only."""
        info = json.loads((folder / "package.json").read_text())
        estimator = _load_estimator(folder, info, record, unsafe_pickle)

        def read(rel):
            path = folder / rel
            return json.loads(path.read_text()) if path.is_file() else None

        from ..runtimes.engines import choose

        lineage = read("lineage.json") or {}
        signature = read("model/signature.json") or {"inputs": [], "outputs": []}
        engine, note = choose(folder, info, estimator, signature, runtime)
        return cls(
            name=info["name"], version=info["version"], path=str(folder), estimator=estimator,
            signature=signature, lineage=lineage, metrics=lineage.get("metrics", {}),
            reference_profile=read("reference_profile.json"), input_example=read("model/input_example.json"),
            runtime=engine.name, runtime_note=note, engine=engine,
        )

    def __repr__(self) -> str:
        return (f"<PackagedModel {self.ref} {type(self.estimator).__name__} runtime={self.runtime} "
                f"inputs={len(self.input_columns)} path={self.path}>")

    @property
    def ref(self) -> str:
        return f"{self.name}/{self.version}"

    @property
    def input_columns(self) -> list[str]:
        return [i["name"] for i in self.signature.get("inputs", [])]

    def prepare(self, data, extra: str = "error"):
        """``data`` (DataFrame, records, array) as the DataFrame the model expects: columns in
        signature order and dtypes cast, or an ``InputSchemaError`` naming the column.

        ``extra``: what a column the signature does not have gets: ``"error"`` (a request to the
        REST API says exactly the features), or ``"ignore"`` (batch scoring of a file that also
        holds ids or the label: only the features are scored). Missing or mistyped features are
        errors either way."""
        import pandas as pd

        if extra not in ("error", "ignore"):
            raise ValueError(f"extra must be 'error' or 'ignore', got {extra!r}")

        from ..tracking.signature import as_frame

        if isinstance(data, list) and data and isinstance(data[0], dict):
            data = pd.DataFrame.from_records(data)
        frame = as_frame(data, self.input_columns or None)
        if not self.input_columns:
            return frame
        expected = set(self.input_columns)
        missing = [c for c in self.input_columns if c not in frame.columns]
        if missing:
            raise InputSchemaError(f"missing column {missing[0]!r}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""), missing[0])
        unknown = [str(c) for c in frame.columns if c not in expected]
        if unknown and extra == "error":
            raise InputSchemaError(f"unknown column {unknown[0]!r}; the model takes {len(expected)} columns", unknown[0])
        frame = frame[self.input_columns]
        casts = {}
        for spec in self.signature["inputs"]:
            column, dtype = spec["name"], spec["dtype"]
            if str(frame[column].dtype) != dtype:
                casts[column] = _cast(frame[column], dtype)
        return frame.assign(**casts) if casts else frame

    def predict(self, data):
        return self.engine.predict(self.prepare(data))

    def predict_proba(self, data):
        if not self.engine.has_proba:
            raise InvalidInputError(f"model {self.ref} ({type(self.estimator).__name__}) has no predict_proba")
        return self.engine.predict_proba(self.prepare(data))


def _cast(series, dtype: str):
    """Cast a column to the signature's dtype; only lossless numeric widening and parsing of
    numbers are accepted, so "abc" for a float column is refused instead of becoming NaN."""
    import numpy as np
    import pandas as pd

    name = str(series.name)
    target = np.dtype(dtype) if dtype not in ("string", "category") else None
    if target is None or target.kind not in "biuf":
        return series.astype(dtype)
    if not pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        converted = pd.to_numeric(series, errors="coerce")
        if (converted.isna() & series.notna()).any():
            raise InputSchemaError(f"column {name!r} must be {dtype}; it holds non-numeric values", name)
        series = converted
    if series.dtype.kind == "b" and target.kind != "b":
        raise InputSchemaError(f"column {name!r} must be {dtype}, got booleans", name)
    if target.kind in "iu":
        if series.isna().any():
            raise InputSchemaError(f"column {name!r} must be {dtype}; it has missing values", name)
        if series.dtype.kind == "f" and not np.all(np.mod(series.to_numpy(), 1) == 0):
            raise InputSchemaError(f"column {name!r} must be {dtype}, got fractional numbers", name)
    if series.dtype.kind not in "biuf":
        raise InputSchemaError(f"column {name!r} must be {dtype}, got {series.dtype}", name)
    return series.astype(target)


def _load_estimator(folder: Path, info: dict, record: dict | None, unsafe_pickle: bool):
    if record is None:
        raise PackageVerificationError(f"{folder}: not registered in this store; refusing to load it", "package.json")
    if record["model_format"] == "skops":
        import skops.io as sio

        trusted = record["trusted_types"]
        needed = sio.get_untrusted_types(file=str(folder / "model/model.skops"))
        extra = sorted(set(needed) - set(trusted))
        if extra:
            raise PackageVerificationError(f"model/model.skops: holds types the registry does not trust for "
                                           f"{record['ref']}: {', '.join(extra)}", "model/model.skops")
        return sio.load(folder / "model/model.skops", trusted=trusted)
    if record["model_format"] == "pickle":
        if not unsafe_pickle:
            raise PackageVerificationError(f"{record['ref']} holds a pickle model; loading it can run arbitrary code. "
                                           "Pass unsafe_pickle=True only if you trust whoever made it", "model/model.pkl")
        import pickle

        with open(folder / "model/model.pkl", "rb") as fh:
            return pickle.load(fh)  # noqa: S301 - explicit, documented opt-in
    raise PackageVerificationError(f"{record['ref']}: unknown model format {record['model_format']!r}", "package.json")
