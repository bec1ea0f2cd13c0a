"""``mlops.widgets.runs(filter=...)``: a runs table to search, pick runs from, and compare them.

Comparing shows the parameters side by side with the differing ones highlighted, and every
metric's history overlaid per key, the two questions asked first when two runs disagree.
"""
from __future__ import annotations

import html
import math

from ..exceptions import MlopsError
from . import charts

DIFF_COLOUR = "#fff3b0"
STATUS_COLOURS = {"RUNNING": "#fff59d", "FINISHED": "#c8e6c9", "FAILED": "#ffcdd2", "KILLED": "#ffccbc",
                  "CRASHED": "#ffab91", "CACHED": "#bbdefb", "SKIPPED": "#e0e0e0"}


class RunsBrowser:
    def __init__(self, filter: str | None = None, experiment: str | None = None, max_results: int = 200):
        import ipywidgets as w

        self.experiment, self.max_results = experiment, max_results
        self.filter = w.Text(value=filter or "", placeholder="metrics.auc > 0.9 and params.model = 'rf'",
                             description="filter", layout=w.Layout(width="60%"))
        self.search_button = w.Button(description="Search", icon="search")
        self.selection = w.SelectMultiple(options=[], rows=10, description="runs", layout=w.Layout(width="95%"))
        self.compare_button = w.Button(description="Compare selected", icon="columns")
        self.status = w.HTML()
        self.table = w.HTML()
        self.comparison = w.HTML()
        self.chart = w.Image(format="png")
        self.search_button.on_click(lambda _: self.search())
        self.filter.continuous_update = False  # search on Enter or leaving the box, not per keystroke
        self.filter.observe(lambda _: self.search(), names="value")
        self.compare_button.on_click(lambda _: self.compare())
        self.widget = w.VBox([w.HBox([self.filter, self.search_button]), self.status, self.table,
                              self.selection, self.compare_button, self.comparison, self.chart])
        self.frame = None
        self.search()

    def search(self) -> None:
        from ..api import search_runs

        try:
            self.frame = search_runs(experiment=self.experiment, filter=self.filter.value or None,
                                     max_results=self.max_results)
        except MlopsError as exc:
            self.status.value = f"<span style='color:#b00020'>{html.escape(str(exc))}</span>"
            return
        self.status.value = f"{len(self.frame)} runs"
        self.selection.options = [(self._label(row), row["run_id"]) for _, row in self.frame.iterrows()]
        self.table.value = self._table_html()

    @staticmethod
    def _label(row) -> str:
        return f"{row['run_id'][:8]}  {row['status']:<8}  {row.get('name') or ''}"

    def _table_html(self) -> str:
        df = self.frame
        metric_cols = [c for c in df.columns if c.startswith("metrics.")][:6]
        head = "".join(f"<th>{html.escape(c)}</th>" for c in ["run", "name", "status", *metric_cols])
        body = []
        for _, row in df.head(50).iterrows():
            colour = STATUS_COLOURS.get(row["status"], "#fff")
            cells = [row["run_id"][:8], row.get("name") or "",
                     f"<span style='background:{colour};padding:0 4px'>{row['status']}</span>"]
            cells += [_fmt(row[c]) for c in metric_cols]
            body.append("<tr>" + "".join(f"<td>{c if i == 2 else html.escape(str(c))}</td>"
                                         for i, c in enumerate(cells)) + "</tr>")
        return f"<table><tr>{head}</tr>{''.join(body)}</table>"

    def compare(self) -> None:
        from ..api import get_run
        from ..tracking.store import open_store

        chosen = list(self.selection.value)
        if len(chosen) < 2:
            self.comparison.value = "select two or more runs to compare"
            return
        runs = [get_run(r) for r in chosen]
        self.comparison.value = param_diff_html(runs)
        store = open_store()
        series: dict = {}
        for run in runs:
            for key in run.metrics:
                points = store.metric_history(run.id, key)
                series.setdefault(key, {})[run.id[:8]] = ([p[0] for p in points], [p[1] for p in points])
        self.chart.value = charts.series_png(series)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def param_diff_html(runs) -> str:
    """Parameters as rows, runs as columns; rows whose values differ are highlighted."""
    keys = sorted({k for run in runs for k in run.params})
    head = "".join(f"<th>{html.escape(r.id[:8])}</th>" for r in runs)
    rows = []
    for key in keys:
        values = [run.params.get(key) for run in runs]
        differs = len(set(values)) > 1
        style = f" style='background:{DIFF_COLOUR}' class='mlops-differs'" if differs else ""
        cells = "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in values)
        rows.append(f"<tr{style}><th>{html.escape(key)}</th>{cells}</tr>")
    return f"<table><tr><th>param</th>{head}</tr>{''.join(rows)}</table>"


def _fmt(value) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return "" if value is None else str(value)


def runs(filter: str | None = None, experiment: str | None = None, max_results: int = 200) -> RunsBrowser:
    return RunsBrowser(filter=filter, experiment=experiment, max_results=max_results)
