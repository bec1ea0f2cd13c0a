"""Approval gates over a run's metrics that the filter language cannot say.

``[tool.jupyter_mlops.approval] require`` rules are filter-language strings checked in SQL
(approval.py). Evaluations record one metric per slice (``slice.sex=F.recall``), so a gate
about every slice is an aggregate over a glob of metric keys, evaluated here against the run's
latest metrics rather than by widening the SQL grammar:

    min(slice.*.recall) >= 0.8
    max(slice.age_band=*.ece) < 0.05
    fairness.demographic_parity_difference <= 0.1      (a key of the evaluation's namespaces)

``*`` matches any characters, dots included; ``metrics.`` in front is allowed. A refusal names
the slice that decides it (the worst one) with its row count. Metrics that are undefined for a
slice (NaN: recall without positives) take no part; a glob that matches nothing fails the gate,
since a gate about slices that were never evaluated must not pass silently.
"""
from __future__ import annotations

import fnmatch
import math
import operator
import re
from dataclasses import dataclass

# Keys that evaluations record; a rule on one of these bare is a metric rule, not a run attribute.
from ..tracking.slice_keys import NAMESPACES, parse_slice_key

OPERATORS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
             "=": operator.eq, "==": operator.eq, "!=": operator.ne}
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_OP = r"<=|>=|==|!=|=|<|>"
_AGGREGATE = re.compile(rf"^\s*(min|max)\s*\(\s*(?:metrics\.)?(?P<glob>[^()\s]+)\s*\)\s*(?P<op>{_OP})\s*(?P<num>{_NUMBER})\s*$",
                        re.IGNORECASE)
_BARE = re.compile(rf"^\s*(?:metrics\.)?(?P<key>(?:{'|'.join(re.escape(n) for n in NAMESPACES)})[^\s<>!=]+(?:=[^\s<>!=]+)*)"
                   rf"\s*(?P<op>{_OP})\s*(?P<num>{_NUMBER})\s*$")


@dataclass
class MetricGate:
    """``min(glob) OP number``, ``max(glob) OP number``, or one key ``OP number``."""

    rule: str
    aggregate: str | None  # "min" | "max" | None (one key)
    pattern: str
    op: str
    threshold: float

    def failure(self, metrics: dict) -> str | None:
        """Why the run fails the gate (naming the deciding metric), or None when it passes."""
        found = {k: v for k, v in metrics.items() if _matches(k, self.pattern) and v is not None and not math.isnan(v)}
        if not found:
            what = "no metric matches" if self.aggregate else "the run has no metric"
            return (f"{what} {self.pattern!r}; evaluate the run with slices first "
                    "(mlops.evaluate(run, data, target=..., slices=[...]))")
        compare = OPERATORS[self.op]
        if self.aggregate is None:
            value = found[self.pattern]
            return None if compare(value, self.threshold) else f"{self.pattern} is {value:.4g}"
        pick = min if self.aggregate == "min" else max
        key = pick(found, key=lambda k: (found[k], k))
        if compare(found[key], self.threshold):
            return None
        failing = sorted(k for k, v in found.items() if not compare(v, self.threshold))
        return (f"{self.aggregate}({self.pattern}) is {found[key]:.4g} at {_describe(key, metrics)}; "
                f"{len(failing)} of {len(found)} fail {self.op} {self.threshold:g}"
                + (f" ({', '.join(_slice_of(k) for k in failing[:5])}{', ...' if len(failing) > 5 else ''})"
                   if len(failing) > 1 else ""))


def parse(rule: str) -> MetricGate | None:
    """The gate for ``rule`` when it is an aggregate or an evaluation key; None for a filter-language rule."""
    m = _AGGREGATE.match(rule)
    if m:
        return MetricGate(rule, m.group(1).lower(), m.group("glob"), m.group("op"), float(m.group("num")))
    m = _BARE.match(rule)
    if m:
        return MetricGate(rule, None, m.group("key"), m.group("op"), float(m.group("num")))
    return None


def _matches(key: str, pattern: str) -> bool:
    # fnmatchcase: '*' is any text; '[' in a slice value is not a character class (escaped below).
    return fnmatch.fnmatchcase(key, pattern.replace("[", "[[]"))


def _slice_of(key: str) -> str:
    """``sex=F`` for ``slice.sex=F.recall``; the key itself otherwise."""
    parsed = parse_slice_key(key)
    return parsed[0] if parsed else key


def _describe(key: str, metrics: dict) -> str:
    if not key.startswith("slice."):
        return key
    label = _slice_of(key)
    count = metrics.get(f"slice.{label}.count")
    return f"slice {label}" + (f" (n={int(count)})" if count is not None else "")
