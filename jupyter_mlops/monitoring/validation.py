"""Data validation: does new data still look like the data the model was trained on?

Checks schema (missing / unknown columns, column types), missing shares and value ranges /
categories against a reference profile, and lists every failure by column and rule rather than
stopping at the first, so one run shows everything to fix.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..exceptions import InvalidInputError
from ..tracking.profile import as_profile, category_key, column_kind
from .sources import read_all

RULES = ("not enough data", "missing column", "unknown column", "dtype", "missing share", "range", "unseen category")
EXAMPLES = 5


class DataValidationError(InvalidInputError):
    """Data failed validation against a profile; ``result`` holds every failure."""

    def __init__(self, result: ValidationResult, source: str = "data"):
        self.result = result
        super().__init__(f"{source} failed validation:\n" + result.describe())


@dataclass(frozen=True)
class ValidationFailure:
    column: str | None
    rule: str
    message: str

    def __str__(self) -> str:
        where = f"column {self.column!r}" if self.column is not None else "data"
        return f"{where}: {self.rule}: {self.message}"


@dataclass
class ValidationResult:
    rows: int
    columns: list[str]
    failures: list[ValidationFailure] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def __bool__(self) -> bool:
        return self.passed

    def describe(self) -> str:
        if self.passed:
            return f"passed: {self.rows} rows, {len(self.columns)} columns"
        return "\n".join(f"- {failure}" for failure in self.failures)

    def raise_for_failures(self, source: str = "data") -> ValidationResult:
        if self.failures:
            raise DataValidationError(self, source)
        return self

    def to_dict(self) -> dict:
        return {"passed": self.passed, "rows": self.rows, "columns": self.columns,
                "failures": [{"column": f.column, "rule": f.rule, "message": f.message} for f in self.failures]}

    def __repr__(self) -> str:
        return f"ValidationResult(passed={self.passed}, failures={len(self.failures)})"

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.passed else "#cf222e"
        head = (f'<p><b style="color:{colour}">{"Passed" if self.passed else "Failed"}</b>: '
                f"{self.rows} rows, {len(self.columns)} columns, {len(self.failures)} failure(s)</p>")
        if self.passed:
            return head
        rows = "".join(f"<tr><td>{html.escape(str(f.column or ''))}</td><td>{html.escape(f.rule)}</td>"
                       f"<td>{html.escape(f.message)}</td></tr>" for f in self.failures)
        return (head + '<table><thead><tr><th>column</th><th>rule</th><th>problem</th></tr></thead>'
                f"<tbody>{rows}</tbody></table>")


def validate(data, against, *, missing_margin: float = 0.05, range_margin: float = 0.0,
             allow_unknown_columns: bool = False, require_target: bool = False) -> ValidationResult:
    """Check ``data`` (DataFrame or CSV/Parquet path) against a profile dict or profile JSON path.

    ``missing_margin``: how much the missing share may exceed the reference's (0.05 = 5 points).
    ``range_margin``: how far beyond the reference min/max values may go, as a share of its range.
    """
    profile = as_profile(against)
    df = (data if isinstance(data, pd.DataFrame) else read_all(data)).rename(columns=str)
    result = ValidationResult(rows=len(df), columns=list(df.columns))
    fail = result.failures.append
    reference = profile["columns"]
    if len(df) == 0:
        fail(ValidationFailure(None, "not enough data", "the data has no rows"))
    target = profile.get("target")
    for name, column in reference.items():
        if name not in df.columns:
            if name != target or require_target:
                fail(ValidationFailure(name, "missing column", f"expected a {column['kind']} column ({column['dtype']})"))
            continue
        if len(df):
            for failure in _check_column(name, column, df[name], missing_margin, range_margin):
                fail(failure)
    if not allow_unknown_columns:
        for name in df.columns:
            if name not in reference:
                fail(ValidationFailure(name, "unknown column", "not in the reference data"))
    return result


def _check_column(name: str, reference: dict, series: pd.Series, missing_margin: float, range_margin: float):
    kind = column_kind(series)
    all_missing = bool(series.isna().all())
    boolean_changed = pd.api.types.is_bool_dtype(series.dtype) != (reference["dtype"] in ("bool", "boolean"))
    if (kind != reference["kind"] or boolean_changed) and not all_missing:
        yield ValidationFailure(name, "dtype", f"expected {reference['dtype']} ({reference['kind']}), got {series.dtype} ({kind})")
        return
    missing = float(series.isna().mean())
    if missing > reference["missing"] + missing_margin:
        yield ValidationFailure(name, "missing share", f"{missing:.1%} missing, reference {reference['missing']:.1%} "
                                                       f"(+{missing_margin:.1%} allowed)")
    if all_missing:
        return
    if reference["kind"] == "numerical":
        yield from _check_range(name, reference, series, range_margin)
    elif reference["kind"] == "categorical":
        yield from _check_categories(name, reference, series)


def _check_range(name: str, reference: dict, series: pd.Series, margin: float):
    if reference.get("min") is None:
        return
    values = series.to_numpy(dtype="float64", na_value=np.nan)
    values = values[~np.isnan(values)]
    if str(reference["dtype"]).lower().startswith(("int", "uint")) and not np.all(values == np.round(values)):
        yield ValidationFailure(name, "dtype", f"expected whole numbers ({reference['dtype']}), got fractions")
    low, high = reference["min"], reference["max"]
    slack = margin * (high - low)
    outside = values[(values < low - slack) | (values > high + slack)]
    if outside.size:
        shown = ", ".join(f"{v:g}" for v in np.unique(outside)[:EXAMPLES])
        yield ValidationFailure(name, "range", f"{outside.size} value(s) outside the reference range [{low:g}, {high:g}]"
                                               f"{f' +{margin:.0%}' if margin else ''}: {shown}")


def _check_categories(name: str, reference: dict, series: pd.Series):
    if reference.get("other"):
        return  # the reference kept only its top categories: rarer ones cannot be told from new ones
    known = {value for value, _ in reference["frequencies"]}
    unseen = [key for key in map(category_key, series.dropna().unique()) if key not in known]
    if unseen:
        shown = ", ".join(repr(v) for v in sorted(unseen, key=str)[:EXAMPLES])
        yield ValidationFailure(name, "unseen category", f"{len(unseen)} value(s) not in the reference: {shown}")


def gate_message(data: str, against: str, **margins) -> str | None:
    """A pipeline step's ``validate:`` gate: None when ``data`` passes, else why the step fails."""
    try:
        result = validate(data, against, **margins)
    except InvalidInputError as exc:
        return f"validation could not run: {exc}"
    if result.passed:
        return None
    return f"{data} failed validation against {against}:\n{result.describe()}"
