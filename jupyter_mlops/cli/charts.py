"""Metric histories drawn with text: a one-line sparkline, and a small line plot for one metric.

Hand-made (about 60 lines) rather than a plotting library: the core install carries none
(plotext is not a dependency), and a metric's history needs only points against steps.
"""
from __future__ import annotations

import math

BARS = "▁▂▃▄▅▆▇█"


def finite_points(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    return [(step, value) for step, value in points if value is not None and math.isfinite(value)]


def buckets(values: list[float], count: int) -> list[list[float]]:
    """``values`` in ``count`` consecutive groups of near-equal size (fewer when there are fewer values)."""
    count = min(count, len(values))
    return [values[len(values) * i // count: len(values) * (i + 1) // count] for i in range(count)]


def sparkline(values: list[float], width: int = 24) -> str:
    """One character per group of points, its height the group's mean; NaN and infinity left out."""
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return ""
    means = [sum(group) / len(group) for group in buckets(values, width)]
    low, high = min(means), max(means)
    if high == low:
        return BARS[len(BARS) // 2] * len(means)
    return "".join(BARS[round((m - low) / (high - low) * (len(BARS) - 1))] for m in means)


def line_plot(points: list[tuple[int, float]], width: int = 60, height: int = 12) -> list[str]:
    """A text plot of value against step: each column spans its points' range, joined to the column before."""
    points = finite_points(points)
    if len(points) < 2:
        return ["(fewer than two finite values: nothing to plot)"]
    low = min(v for _, v in points)
    high = max(v for _, v in points)
    span = high - low

    def row(value: float) -> int:  # 0 = top; a flat line runs through the middle
        return (height - 1) // 2 if high == low else height - 1 - round((value - low) / span * (height - 1))

    grid = [[" "] * width for _ in range(height)]
    previous = None
    groups = buckets(points, width)
    for x, group in enumerate(groups):
        rows = [row(v) for _, v in group]
        top, bottom = min(rows), max(rows)
        if previous is not None:  # a vertical join keeps a steep line continuous
            top, bottom = min(top, previous), max(bottom, previous)
        for y in range(top, bottom + 1):
            grid[y][x] = "•"
        previous = row(group[-1][1])
    if high == low:  # a flat line: one label, at its row
        axis = {(height - 1) // 2: f"{low:.6g}"}
    else:
        axis = {0: f"{high:.6g}", (height - 1) // 2: f"{(high + low) / 2:.6g}", height - 1: f"{low:.6g}"}
    pad = max(len(label) for label in axis.values())
    lines = [f"{axis.get(y, '').rjust(pad)} ┤{''.join(grid[y][:len(groups)])}".rstrip() for y in range(height)]
    first, last = str(points[0][0]), str(points[-1][0])
    gap = max(1, len(groups) - len(first) - len(last))
    lines.append(" " * pad + " └" + "─" * len(groups))
    lines.append(" " * (pad + 2) + first + " " * gap + last + "  (step)")
    return lines


def history_summary(points: list[tuple[int, float]], width: int = 24) -> str:
    """``▁▃▅▇  40 points, steps 0-39, min 0.1 max 0.9``: the shape of a metric's history in one line."""
    finite = [v for _, v in finite_points(points)]
    extent = f", min {min(finite):.6g} max {max(finite):.6g}" if finite else ""
    return f"{sparkline([v for _, v in points], width)}  {len(points)} points, steps {points[0][0]}-{points[-1][0]}{extent}"
