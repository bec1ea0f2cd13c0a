"""The model card of a package, as Markdown (``README.md``) and standalone HTML.

Organised as in "Model Cards for Model Reporting" (Mitchell et al., 2019): model details,
intended use, factors, metrics, evaluation data, training data, quantitative analyses, ethical
considerations, caveats and recommendations. Everything comes from the run: the prose from run
tags the notebook's author sets where the work is (``mlops.purpose``, ``mlops.intended_use``,
``mlops.out_of_scope``, ``mlops.factors``, ``mlops.ethical_considerations``, ``mlops.limitations``,
``mlops.caveats``), the numbers from the run's metrics and ``mlops.evaluate``'s record (the
``mlops.evaluation`` tag and the ``slice.*`` / ``fairness.*`` / ``eval.*`` metrics, see
tracking/slice_keys.py). What is missing is shown as a visible placeholder, not omitted.
"""
from __future__ import annotations

import html
import json
from dataclasses import dataclass
from datetime import datetime, timezone

from ..tracking.slice_keys import NAMESPACES, grouped, slice_table

PLACEHOLDER = "_Not documented yet: set the run tag `{tag}` before exporting._"
NOT_EVALUATED = ("_Not evaluated yet: run `mlops.evaluate(run, data, target=..., slices=[...], "
                 "sensitive_features=[...])` on the run before exporting._")


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    caption: str = ""


def _utc(ms) -> str | None:
    """Epoch milliseconds as a reader reads a date: ``2026-12-02 01:45 UTC``."""
    if not isinstance(ms, (int, float)):
        return None
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _recorded(value) -> object:
    """What a details row shows: "not recorded" for a missing value, yes/no for a flag."""
    if value is None or value == "":
        return "not recorded"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def _fmt(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _with_interval(m: dict) -> str:
    if m.get("value") is None:
        return "n/a"
    text = f"{m['value']:.4g}"
    if m.get("ci_low") is not None and m.get("ci_high") is not None:
        text += f" [{m['ci_low']:.3g}, {m['ci_high']:.3g}]"
    return text


def _evaluation(tags: dict) -> dict | None:
    try:
        found = json.loads(tags.get("mlops.evaluation", ""))
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def sections(lineage: dict, signature: dict) -> list[tuple[str, object]]:
    """(title, body) pairs; a body is text, a list of (key, value) rows, a Table, or a list of those."""
    tags = lineage.get("tags", {})
    metrics = lineage.get("metrics", {})
    evaluation = _evaluation(tags)

    def text(tag: str) -> str:
        return tags.get(tag) or PLACEHOLDER.format(tag=tag)

    approval = lineage.get("approval") or {}
    details = [("run", lineage["run_id"]), ("run name", lineage.get("run_name")), ("experiment", lineage.get("experiment")),
               ("trained by", lineage.get("user")), ("started", _utc(lineage.get("start_time"))),
               ("notebook", lineage.get("source_path")), ("git commit", lineage.get("git_commit")),
               ("uncommitted changes", lineage.get("git_dirty")), ("pipeline run", lineage.get("pipeline_run_id")),
               ("approved by", approval.get("actor")), ("approval reason", approval.get("reason")),
               ("approved at", _utc(approval.get("created_at")))]
    details = [(key, _recorded(value)) for key, value in details]
    details += [(f"param {k}", v) for k, v in sorted(lineage.get("params", {}).items())]
    inputs = [(i["name"], i["dtype"]) for i in signature.get("inputs", [])]
    own_metrics = [(k, _fmt(v)) for k, v in sorted(metrics.items()) if not k.startswith(NAMESPACES)]
    return [
        ("Model details", details),
        ("Intended use", [("purpose", text("mlops.purpose")), ("intended use", text("mlops.intended_use")),
                          ("out of scope", text("mlops.out_of_scope"))]),
        ("Factors", _factors(evaluation, tags)),
        ("Metrics", _metrics(evaluation, metrics, own_metrics)),
        ("Evaluation data", _evaluation_data(evaluation, lineage)),
        ("Training data", _training_data(lineage)),
        ("Quantitative analyses", _analyses(evaluation, metrics)),
        ("Ethical considerations", text("mlops.ethical_considerations")),
        ("Caveats and recommendations", _caveats(evaluation, tags)),
        ("Inputs", inputs or "_no signature: log the model with an input example_"),
    ]


def _factors(evaluation: dict | None, tags: dict) -> object:
    written = tags.get("mlops.factors")
    if evaluation is None:
        return written or PLACEHOLDER.format(tag="mlops.factors")
    rows = [("slices evaluated", ", ".join(evaluation.get("slices", [])) or "none"),
            ("sensitive features", ", ".join(evaluation.get("sensitive_features", [])) or "none")]
    if written:
        rows.append(("notes", written))
    return rows


def _metrics(evaluation: dict | None, metrics: dict, own: list) -> object:
    parts: list = []
    overall = grouped(metrics, "eval.")
    if overall:
        how = ""
        if evaluation:
            how = (f"{evaluation.get('confidence', 0.95):.0%} intervals from {evaluation.get('n_bootstrap')} bootstrap "
                   f"resamples (seed {evaluation.get('seed')})")
            if evaluation.get("pos_label") is not None:
                how += f"; positive label {evaluation['pos_label']!r}"
        parts.append(Table(["metric", "value [interval]"], [[k, _with_interval(v)] for k, v in sorted(overall.items())],
                           how))
    if own:
        parts.append(Table(["metric logged by the run", "value"], [[k, v] for k, v in own]))
    return parts or "_none logged_"


def _evaluation_data(evaluation: dict | None, lineage: dict) -> object:
    if evaluation is None:
        return NOT_EVALUATED
    rows = [("rows", evaluation.get("rows")), ("target", evaluation.get("target")),
            ("fingerprint", str(evaluation.get("data_fingerprint", ""))[:12]), ("task", evaluation.get("task")),
            ("evaluated", evaluation.get("subject"))]
    return rows


def _training_data(lineage: dict) -> object:
    rows = [(d["name"], f"{d['rows']} rows × {d['columns']} columns, fingerprint {d['fingerprint'][:12]}")
            for d in lineage.get("datasets", []) if d["name"] != "evaluation"]
    for step in lineage.get("upstream", []):
        for name, out in (step.get("outputs") or {}).items():
            rows.append((f"{step['step']}.{name}", f"{out.get('path')} (sha256 {str(out.get('sha256'))[:12]})"))
    return rows or "_No dataset was logged on the run (`mlops.log_dataset`, `mlops.log_model(training_data=...)`)._"


def _analyses(evaluation: dict | None, metrics: dict) -> object:
    table = slice_table(metrics)
    if not table and not any(k.startswith("fairness.") for k in metrics):
        return NOT_EVALUATED
    parts: list = []
    if table:
        minimum = (evaluation or {}).get("min_slice_count", 0)
        names = []
        for by_metric in table.values():
            names += [m for m in by_metric if m != "count" and m not in names]
        rows = []
        for label in sorted(table):
            count = table[label].get("count", {}).get("value")
            shown = "?" if count is None else f"{int(count)}" + (" (small)" if count < minimum else "")
            rows.append([label, shown] + [_with_interval(table[label].get(m, {})) for m in names])
        parts.append(Table(["slice", "count"] + names, rows,
                           f"Per slice, with bootstrap intervals; slices under {minimum} rows are marked small."))
    fairness = grouped(metrics, "fairness.")
    if fairness:
        across = ", ".join((evaluation or {}).get("sensitive_features", [])) or "the sensitive features"
        parts.append(Table(["fairness gap", "value [interval]"], [[k, _with_interval(v)] for k, v in sorted(fairness.items())],
                           f"Across {across} (Fairlearn's definitions, between groups)."))
    importance = grouped(metrics, "importance.")
    if importance:
        ranked = sorted(importance.items(), key=lambda kv: -kv[1].get("value", 0))
        parts.append(Table(["feature", "permutation importance"], [[k, _fmt(v["value"])] for k, v in ranked],
                           "Drop in the score when the feature is shuffled."))
    shap = grouped(metrics, "shap.")
    if shap:
        ranked = sorted(shap.items(), key=lambda kv: -kv[1].get("value", 0))
        parts.append(Table(["feature", "mean |SHAP|"], [[k, _fmt(v["value"])] for k, v in ranked]))
    return parts


def _caveats(evaluation: dict | None, tags: dict) -> object:
    rows = [("limitations", tags.get("mlops.limitations") or PLACEHOLDER.format(tag="mlops.limitations"))]
    if tags.get("mlops.caveats"):
        rows.append(("caveats", tags["mlops.caveats"]))
    small = (evaluation or {}).get("small_slices") or []
    if small:
        rows.append(("small slices", f"{', '.join(small)}: too few rows for their metrics to be relied on"))
    return rows


# -- rendering ---------------------------------------------------------------------------------------
def markdown(title: str, lineage: dict, signature: dict) -> str:
    out = [f"# Model card: {title}", ""]
    for name, body in sections(lineage, signature):
        out += [f"## {name}", ""]
        for part in _parts(body):
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, Table):
                if part.caption:
                    out += [f"_{_cell(part.caption)}_", ""]
                out += ["| " + " | ".join(_cell(h) for h in part.header) + " |",
                        "|" + "---|" * len(part.header)]
                out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in part.rows]
            else:
                out += ["| | |", "|---|---|"] + [f"| {_cell(k)} | {_cell(_fmt(v))} |" for k, v in part]
            out.append("")
    out += ["## How to load", "", "```python", "import jupyter_mlops as mlops",
            f'model = mlops.load_model("{title}")', "```", ""]
    return "\n".join(out)


def _parts(body) -> list:
    """A section's body as a list of text, Tables and (key, value) row lists."""
    if isinstance(body, (str, Table)):
        return [body]
    if body and all(isinstance(p, (str, Table)) for p in body):
        return list(body)
    return [body]


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def to_html(title: str, lineage: dict, signature: dict) -> str:
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title>",
             ("<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
              "td,th{border-bottom:1px solid #ddd;padding:.2em .6em;text-align:left}caption{text-align:left;"
              "color:#555}</style></head><body>"),
             f"<h1>Model card: {e(title)}</h1>"]
    for name, body in sections(lineage, signature):
        parts.append(f"<h2>{e(name)}</h2>")
        for part in _parts(body):
            if isinstance(part, str):
                parts.append(f"<p>{e(part.strip('_'))}</p>")
            elif isinstance(part, Table):
                head = "".join(f"<th>{e(h)}</th>" for h in part.header)
                rows = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in part.rows)
                caption = f"<caption>{e(part.caption)}</caption>" if part.caption else ""
                parts.append(f"<table>{caption}<tr>{head}</tr>{rows}</table>")
            else:
                rows = "".join(f"<tr><th>{e(str(k))}</th><td>{e(_fmt(v))}</td></tr>" for k, v in part)
                parts.append(f"<table>{rows}</table>")
    parts.append("</body></html>")
    return "\n".join(parts)
