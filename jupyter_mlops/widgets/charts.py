"""Metric series drawn with matplotlib's object API into PNG bytes, for ``ipywidgets.Image``.

No pyplot: figures made this way belong to no global state, so a background thread can draw
while the notebook's own plots go on undisturbed.
"""
from __future__ import annotations

import io


def series_png(series: dict[str, dict[str, tuple[list, list]]], width: float = 7.0, height_per_key: float = 2.2) -> bytes:
    """``{metric key: {line label: (steps, values)}}`` as one subplot per key, lines overlaid."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    keys = sorted(series) or ["(no metrics yet)"]
    fig = Figure(figsize=(width, max(height_per_key * len(keys), 1.6)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(keys), 1, squeeze=False)[:, 0]
    for ax, key in zip(axes, keys):
        ax.set_title(key, fontsize=9, loc="left")
        for label, (steps, values) in sorted(series.get(key, {}).items()):
            marker = "o" if len(steps) < 30 else None
            ax.plot(steps, values, marker=marker, markersize=3, linewidth=1.2, label=label)
        if len(series.get(key, {})) > 1:
            ax.legend(fontsize=7)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    return buf.getvalue()


def thin(steps: list, values: list, max_points: int) -> tuple[list, list]:
    """Every k-th point (always keeping the last) so a long series draws in constant time."""
    if len(steps) <= max_points:
        return steps, values
    stride = -(-len(steps) // max_points)
    return steps[::stride] + steps[-1:], values[::stride] + values[-1:]
