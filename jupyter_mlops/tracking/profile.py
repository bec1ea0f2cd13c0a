"""Reference profile: what monitoring needs to know about the training data, in a few KB of JSON.

The profile is stored inside a model package and compared with new data later, long after the
training data may be gone. Its size is bounded by the number of columns, never by the rows:

* numerical columns keep summary statistics, a fixed-bin histogram (counts *and* per-bin sums,
  so drift can place each bin's mass at its mean, see ``monitoring/drift.py``), the value frequencies when
  there are few distinct values, and a seeded random sample of at most ``sample_size`` values.
  The sample bound (1000) equals the largest reference Evidently tests with KS / chi-square, so
  for such small references the sample holds every value and those tests are exact.
* categorical and boolean columns keep the top-K value frequencies plus one "other" count.

Written and read as JSON only: a profile comes with a package that may be untrusted.

It lives in tracking, below monitoring: it is taken when a model is logged (``tracking/models.py``,
the one moment the training data is at hand), like the signature beside it, and it needs nothing
but numpy and pandas. Monitoring (drift, validation, reports) only reads it. Passing the profile
into ``log_model`` instead would move the same call into every caller of that public API.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..exceptions import InvalidInputError

PROFILE_VERSION = 1
SAMPLE_SIZE = 1000
HISTOGRAM_BINS = 500
TOP_K = 100
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
N_UNIQUE_CAP = 100_000


def column_kind(series: pd.Series) -> str:
    """``numerical``, ``categorical`` (strings, categories, booleans) or ``datetime``."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "categorical"
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        return "datetime"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numerical"
    return "categorical"


def category_key(value):
    """One JSON-stable spelling per category: booleans stay booleans, anything else becomes text."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    return str(value)


def profile_dataframe(df: pd.DataFrame, *, target: str | None = None, sample_size: int = SAMPLE_SIZE,
                      bins: int = HISTOGRAM_BINS, top_k: int = TOP_K, seed: int = 0) -> dict:
    """Summarise ``df`` into a JSON-serialisable reference profile for validation and drift."""
    if not isinstance(df, pd.DataFrame):
        raise InvalidInputError(f"profile_dataframe needs a pandas DataFrame, got {type(df).__name__}")
    if target is not None and target not in df.columns:
        raise InvalidInputError(f"target column {target!r} is not in the data (columns: {list(df.columns)})")
    names = [str(name) for name in df.columns]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise InvalidInputError(f"column names must be unique; repeated: {duplicated}")
    rng = np.random.default_rng(seed)
    columns = {}
    for name in df.columns:
        series = df[name]
        kind = column_kind(series)
        if kind == "numerical":
            columns[str(name)] = _numerical(series, sample_size, bins, top_k, rng)
        elif kind == "categorical":
            columns[str(name)] = _categorical(series, top_k)
        else:
            columns[str(name)] = _datetime(series)
    return {
        "version": PROFILE_VERSION,
        "rows": len(df),
        "target": None if target is None else str(target),
        "dtypes": {name: column["dtype"] for name, column in columns.items()},
        "columns": columns,
    }


def _base(series: pd.Series, kind: str, present: int) -> dict:
    rows = len(series)
    return {
        "kind": kind,
        "dtype": str(series.dtype),
        "count": int(present),
        "missing": float((rows - present) / rows) if rows else 0.0,
    }


def _float(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _numerical(series: pd.Series, sample_size: int, bins: int, top_k: int, rng) -> dict:
    raw = series.to_numpy(dtype="float64", na_value=np.nan)
    infinite = int(np.isinf(raw).sum())
    values = raw[np.isfinite(raw)]  # +-inf count as missing: they have no place on a histogram
    column = _base(series, "numerical", values.size)
    column["infinite"] = infinite
    if values.size == 0:
        column.update(mean=None, std=None, min=None, max=None, quantiles={}, n_unique=0,
                      n_unique_capped=False, histogram=None, frequencies=None, sample=[], sample_complete=True)
        return column
    distinct, counts = np.unique(values, return_counts=True)
    low, high = float(distinct[0]), float(distinct[-1])
    column.update(
        mean=_float(values.mean()),
        std=_float(values.std()),  # ddof=0, as Evidently normalises the Wasserstein distance
        min=low,
        max=high,
        quantiles={str(q): float(v) for q, v in zip(QUANTILES, np.quantile(values, QUANTILES))},
        n_unique=int(min(distinct.size, N_UNIQUE_CAP)),
        n_unique_capped=bool(distinct.size > N_UNIQUE_CAP),
        histogram=_histogram(values, low, high, bins),
        frequencies=[[float(v), int(c)] for v, c in zip(distinct, counts)] if distinct.size <= top_k else None,
    )
    if values.size <= sample_size:
        sample = values
    else:
        sample = rng.choice(values, size=sample_size, replace=False)
    column["sample"] = np.sort(sample).tolist()
    column["sample_complete"] = bool(values.size <= sample_size)
    return column


def histogram_edges(histogram: dict) -> np.ndarray:
    """The bin edges of a profile histogram: equal-width bins from the reference min to max."""
    return np.linspace(histogram["min"], histogram["max"], len(histogram["counts"]) + 1)


def _histogram(values: np.ndarray, low: float, high: float, bins: int) -> dict:
    if low == high:
        bins = 1
    edges = np.linspace(low, high, bins + 1)
    # Bin i holds edges[i] <= x < edges[i + 1], the last bin also its right edge: np.histogram's rule.
    index = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    sums = np.bincount(index, weights=values, minlength=bins)
    return {"min": low, "max": high, "counts": counts.tolist(), "sums": sums.tolist()}


def _categorical(series: pd.Series, top_k: int) -> dict:
    counts = series.value_counts(dropna=True, sort=False)
    merged: dict = {}
    for value, count in counts.items():
        key = category_key(value)
        merged[key] = merged.get(key, 0) + int(count)
    column = _base(series, "categorical", sum(merged.values()))
    ranked = sorted(merged.items(), key=lambda item: (-item[1], str(item[0])))
    kept = ranked[:top_k]
    column.update(
        n_unique=len(ranked),
        frequencies=[[value, count] for value, count in kept],
        other=int(sum(count for _, count in ranked[top_k:])),
        other_unique=max(0, len(ranked) - top_k),
    )
    return column


def _datetime(series: pd.Series) -> dict:
    present = series.dropna()
    column = _base(series, "datetime", len(present))
    column.update(min=str(present.min()) if len(present) else None, max=str(present.max()) if len(present) else None)
    return column


def save_profile(profile: dict, path) -> Path:
    """Write ``profile`` as JSON (strict: no NaN or infinity) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(profile, allow_nan=False, separators=(",", ":")), encoding="utf-8")
    return path


def load_profile(path) -> dict:
    """Read a profile written by ``save_profile``; a damaged or foreign file is named in the error."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"cannot read profile {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InvalidInputError(f"{path}: not a JSON profile (binary content)") from None
    try:
        profile = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{path}: not a JSON profile (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    check_profile(profile, source=str(path))
    return profile


def check_profile(profile, source: str = "profile") -> dict:
    """Fail clearly when ``profile`` is not a profile this version understands."""
    if not isinstance(profile, dict) or not isinstance(profile.get("columns"), dict):
        raise InvalidInputError(f"{source}: not a jupyter_mlops profile (no 'columns' mapping)")
    version = profile.get("version")
    if version != PROFILE_VERSION:
        raise InvalidInputError(f"{source}: profile version {version!r} is not supported (expected {PROFILE_VERSION})")
    for name, column in profile["columns"].items():
        if not isinstance(column, dict) or column.get("kind") not in ("numerical", "categorical", "datetime"):
            raise InvalidInputError(f"{source}: column {name!r} has no valid 'kind'")
    return profile


def as_profile(reference) -> dict:
    """A profile dict, or a path to one (JSON)."""
    if isinstance(reference, dict):
        return check_profile(reference)
    if isinstance(reference, str) or hasattr(reference, "__fspath__"):
        return load_profile(reference)
    raise InvalidInputError(f"reference must be a profile dict or a path to a profile JSON, got {type(reference).__name__}")
