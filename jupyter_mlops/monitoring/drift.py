"""Data drift of current data against a reference profile, with Evidently's default test per column.

Reference with at most 1000 values in a column: KS (numerical), chi-square (categorical), Z-test
(at most two values), drift when p < 0.05 (KS: p <= 0.05, as Evidently). Larger reference:
Wasserstein distance normalised by the std (numerical with more than 5 distinct values) or
Jensen-Shannon distance, drift when the distance >= 0.1. The dataset drifts when at least half
of the tested columns do. ``stattests.py`` says exactly what each statistic is computed on.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

import pandas as pd

from ..exceptions import InvalidInputError
from ..tracking.profile import as_profile, column_kind
from . import stattests
from .sources import CHUNK_ROWS, iter_chunks
from .summaries import CategoricalSummary, NumericalSummary

P_VALUE_TESTS = ("ks", "chisquare", "z")
NOT_ENOUGH_DATA = "not enough data"
MISSING = "missing"


@dataclass(frozen=True)
class DriftThresholds:
    """Evidently's defaults; change any of them per call."""

    p_value: float = 0.05
    wasserstein: float = 0.1
    jensenshannon: float = 0.1
    drift_share: float = 0.5
    small_reference_rows: int = 1000

    def for_test(self, test: str) -> float:
        return self.p_value if test in P_VALUE_TESTS else getattr(self, test)


@dataclass
class ColumnDrift:
    """The verdict on one column: ``status`` is "drift", "ok", "not enough data", "skipped" or
    "missing" (a column of the reference absent from the current data: a failed check, since the
    model cannot score such data)."""

    column: str
    kind: str
    status: str
    test: str | None = None
    statistic: float | None = None
    p_value: float | None = None
    threshold: float | None = None
    reason: str = ""
    reference_count: int = 0
    current_count: int = 0
    current_missing: float | None = None
    summary: object = field(default=None, repr=False, compare=False)

    @property
    def drifted(self) -> bool:
        return self.status == "drift"

    @property
    def score(self) -> float | None:
        """The number compared with the threshold: the p-value of a test, else the distance."""
        return self.p_value if self.test in P_VALUE_TESTS else self.statistic

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "summary"}


@dataclass
class DriftResult:
    """Per-column verdicts plus the dataset verdict; ``dataset_drift`` is None when nothing was tested."""

    columns: list[ColumnDrift]
    thresholds: DriftThresholds
    reference_rows: int
    current_rows: int
    performance: dict | None = None
    reference_label: str = "profile"
    run_id: str | None = None  # the monitoring run, when the result was recorded

    @property
    def tested(self) -> list[ColumnDrift]:
        return [c for c in self.columns if c.status in ("drift", "ok")]

    @property
    def missing_columns(self) -> list[str]:
        """Reference columns absent from the current data: a failed check, whatever the drift verdict."""
        return [c.column for c in self.columns if c.status == MISSING]

    @property
    def ok(self) -> bool:
        """No failed check: every column was present (drift itself is judged by ``dataset_drift``)."""
        return not self.missing_columns

    @property
    def drifted_columns(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    @property
    def drift_share(self) -> float | None:
        tested = self.tested
        return len(self.drifted_columns) / len(tested) if tested else None

    @property
    def dataset_drift(self) -> bool | None:
        share = self.drift_share
        return None if share is None else share >= self.thresholds.drift_share

    def __getitem__(self, column: str) -> ColumnDrift:
        for item in self.columns:
            if item.column == column:
                return item
        raise KeyError(column)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([c.to_dict() for c in self.columns])

    def to_dict(self) -> dict:
        return {
            "dataset_drift": self.dataset_drift,
            "drift_share": self.drift_share,
            "drifted_columns": self.drifted_columns,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "reference": self.reference_label,
            "thresholds": asdict(self.thresholds),
            "columns": [c.to_dict() for c in self.columns],
            "performance": self.performance,
        }

    def metrics(self) -> dict[str, float]:
        """Flat numbers to log on a run: shares, counts and each column's statistic."""
        values = {"drift.share": self.drift_share, "drift.drifted_columns": len(self.drifted_columns),
                  "drift.tested_columns": len(self.tested), "drift.current_rows": self.current_rows}
        for column in self.tested:
            values[f"drift.{column.column}.{column.test}"] = column.statistic
            if column.p_value is not None:
                values[f"drift.{column.column}.p_value"] = column.p_value
        for key, value in (self.performance or {}).get("current", {}).items():
            values[f"performance.{key}"] = value
        for key, value in (self.performance or {}).get("change", {}).items():
            values[f"performance.{key}_change"] = value
        from ..tracking.run import MAX_KEY_LENGTH

        # a column name too long for a metric key still has its numbers in the drift.json artifact
        return {key: float(value) for key, value in values.items()
                if value is not None and math.isfinite(value) and len(key) <= MAX_KEY_LENGTH}

    def describe(self) -> str:
        """Plain-text summary: the verdict, then one line per column."""
        if self.dataset_drift is None:
            head = "not enough data to decide"
        else:
            head = (f"{'DATASET DRIFT' if self.dataset_drift else 'no dataset drift'}: {len(self.drifted_columns)} of "
                    f"{len(self.tested)} tested columns drifted ({self.drift_share:.0%})")
        lines = [f"{head}; reference {self.reference_label} ({self.reference_rows} rows), current {self.current_rows} rows"]
        if self.missing_columns:
            lines.insert(0, f"FAILED CHECK: {len(self.missing_columns)} column(s) of the reference missing from the "
                            f"current data: {', '.join(self.missing_columns)}")
        for c in self.columns:
            number = "" if c.score is None else f"{'p' if c.test in P_VALUE_TESTS else 'd'}={c.score:.4g}"
            lines.append(f"  {c.column:24s} {c.status:15s} {c.test or '':13s} {number:12s} {c.reason}".rstrip())
        performance = self.performance or {}
        for name, value in performance.get("current", {}).items():
            change = performance["change"].get(name)
            lines.append(f"  performance {name} = {value:.4g}" + ("" if change is None else f" ({change:+.4g} vs reference)"))
        if performance and performance.get("status") != "ok":
            lines.append(f"  performance: {performance.get('status')}")
        if self.run_id:
            lines.append(f"recorded as monitoring run {self.run_id}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from .report import render_html

        return render_html(self, full_page=False)

    def __repr__(self) -> str:
        share = "n/a" if self.drift_share is None else f"{self.drift_share:.0%}"
        return (f"DriftResult(dataset_drift={self.dataset_drift}, drift_share={share}, "
                f"drifted={self.drifted_columns})")


def detect_drift(reference, current, *, columns: list[str] | None = None, thresholds: DriftThresholds | None = None,
                 chunk_rows: int = CHUNK_ROWS) -> DriftResult:
    """Compare ``current`` (DataFrame, CSV/Parquet path or chunks) with a reference profile, column by column.

    ``columns`` defaults to every profiled column except the target. Problems with a column
    (missing, wrong type, no values) give that column a "not enough data" or "skipped" verdict
    with the reason, never an exception, so one bad column does not hide the others.
    """
    profile = as_profile(reference)
    thresholds = thresholds or DriftThresholds()
    names = _columns(profile, columns)
    summaries, problems = {}, {}
    rows, chunks = 0, 0
    for chunk in iter_chunks(current, chunk_rows):
        chunk = chunk.rename(columns=str)
        rows, chunks = rows + len(chunk), chunks + 1
        for name in names:
            if name in problems:
                continue
            if name not in chunk.columns:
                problems[name] = (MISSING, "column missing from the current data")
                continue
            reference_column = profile["columns"][name]
            problem = _type_problem(reference_column, chunk[name])
            if problem:
                problems[name] = ("skipped", problem)
                continue
            if name not in summaries:
                summaries[name] = _summary(reference_column, thresholds)
            summaries[name].update(chunk[name])
    if not chunks:  # an iterable with no chunks at all
        problems = {name: (NOT_ENOUGH_DATA, "the current data has no rows") for name in names}
    results = [_verdict(name, profile["columns"][name], summaries.get(name), problems.get(name), thresholds)
               for name in names]
    return DriftResult(results, thresholds, profile.get("rows", 0), rows)


def _columns(profile: dict, columns) -> list[str]:
    if columns is None:
        return [name for name in profile["columns"] if name != profile.get("target")]
    unknown = [name for name in columns if name not in profile["columns"]]
    if unknown:
        raise InvalidInputError(f"columns {unknown} are not in the reference profile (it has {list(profile['columns'])})")
    return list(columns)


def _type_problem(reference_column: dict, series: pd.Series) -> str | None:
    kind = column_kind(series)
    expected = reference_column["kind"]
    if expected == "datetime":
        return "datetime columns are not tested for drift"
    if expected == "numerical" and kind != "numerical":
        if series.isna().all():
            return None  # an all-missing chunk reads as object/float: no values either way
        return f"reference is numerical ({reference_column['dtype']}), current is {series.dtype}"
    return None


def _summary(reference_column: dict, thresholds: DriftThresholds):
    if reference_column["kind"] == "numerical":
        return NumericalSummary(reference_column, reference_column["count"] <= thresholds.small_reference_rows)
    return CategoricalSummary(reference_column)


def _verdict(name: str, reference_column: dict, summary, problem, thresholds: DriftThresholds) -> ColumnDrift:
    result = ColumnDrift(name, reference_column["kind"], "skipped", reference_count=reference_column.get("count", 0),
                         summary=summary)
    if problem:
        result.status, result.reason = problem
        return result
    if summary is None:
        result.status, result.reason = NOT_ENOUGH_DATA, "the current data has no rows"
        return result
    result.current_count = summary.count
    result.current_missing = 1 - summary.count / summary.rows if summary.rows else None
    if reference_column.get("count", 0) == 0:
        result.status, result.reason = NOT_ENOUGH_DATA, "the reference has no values in this column"
        return result
    if summary.count == 0:
        result.status = NOT_ENOUGH_DATA
        result.reason = "the current data has no rows" if summary.rows == 0 else "every current value is missing"
        return result
    test = stattests.choose_test(summary.kind, reference_column["count"], summary.n_values(),
                                 thresholds.small_reference_rows)
    if test == "ks" and summary.ref_values is None:
        result.status, result.reason = NOT_ENOUGH_DATA, "the profile's sample does not hold every reference value"
        return result
    statistic, p_value = stattests.run_test(test, summary)
    threshold = thresholds.for_test(test)
    if test == "ks":
        drifted = p_value <= threshold
    elif test in P_VALUE_TESTS:
        drifted = p_value < threshold
    else:
        drifted = statistic >= threshold
    result.test, result.statistic, result.p_value, result.threshold = test, statistic, p_value, threshold
    result.status = "drift" if drifted else "ok"
    return result
