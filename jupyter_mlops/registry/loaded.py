"""A loaded model package: the estimator behind one ``predict`` that checks its input first.

Input is checked against the package's signature before the model sees it, so a caller gets
"column 'age' is missing" rather than a scikit-learn stack trace, and the message never echoes
the data back (it may be personal).

Every file the model is built from is read once and checked against the MANIFEST the registry
vouches for, and built from those very bytes: ``load_model`` verifies the folder first, and a
file swapped in after that check is refused here rather than loaded unverified.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..exceptions import InputSchemaError, InvalidInputError, PackageVerificationError
from .manifest import MANIFEST, listed_digests


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
        if record is None:
            raise PackageVerificationError(f"{folder}: not registered in this store; refusing to load it", "package.json")
        files = VerifiedFiles(folder, record)
        info = json.loads(files.read("package.json"))
        estimator = _load_estimator(files, record, unsafe_pickle)
        read = files.json

        from ..runtimes.engines import choose

        lineage = read("lineage.json") or {}
        signature = read("model/signature.json") or {"inputs": [], "outputs": []}
        engine, note = choose(files.read, info, estimator, signature, runtime)
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


class VerifiedFiles:
    """A package's files, each read once and checked against the MANIFEST whose digest the registry holds."""

    def __init__(self, folder: Path, record: dict):
        self.folder, self.ref = folder, record["ref"]
        data = self._read(MANIFEST)
        digest = hashlib.sha256(data).hexdigest()
        if digest != record["manifest_digest"]:
            raise self._refused(MANIFEST, f"digest {digest[:12]} differs from the registry's "
                                          f"{record['manifest_digest'][:12]} for {self.ref}")
        self.digests = listed_digests(data)

    def read(self, rel: str) -> bytes:
        """The bytes of ``rel``, refused unless they are the ones MANIFEST lists."""
        if rel not in self.digests:
            raise self._refused(rel, "not listed in MANIFEST")
        data = self._read(rel)
        if hashlib.sha256(data).hexdigest() != self.digests[rel]:
            raise self._refused(rel, "content differs from its sha256 in MANIFEST")
        return data

    def json(self, rel: str):
        """An optional JSON file of the package, or ``None`` when it has none."""
        return json.loads(self.read(rel)) if rel in self.digests else None

    def _read(self, rel: str) -> bytes:
        try:
            return (self.folder / rel).read_bytes()
        except OSError as exc:
            raise self._refused(rel, f"cannot be read ({exc.strerror or exc})") from None

    def _refused(self, rel: str, why: str) -> PackageVerificationError:
        return PackageVerificationError(f"package {self.ref} failed verification: {rel}: {why}", rel)


def _load_estimator(files: VerifiedFiles, record: dict, unsafe_pickle: bool):
    if record["model_format"] == "skops":
        import skops.io as sio

        trusted = record["trusted_types"]
        data = files.read("model/model.skops")
        needed = sio.get_untrusted_types(data=data)
        extra = sorted(set(needed) - set(trusted))
        if extra:
            raise PackageVerificationError(f"model/model.skops: holds types the registry does not trust for "
                                           f"{record['ref']}: {', '.join(extra)}", "model/model.skops")
        return sio.loads(data, trusted=trusted)
    if record["model_format"] == "pickle":
        if not unsafe_pickle:
            raise PackageVerificationError(f"{record['ref']} holds a pickle model; loading it can run arbitrary code. "
                                           "Pass unsafe_pickle=True only if you trust whoever made it", "model/model.pkl")
        import pickle

        return pickle.loads(files.read("model/model.pkl"))
    raise PackageVerificationError(f"{record['ref']}: unknown model format {record['model_format']!r}", "package.json")
