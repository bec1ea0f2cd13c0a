"""``mlops.widgets.runs(filter=...)``: a paged runs table to search, pick runs from, and compare them.

It says how many runs the filter keeps ("200 of 10,218 runs", counted by the database) and pages
through them ``max_results`` at a time; the metrics, params and tags shown as columns are chosen
from the keys of the runs the filter keeps. Comparing shows the parameters side by side with the
differing ones highlighted, and every metric's history overlaid per key with runs named by their
names, the two questions asked first when two runs disagree. Every value from the store is escaped.
"""
from __future__ import annotations

import html
import math

from ..exceptions import MlopsError
from . import charts, runs_query

DIFF_COLOUR = "#fff3b0"
ERROR_COLOUR = "#b00020"
STATUS_COLOURS = {"RUNNING": "#fff59d", "FINISHED": "#c8e6c9", "FAILED": "#ffcdd2", "KILLED": "#ffccbc",
                  "CRASHED": "#ffab91", "CACHED": "#bbdefb", "SKIPPED": "#e0e0e0"}
DEFAULT_COLUMNS = {"metrics": 6, "params": 4, "tags": 0}  # chosen until the user picks columns
TABLE_HEIGHT = "420px"


class RunsBrowser:
    def __init__(self, filter: str | None = None, experiment: str | None = None, max_results: int = 200,
                 store=None):
        import ipywidgets as w

        from ..tracking.store import open_store

        self.store = store or open_store()
        self.experiment = experiment
        self.max_results = runs_query.check_page_size(max_results)
        self.page, self.total, self.runs = 0, 0, []
        self.figure = None  # the last comparison chart, a matplotlib Figure
        self.filter = w.Text(value=filter or "", placeholder="metrics.auc > 0.9 and params.model = 'rf'",
                             description="filter", layout=w.Layout(width="60%"))
        self.search_button = w.Button(description="Search", icon="search")
        self.status = w.HTML()
        self.previous_button = w.Button(description="Previous", icon="chevron-left", disabled=True)
        self.next_button = w.Button(description="Next", icon="chevron-right", disabled=True)
        self.page_label = w.HTML()
        self.columns = w.SelectMultiple(options=[], rows=6, description="columns", layout=w.Layout(width="60%"))
        self.table = w.HTML()
        self.selection = w.SelectMultiple(options=[], rows=10, description="runs", layout=w.Layout(width="95%"))
        self.compare_button = w.Button(description="Compare selected", icon="columns")
        self.comparison = w.HTML()
        self.chart = w.Image(format="png", layout=w.Layout(max_width="100%"))
        self._user_chose_columns = False
        self._setting_columns = False
        self.search_button.on_click(lambda _: self.search())
        self.filter.continuous_update = False  # search on Enter or leaving the box, not per keystroke
        self.filter.observe(lambda _: self.search(), names="value")
        self.previous_button.on_click(lambda _: self.show_page(self.page - 1))
        self.next_button.on_click(lambda _: self.show_page(self.page + 1))
        self.columns.observe(self._columns_chosen, names="value")
        self.compare_button.on_click(lambda _: self.compare())
        self.widget = w.VBox([w.HBox([self.filter, self.search_button]),
                              w.HBox([self.status, self.previous_button, self.next_button, self.page_label]),
                              self.columns, self.table, self.selection, self.compare_button,
                              self.comparison, self.chart])
        self.search()

    # -- reading -----------------------------------------------------------------------------------
    def search(self) -> None:
        """The first page of what the filter keeps, and the column chooser filled from its runs' keys."""
        if not self._load(0):
            return
        try:
            keys = runs_query.column_keys(self.store, self.experiment, self.filter.value or None)
        except MlopsError as exc:
            self._show_error(exc)
            return
        self._offer_columns(keys)
        self._render_table()

    def show_page(self, page: int) -> None:
        if self._load(max(page, 0)):
            self._render_table()

    def _load(self, page: int) -> bool:
        try:
            found = runs_query.runs_page(self.store, self.experiment, self.filter.value or None, page,
                                         self.max_results)
        except MlopsError as exc:  # a filter mistake is shown where it was typed, not raised
            self._show_error(exc)
            return False
        self.page, self.total, self.runs = page, found["total"], found["runs"]
        first = page * self.max_results
        self.status.value = f"<b>{len(self.runs):,} of {self.total:,} runs</b>"
        pages = max(-(-self.total // self.max_results), 1)
        shown = f"{first + 1:,}-{first + len(self.runs):,}" if self.runs else "none"
        self.page_label.value = f"runs {shown} · page {page + 1:,} of {pages:,}"
        self.previous_button.disabled = page == 0
        self.next_button.disabled = first + len(self.runs) >= self.total
        names = charts.legend_names([(run["run_id"], run["name"]) for run in self.runs])
        self.selection.options = [(f"{run['run_id'][:8]}  {run['status']:<8}  {names[run['run_id']]}", run["run_id"])
                                  for run in self.runs]
        return True

    def _show_error(self, exc: Exception) -> None:
        self.status.value = f"<span style='color:{ERROR_COLOUR}'>{html.escape(str(exc))}</span>"

    # -- columns -----------------------------------------------------------------------------------
    def _offer_columns(self, keys: dict[str, list[str]]) -> None:
        options = [f"{kind}.{key}" for kind in runs_query.KINDS for key in keys[kind]]
        if self._user_chose_columns:
            chosen = [c for c in self.columns.value if c in options]
        else:
            chosen = [f"{kind}.{key}" for kind in runs_query.KINDS for key in keys[kind][:DEFAULT_COLUMNS[kind]]]
        self._setting_columns = True
        try:
            self.columns.value = ()
            self.columns.options = options
            self.columns.value = tuple(chosen)
        finally:
            self._setting_columns = False

    def _columns_chosen(self, _change) -> None:
        if not self._setting_columns:
            self._user_chose_columns = True
            self._render_table()

    def shown_columns(self) -> list[str]:
        return ["run", "name", "status", *self.columns.value]

    def _render_table(self) -> None:
        chosen = list(self.columns.value)
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.shown_columns())
        body = []
        for run in self.runs:
            status = run["status"] or ""
            colour = STATUS_COLOURS.get(status, "#fff")
            cells = [f"<td title='{html.escape(run['run_id'])}'>{html.escape(run['run_id'][:8])}</td>",
                     f"<td>{html.escape(run['name'] or '')}</td>",
                     f"<td><span style='background:{colour};padding:0 4px'>{html.escape(status)}</span></td>"]
            for column in chosen:
                kind, key = column.split(".", 1)
                cells.append(f"<td>{html.escape(_fmt(run[kind].get(key)))}</td>")
            body.append(f"<tr>{''.join(cells)}</tr>")
        self.table.value = (f"<div style='max-height:{TABLE_HEIGHT};overflow:auto'><table>"
                            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")

    # -- comparing ---------------------------------------------------------------------------------
    def compare(self) -> None:
        from ..api import get_run

        chosen = list(self.selection.value)
        if len(chosen) < 2:
            self.comparison.value = "select two or more runs to compare"
            return
        runs = [get_run(r) for r in chosen]
        names = charts.legend_names([(run.id, run.name) for run in runs])
        self.comparison.value = param_diff_html(runs, names)
        series: dict = {}
        for run in runs:
            for key in run.metrics:
                points = self.store.metric_history(run.id, key)
                series.setdefault(key, {})[names[run.id]] = ([p[0] for p in points], [p[1] for p in points])
        self.figure = charts.series_figure(series)
        self.chart.value = charts.png(self.figure)
        self.chart.width = charts.shown_width(self.figure)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def param_diff_html(runs, names: dict[str, str] | None = None) -> str:
    """Parameters as rows, runs as columns (headed by their names); rows whose values differ are highlighted."""
    names = names or charts.legend_names([(run.id, run.name) for run in runs])
    keys = sorted({k for run in runs for k in run.params})
    head = "".join(f"<th>{html.escape(names[r.id])}</th>" for r in runs)
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
