"""Cell-level diff of two notebooks: which cells were added, removed or changed, inputs and outputs.

nbdime would do this too, but it brings its own server and lab extensions and a dozen
dependencies; the sidebar only needs cells aligned by their source, which difflib does.
"""
from __future__ import annotations

import difflib

OUTPUT_TEXT_LIMIT = 4000


def cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def outputs_text(cell: dict) -> str:
    """A cell's outputs as text: streams, plain-text results and errors; images by their type only."""
    parts = []
    for out in cell.get("outputs", []) or []:
        kind = out.get("output_type")
        if kind == "stream":
            parts.append(_join(out.get("text", "")))
        elif kind in ("execute_result", "display_data"):
            data = out.get("data", {})
            if "text/plain" in data:
                parts.append(_join(data["text/plain"]))
            else:
                parts.append(" ".join(f"<{mime}>" for mime in sorted(data)))
        elif kind == "error":
            parts.append(f"{out.get('ename', '')}: {out.get('evalue', '')}")
    text = "\n".join(p.rstrip("\n") for p in parts)
    return text if len(text) <= OUTPUT_TEXT_LIMIT else text[:OUTPUT_TEXT_LIMIT] + "\n…"


def _join(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def diff_notebooks(a: dict, b: dict) -> dict:
    """``{"cells": [...], "summary": {...}}``; each entry has ``op`` (equal, changed, added, removed),
    the cell indexes in each notebook, the sources, the outputs as text and a unified source diff."""
    cells_a, cells_b = a.get("cells", []), b.get("cells", [])
    keys_a = [(c.get("cell_type"), cell_source(c)) for c in cells_a]
    keys_b = [(c.get("cell_type"), cell_source(c)) for c in cells_b]
    entries = []
    matcher = difflib.SequenceMatcher(a=keys_a, b=keys_b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            entries += [_entry(cells_a, cells_b, i, j) for i, j in zip(range(i1, i2), range(j1, j2))]
            continue
        # A replaced block: pair cells up in order as changed, the rest are added or removed.
        paired = min(i2 - i1, j2 - j1) if tag == "replace" else 0
        entries += [_entry(cells_a, cells_b, i1 + k, j1 + k) for k in range(paired)]
        entries += [_entry(cells_a, cells_b, i, None) for i in range(i1 + paired, i2)]
        entries += [_entry(cells_a, cells_b, None, j) for j in range(j1 + paired, j2)]
    summary = {op: sum(1 for e in entries if e["op"] == op) for op in ("equal", "changed", "added", "removed")}
    summary["outputs_changed"] = sum(1 for e in entries if e["outputs_changed"])
    return {"cells": entries, "summary": summary}


def _entry(cells_a: list, cells_b: list, i: int | None, j: int | None) -> dict:
    ca = cells_a[i] if i is not None else None
    cb = cells_b[j] if j is not None else None
    src_a = cell_source(ca) if ca else None
    src_b = cell_source(cb) if cb else None
    out_a = outputs_text(ca) if ca else None
    out_b = outputs_text(cb) if cb else None
    if ca is None:
        op = "added"
    elif cb is None:
        op = "removed"
    else:
        op = "equal" if src_a == src_b and ca.get("cell_type") == cb.get("cell_type") else "changed"
    source_diff = None
    if op == "changed":
        source_diff = "".join(difflib.unified_diff(
            src_a.splitlines(keepends=True), src_b.splitlines(keepends=True), "a", "b", lineterm="\n", n=2))
    return {
        "op": op,
        "a_index": i,
        "b_index": j,
        "cell_type": (cb or ca).get("cell_type"),
        "source_a": src_a,
        "source_b": src_b,
        "source_diff": source_diff,
        "outputs_a": out_a,
        "outputs_b": out_b,
        "outputs_changed": ca is not None and cb is not None and out_a != out_b,
    }
