"""The model card of a package, as Markdown (``README.md``) and standalone HTML.

Filled from the run: purpose, intended use and limitations come from run tags
(``mlops.purpose``, ``mlops.intended_use``, ``mlops.limitations``) so the notebook's author
writes them where the work is; what is missing is shown as a visible placeholder, not omitted.
"""
from __future__ import annotations

import html

PLACEHOLDER = "_Not documented yet: set the run tag `{tag}` before exporting._"


def _fmt(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def sections(lineage: dict, signature: dict) -> list[tuple[str, object]]:
    """(title, body) pairs; a body is text or a list of (key, value) rows."""
    tags = lineage.get("tags", {})

    def text(tag: str) -> str:
        return tags.get(tag) or PLACEHOLDER.format(tag=tag)

    data_rows = [(d["name"], f"{d['rows']} rows × {d['columns']} columns, fingerprint {d['fingerprint'][:12]}")
                 for d in lineage.get("datasets", [])]
    inputs = [(i["name"], i["dtype"]) for i in signature.get("inputs", [])]
    approval = lineage.get("approval") or {}
    return [
        ("Purpose", text("mlops.purpose")),
        ("Intended use", text("mlops.intended_use")),
        ("Data", data_rows or "_No dataset was logged on the run (`mlops.log_dataset`)._"),
        ("Metrics", [(k, _fmt(v)) for k, v in sorted(lineage.get("metrics", {}).items())] or "_none logged_"),
        ("Parameters", [(k, v) for k, v in sorted(lineage.get("params", {}).items())] or "_none logged_"),
        ("Inputs", inputs or "_no signature: log the model with an input example_"),
        ("Limitations", text("mlops.limitations")),
        ("Lineage", [("run", lineage["run_id"]), ("experiment", lineage.get("experiment")),
                     ("notebook", lineage.get("source_path")), ("git commit", lineage.get("git_commit")),
                     ("git dirty", lineage.get("git_dirty")), ("pipeline run", lineage.get("pipeline_run_id"))]),
        ("Approval", [("approved by", approval.get("actor")), ("reason", approval.get("reason")),
                      ("approved at (ms)", approval.get("created_at"))]),
    ]


def markdown(title: str, lineage: dict, signature: dict) -> str:
    out = [f"# Model card: {title}", ""]
    for name, body in sections(lineage, signature):
        out += [f"## {name}", ""]
        if isinstance(body, str):
            out.append(body)
        else:
            out += ["| | |", "|---|---|"] + [f"| {_cell(k)} | {_cell(v)} |" for k, v in body]
        out.append("")
    out += ["## How to load", "", "```python", "import jupyter_mlops as mlops",
            f'model = mlops.load_model("{title}")', "```", ""]
    return "\n".join(out)


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def to_html(title: str, lineage: dict, signature: dict) -> str:
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title>",
             "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
             "td,th{border-bottom:1px solid #ddd;padding:.2em .6em;text-align:left}</style></head><body>",
             f"<h1>Model card: {e(title)}</h1>"]
    for name, body in sections(lineage, signature):
        parts.append(f"<h2>{e(name)}</h2>")
        if isinstance(body, str):
            parts.append(f"<p>{e(body.strip('_'))}</p>")
        else:
            rows = "".join(f"<tr><th>{e(str(k))}</th><td>{e(_fmt(v))}</td></tr>" for k, v in body)
            parts.append(f"<table>{rows}</table>")
    parts.append("</body></html>")
    return "\n".join(parts)
