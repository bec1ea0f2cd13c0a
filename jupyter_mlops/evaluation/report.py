"""The evaluation as one standalone HTML page: tables, and plots when matplotlib is installed.

Everything shown comes from the data (slice values, column names), so every text is escaped;
plots are embedded PNGs, so the page needs no scripts and opens anywhere.
"""
from __future__ import annotations

import base64
import html
import io

from ..extras import available

STYLE = ("body{font-family:sans-serif;max-width:72em;margin:2em auto;color:#222}"
         "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border-bottom:1px solid #ddd;padding:.2em .6em;"
         "text-align:right}th:first-child,td:first-child{text-align:left}.small{background:#fff3cd}"
         ".note{color:#666}")


def fmt(value, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def with_interval(m: dict) -> str:
    text = fmt(m.get("value"))
    if m.get("ci_low") is not None and m.get("ci_high") is not None:
        text += f" [{fmt(m['ci_low'], 3)}, {fmt(m['ci_high'], 3)}]"
    return text


def _table(header: list[str], rows: list[list[str]], row_classes: list[str] | None = None) -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    body = "".join(f"<tr class='{cls}'>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>"
                   for row, cls in zip(rows, row_classes or [""] * len(rows)))
    return f"<table><tr>{head}</tr>{body}</table>"


def slice_rows(evaluation: dict) -> tuple[list[str], list[list[str]], list[bool]]:
    """Header and rows of the slice table (shared by the report and the model card)."""
    metrics = list(evaluation["overall"])
    header = ["slice", "count"] + metrics
    rows, small = [], []
    for s in evaluation["slices"]:
        count = f"{s['count']} (small)" if s["small"] else str(s["count"])
        rows.append([s["label"], count] + [with_interval(s["metrics"].get(m, {})) for m in metrics])
        small.append(s["small"])
    return header, rows, small


def render(evaluation: dict) -> str:
    e = html.escape
    settings = evaluation["settings"]
    parts = [(f"<!doctype html><html><head><meta charset='utf-8'><title>Evaluation</title><style>{STYLE}</style>"
              "</head><body>"), f"<h1>Evaluation: {e(evaluation.get('subject') or '')}</h1>",
             (f"<p>{e(evaluation['task'])} on {evaluation['rows']} rows, target <code>{e(evaluation['target'])}</code>; "
              f"{settings['confidence']:.0%} intervals from {settings['n_bootstrap']} bootstrap resamples "
              f"(seed {settings['seed']}); slices under {settings['min_slice_count']} rows are marked small.</p>"),
             "<h2>Overall</h2>",
             _table(["metric", "value [interval]"], [[m, with_interval(v)] for m, v in evaluation["overall"].items()])]
    if evaluation.get("confusion"):
        c = evaluation["confusion"]
        labels = [str(x) for x in c["labels"]]
        parts += ["<h3>Confusion matrix (rows: actual, columns: predicted)</h3>",
                  _table([""] + labels, [[labels[i]] + [str(v) for v in row] for i, row in enumerate(c["matrix"])])]
    if evaluation["slices"]:
        header, rows, small = slice_rows(evaluation)
        parts += ["<h2>Slices</h2>", _table(header, rows, ["small" if s else "" for s in small])]
    if evaluation.get("fairness"):
        parts += [f"<h2>Fairness across {e(', '.join(settings['sensitive_features']))}</h2>",
                  _table(["gap", "value [interval]"], [[g, with_interval(v)] for g, v in evaluation["fairness"].items()])]
        groups = evaluation.get("sensitive_groups") or []
        if groups:
            keys = [k for k in groups[0] if k not in ("label", "values")]
            parts.append(_table(["group"] + keys, [[g["label"]] + [fmt(g.get(k)) for k in keys] for g in groups]))
    if evaluation.get("importance"):
        parts += ["<h2>Permutation importance</h2>",
                  _table(["feature", "importance", "std"],
                         [[r["feature"], fmt(r["importance"]), fmt(r["std"])] for r in evaluation["importance"][:20]])]
    if evaluation.get("shap"):
        parts += ["<h2>SHAP: mean |value| per feature</h2>",
                  _table(["feature", "mean |SHAP|"], [[r["feature"], fmt(r["mean_abs_shap"])] for r in evaluation["shap"][:20]])]
    parts += _plots(evaluation)
    for note in evaluation.get("notes") or []:
        parts.append(f"<p class='note'>{e(note)}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _plots(evaluation: dict) -> list[str]:
    if not available("matplotlib"):
        return ["<p class='note'>Plots need matplotlib (pip install \"jupyter_mlops[notebook]\").</p>"]
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    out = []
    main = "roc_auc" if evaluation["task"] == "classification" and "roc_auc" in evaluation["overall"] else \
        ("accuracy" if evaluation["task"] == "classification" else "rmse")
    shown = [s for s in evaluation["slices"] if s["metrics"].get(main, {}).get("value") is not None][:40]
    if shown:
        fig = Figure(figsize=(7, 0.3 * len(shown) + 1))
        ax = fig.subplots()
        values = [s["metrics"][main]["value"] for s in shown]
        low = [v - (s["metrics"][main].get("ci_low") if s["metrics"][main].get("ci_low") is not None else v)
               for v, s in zip(values, shown)]
        high = [(s["metrics"][main].get("ci_high") if s["metrics"][main].get("ci_high") is not None else v) - v
                for v, s in zip(values, shown)]
        ax.barh(range(len(shown)), values, xerr=[low, high], color=["#d9a400" if s["small"] else "#4a7ab7" for s in shown])
        ax.set_yticks(range(len(shown)), [s["label"] for s in shown])
        ax.invert_yaxis()
        ax.set_xlabel(f"{main} (bars: interval; yellow: small slice)")
        out.append(_figure("Slices", fig))
    calib = evaluation.get("calibration")
    if calib:
        fig = Figure(figsize=(4, 4))
        ax = fig.subplots()
        points = [(p, f) for p, f in zip(calib["mean_predicted"], calib["fraction_positive"]) if p is not None]
        ax.plot([0, 1], [0, 1], ls="--", color="#999")
        if points:
            ax.plot(*zip(*points), marker="o")
        ax.set_xlabel("mean predicted probability")
        ax.set_ylabel("fraction positive")
        out.append(_figure("Calibration", fig))
    if evaluation.get("importance"):
        rows = evaluation["importance"][:15]
        fig = Figure(figsize=(6, 0.3 * len(rows) + 1))
        ax = fig.subplots()
        ax.barh(range(len(rows)), [r["importance"] for r in rows], xerr=[r["std"] for r in rows])
        ax.set_yticks(range(len(rows)), [r["feature"] for r in rows])
        ax.invert_yaxis()
        ax.set_xlabel("drop in score when shuffled")
        out.append(_figure("Permutation importance", fig))
    return out


def _figure(title: str, fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", dpi=80)
    data = base64.b64encode(buf.getvalue()).decode()
    return f"<h2>{html.escape(title)}</h2><img alt='{html.escape(title)}' src='data:image/png;base64,{data}'>"
