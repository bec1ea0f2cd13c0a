"""Metric series drawn with matplotlib's object API into PNG bytes, for ``ipywidgets.Image``.

No pyplot: figures made this way belong to no global state, so a background thread can draw
while the notebook's own plots go on undisturbed.

PNG at twice the shown size, not SVG: Python cannot read the notebook's device pixel ratio, and
a 2x bitmap is sharp on the usual HiDPI screens (ratio 2) and downscaled cleanly on the others.
Measured here for 20 runs x 1000 noisy points (one metric, 7 x 2.6 in): PNG at 160 dpi 147 KiB,
SVG 479 KiB (a vertex per point, sent uncompressed through the widget comm); three metrics 439 vs
1446 KiB, drawn in about the same time (0.25-0.4 s). Labels are text from the store: matplotlib
draws them as text, never as markup, and ``$`` is escaped so a name is never parsed as mathtext.
"""
from __future__ import annotations

import io
import numbers

PIXEL_RATIO = 2  # pixels per CSS pixel of the PNGs
BASE_DPI = 80  # CSS pixels per figure inch: 7 in -> 560 px wide in the notebook
WIDTH_INCHES = 7.0


def series_figure(series: dict[str, dict[str, tuple[list, list]]], width: float = WIDTH_INCHES,
                  height_per_key: float = 2.4):
    """``{metric key: {line label: (steps, values)}}`` as one subplot per key, lines overlaid, each
    axis titled (step, the metric), integer step ticks when every step is an integer, a legend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    keys = sorted(series)
    fig = Figure(figsize=(width, max(height_per_key * max(len(keys), 1), 1.6)), layout="constrained")
    FigureCanvasAgg(fig)
    if not keys:
        fig.text(0.5, 0.5, "no metrics yet", ha="center", va="center", color="grey")
        return fig
    axes = fig.subplots(len(keys), 1, squeeze=False)[:, 0]
    for ax, key in zip(axes, keys):
        lines = sorted(series[key].items())
        handles = []
        for _label, (steps, values) in lines:
            marker = "o" if len(steps) < 30 else None
            handles.extend(ax.plot(steps, values, marker=marker, markersize=3, linewidth=1.2))
        ax.set_xlabel("step", fontsize=8)
        ax.set_ylabel(plain_text(key), fontsize=8)
        if all(_is_integer(step) for _, (steps, _v) in lines for step in steps):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        # Handles and labels given together: a label starting with "_" is not dropped from the legend.
        ax.legend(handles, [plain_text(label) for label, _ in lines], fontsize=7,
                  ncols=2 if len(lines) > 8 else 1, loc="best")
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    return fig


def png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=BASE_DPI * PIXEL_RATIO)
    return buf.getvalue()


def shown_width(fig) -> str:
    """The width to show ``fig``'s PNG at, in CSS pixels (the bitmap has PIXEL_RATIO times as many)."""
    return str(round(fig.get_figwidth() * BASE_DPI))


def plain_text(label) -> str:
    """``label`` as literal text for matplotlib: an unescaped ``$`` pair would start mathtext."""
    return str(label).replace("$", r"\$")


def legend_names(runs: list[tuple[str, str | None]]) -> dict[str, str]:
    """``{run id: legend name}`` for ``[(run id, run name)]``: the run's name, with a short id after
    it when two runs share a name (or the id alone for a run without a name)."""
    counts: dict[str, int] = {}
    for _, name in runs:
        counts[name or ""] = counts.get(name or "", 0) + 1
    out = {}
    for run_id, name in runs:
        if not name:
            out[run_id] = run_id[:8]
        elif counts[name] > 1:
            out[run_id] = f"{name} ({run_id[:8]})"
        else:
            out[run_id] = name
    return out


def thin(steps: list, values: list, max_points: int) -> tuple[list, list]:
    """Every k-th point (always keeping the last) so a long series draws in constant time."""
    if len(steps) <= max_points:
        return steps, values
    stride = -(-len(steps) // max_points)
    return steps[::stride] + steps[-1:], values[::stride] + values[-1:]


def _is_integer(step) -> bool:
    return isinstance(step, numbers.Integral) or (isinstance(step, float) and step.is_integer())
