"""How an evaluation's numbers are named among a run's metrics: one contract for its writer
(evaluation/) and its readers (the approval gates, the model card).

    eval.<metric>                          the whole evaluation set
    slice.<feature>=<value>[,...].<metric> one slice (a feature, or a crossing of features)
    <any of the above>.ci_low / .ci_high   the bootstrap interval
    slice.<...>.count                      the slice's rows
    fairness.<gap>                         across the sensitive groups
    importance.<feature>, shap.<feature>   explanations (top features)

Values come from the data, so the characters that structure a key (``,`` ``=``, a backtick,
control characters) become ``_`` and long values are cut. Metric names hold no dots, so a key
parses from its end even when a value has dots (``slice.age=30.5.recall``).
"""
from __future__ import annotations

import re

NAMESPACES = ("slice.", "fairness.", "eval.", "importance.", "shap.")
CI_SUFFIXES = (".ci_low", ".ci_high")
MAX_VALUE_CHARS = 60
_KEY_UNSAFE = re.compile(r"[,=`\x00-\x1f\x7f]")


def key_part(value) -> str:
    text = _KEY_UNSAFE.sub("_", str(value))
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS - 3] + "..."


def slice_label(features, values) -> str:
    """``sex=F,age_band=30-40``: a slice as its metric keys name it."""
    return ",".join(f"{key_part(f)}={key_part(v)}" for f, v in zip(features, values))


def slice_key(label: str, metric: str) -> str:
    return f"slice.{label}.{metric}"


def parse_slice_key(key: str) -> tuple[str, str, str] | None:
    """``("sex=F", "recall", "")`` for ``slice.sex=F.recall``; ``".ci_low"`` third for a bound."""
    if not key.startswith("slice."):
        return None
    rest, suffix = key[len("slice."):], ""
    for candidate in CI_SUFFIXES:
        if rest.endswith(candidate):
            rest, suffix = rest[: -len(candidate)], candidate
            break
    label, _, metric = rest.rpartition(".")
    if not label or not metric:
        return None
    return label, metric, suffix


def slice_table(metrics: dict) -> dict[str, dict[str, dict]]:
    """``{label: {metric: {"value", "ci_low", "ci_high"}}}`` from a run's metrics (``count`` included)."""
    table: dict[str, dict[str, dict]] = {}
    for key, value in metrics.items():
        parsed = parse_slice_key(key)
        if parsed is None or value is None:
            continue
        label, metric, suffix = parsed
        table.setdefault(label, {}).setdefault(metric, {})[suffix[1:] if suffix else "value"] = value
    return table


def grouped(metrics: dict, prefix: str) -> dict[str, dict]:
    """``{name: {"value", "ci_low", "ci_high"}}`` of the keys under ``prefix`` (``fairness.``, ``eval.``)."""
    out: dict[str, dict] = {}
    for key, value in metrics.items():
        if not key.startswith(prefix) or value is None:
            continue
        name, part = key[len(prefix):], "value"
        for candidate in CI_SUFFIXES:
            if name.endswith(candidate):
                name, part = name[: -len(candidate)], candidate[1:]
        out.setdefault(name, {})[part] = value
    return out
