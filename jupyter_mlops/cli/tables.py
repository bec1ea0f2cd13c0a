"""Tables for a terminal: cells cut to a readable width, columns past the right edge left out with a note.

Output that is not a terminal (a pipe, a file) keeps every column unless ``COLUMNS`` is set:
scripts read ``--format csv`` or ``json``, and ``less -S`` scrolls sideways.
"""
from __future__ import annotations

import math
import os
import shutil
import sys

CELL_WIDTH = 32  # longest cell shown; longer text ends in "…"
GAP = "  "
MISSING = "-"


def terminal_width() -> int | None:
    """The terminal's width in characters (``COLUMNS`` wins); None when stdout is not a terminal."""
    if os.environ.get("COLUMNS") or sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def cell(value) -> str:
    """One value as table text: floats in 6 significant digits, missing values as ``-``."""
    if value is None or type(value).__name__ in ("NaTType", "NAType"):
        return MISSING
    if isinstance(value, float):
        return MISSING if math.isnan(value) else f"{value:.6g}"
    if hasattr(value, "dtype") and hasattr(value, "item"):  # numpy scalars
        return cell(value.item())
    return str(value)


def cut_end(text: str, width: int = CELL_WIDTH) -> str:
    text = " ".join(str(text).split())  # a newline or tab in a name would break the rows
    return text if len(text) <= width else text[:width - 1] + "…"


def cut_middle(text: str, width: int = CELL_WIDTH) -> str:
    """Column names keep both ends (``metrics.val…fold_3``): their differences are often at the end."""
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head):]


def render(headers: list[str], rows: list[list], right: set[str] = frozenset(), width: int | None = None,
           keep: int = 1) -> tuple[list[str], list[str]]:
    """Lines of a table that fits in ``width`` characters, and the columns left out to fit.

    The first ``keep`` columns are always shown; the others are taken left to right while they fit.
    Cells are cut at CELL_WIDTH, and names of columns too when there is a width to fit.
    Columns named in ``right`` (numbers) are right-aligned.
    """
    texts = [[cut_end(cell(v)) for v in row] for row in rows]
    shown_headers = [cut_middle(h) if width is not None else h for h in headers]
    widths = [max([len(h)] + [len(r[i]) for r in texts]) for i, h in enumerate(shown_headers)]
    chosen, used, dropped = [], 0, []
    for i, w in enumerate(widths):
        extra = w + (len(GAP) if chosen else 0)
        if i < keep or width is None or (not dropped and used + extra <= width):
            chosen.append(i)
            used += extra
        else:
            dropped.append(headers[i])

    def line(values: list[str]) -> str:
        parts = [values[i].rjust(widths[i]) if headers[i] in right else values[i].ljust(widths[i]) for i in chosen]
        return GAP.join(parts).rstrip()

    return [line(shown_headers)] + [line(r) for r in texts], dropped


def dropped_note(dropped: list[str], hint: str, width: int | None = None) -> str:
    """``(+3 columns not shown: a, b, …; hint)``, naming as many as fit in ``width``."""
    what = "column" if len(dropped) == 1 else "columns"
    for count in range(min(len(dropped), 6), -1, -1):
        names = ", ".join(dropped[:count]) + (", …" if 0 < count < len(dropped) else "")
        note = f"(+{len(dropped)} {what} not shown{': ' + names if names else ''}; {hint})"
        if width is None or len(note) <= width or count == 0:
            return note
    return note


def print_frame(df, right: set[str] | None = None, hint: str = "pick columns with --columns") -> None:
    """A DataFrame as a table fitted to the terminal, with a note naming the columns left out."""
    import pandas as pd

    if right is None:
        right = {c for c in df.columns if pd.api.types.is_numeric_dtype(df[c])}
    width = terminal_width()
    lines, dropped = render(list(df.columns), df.itertuples(index=False, name=None), right, width)
    print("\n".join(lines))
    if dropped:
        print(dropped_note(dropped, hint, width))
