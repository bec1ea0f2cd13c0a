"""HTML drift report: a summary table and reference-vs-current plots, one self-contained file.

Plots are matplotlib PNGs inlined as base64, so the report opens anywhere (a notebook output, a
browser, a run artifact) without a server. Drawn from the profile and the folded counts only:
the raw data is not needed.
"""
from __future__ import annotations

import base64
import html
import io

import numpy as np

from ..extras import available
from ..tracking.profile import histogram_edges

PLOT_BINS = 50
TOP_CATEGORIES = 12
STATUS_COLOURS = {"drift": "#cf222e", "ok": "#1a7f37", "not enough data": "#9a6700", "skipped": "#6e7781",
                  "missing": "#cf222e"}
STYLE = """
.mlops-drift {font-family: system-ui, sans-serif; font-size: 13px}
.mlops-drift table {border-collapse: collapse; margin: 6px 0 14px}
.mlops-drift th, .mlops-drift td {border-bottom: 1px solid #d0d7de; padding: 3px 10px; text-align: left}
.mlops-drift td.num {text-align: right; font-variant-numeric: tabular-nums}
.mlops-drift .plots {display: flex; flex-wrap: wrap; gap: 8px}
.mlops-drift figure {margin: 0} .mlops-drift figcaption {font-weight: 600}
"""


def render_html(result, *, title: str = "Drift report", full_page: bool = True, plots: bool = True) -> str:
    """The report for a ``DriftResult``; ``full_page=False`` gives a fragment for notebook output."""
    verdict = result.dataset_drift
    headline = ("not enough data to decide" if verdict is None else
                f"{'DATASET DRIFT' if verdict else 'no dataset drift'}: {len(result.drifted_columns)} of "
                f"{len(result.tested)} tested columns drifted ({result.drift_share:.0%}, threshold "
                f"{result.thresholds.drift_share:.0%})")
    parts = [f'<div class="mlops-drift"><style>{STYLE}</style><h2>{html.escape(title)}</h2>',
             (f"<p><b>{html.escape(headline)}</b>. Reference {result.reference_rows:,} rows, "
              f"current {result.current_rows:,} rows.</p>"), _summary_table(result)]
    if result.performance:
        parts.append(_performance_table(result.performance))
    if plots and not available("matplotlib"):
        parts.append('<p>Plots need matplotlib: pip install "jupyter_mlops[notebook]".</p>')
    elif plots:
        figures = [_figure(column) for column in result.columns if column.summary is not None and column.summary.count]
        parts.append('<div class="plots">' + "".join(f for f in figures if f) + "</div>")
    parts.append("</div>")
    body = "".join(parts)
    if not full_page:
        return body
    return f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title></head><body>{body}</body></html>'


def _number(value) -> str:
    return "" if value is None else f"{value:.4g}"


def _summary_table(result) -> str:
    rows = []
    for c in result.columns:
        colour = STATUS_COLOURS.get(c.status, "#000")
        rows.append(
            f"<tr><td>{html.escape(c.column)}</td><td>{c.kind}</td><td>{c.test or ''}</td>"
            f'<td class="num">{_number(c.statistic)}</td><td class="num">{_number(c.p_value)}</td>'
            f'<td class="num">{_number(c.threshold)}</td>'
            f'<td style="color:{colour};font-weight:600">{html.escape(c.status)}</td><td>{html.escape(c.reason)}</td></tr>')
    return ("<table><thead><tr><th>column</th><th>type</th><th>test</th><th>statistic</th><th>p-value</th>"
            "<th>threshold</th><th>verdict</th><th>note</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _performance_table(performance: dict) -> str:
    if performance.get("status") != "ok":
        return f"<p>Performance: {html.escape(str(performance.get('status')))}.</p>"
    rows = "".join(
        f'<tr><td>{name}</td><td class="num">{_number(value)}</td>'
        f'<td class="num">{_number(performance["reference"].get(name))}</td>'
        f'<td class="num">{_number(performance["change"].get(name))}</td></tr>'
        for name, value in performance["current"].items())
    return (f"<h3>Performance on {performance['rows']:,} labelled rows</h3><table><thead><tr><th>metric</th>"
            f"<th>current</th><th>reference</th><th>change</th></tr></thead><tbody>{rows}</tbody></table>")


def _figure(column) -> str | None:
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(3.6, 2.2), dpi=80)
    axes = figure.add_subplot()
    if column.kind == "numerical":
        if not _numerical_plot(axes, column.summary):
            return None
    else:
        _categorical_plot(axes, column.summary)
    axes.tick_params(labelsize=7)
    axes.xaxis.set_major_locator(MaxNLocator(5))
    axes.legend(fontsize=7, frameon=False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    data = base64.b64encode(buffer.getvalue()).decode()
    colour = STATUS_COLOURS.get(column.status, "#000")
    return (f'<figure><figcaption style="color:{colour}">{html.escape(column.column)} ({column.status})</figcaption>'
            f'<img alt="{html.escape(column.column)} reference vs current" src="data:image/png;base64,{data}"></figure>')


def _numerical_plot(axes, summary) -> bool:
    histogram = summary.reference.get("histogram")
    if not histogram:
        return False
    bins = len(histogram["counts"])
    group = max(1, bins // PLOT_BINS)
    edges = histogram_edges(histogram)[::group]
    if edges[-1] != histogram["max"]:
        edges = np.append(edges, histogram["max"])
    reference = np.add.reduceat(np.asarray(histogram["counts"], dtype=float), np.arange(0, bins, group))
    current = np.add.reduceat(summary.hist_counts[1:-1].astype(float), np.arange(0, bins, group))
    widths = np.diff(edges)
    axes.stairs(reference / max(reference.sum(), 1), edges, label="reference", fill=True, alpha=0.45)
    axes.stairs(current / max(summary.count, 1), edges, label="current", linewidth=1.5)
    below, above = summary.hist_counts[0], summary.hist_counts[-1]
    if below or above:  # current values beyond the reference range, drawn as bars at the edges
        width = widths.mean()
        axes.bar([edges[0] - width, edges[-1]], [below / summary.count, above / summary.count], width=width,
                 align="edge", color="#cf222e", alpha=0.6, label="outside reference range")
    return True


def _categorical_plot(axes, summary) -> None:
    from .stattests import discrete_table

    keys, reference, current = discrete_table(summary)
    order = np.argsort(-(reference / max(reference.sum(), 1) + current / max(current.sum(), 1)))[:TOP_CATEGORIES]
    positions = np.arange(order.size)
    axes.bar(positions - 0.2, reference[order] / max(reference.sum(), 1), width=0.4, label="reference", alpha=0.7)
    axes.bar(positions + 0.2, current[order] / max(current.sum(), 1), width=0.4, label="current", alpha=0.7)
    axes.set_xticks(positions, [str(keys[i])[:10] for i in order], rotation=45, ha="right")
