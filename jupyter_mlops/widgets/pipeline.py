"""A live table of a pipeline's steps, shown in the cell output while ``mlops.run_pipeline`` runs."""
from __future__ import annotations

import html

COLOURS = {"PENDING": "#eeeeee", "RUNNING": "#fff59d", "RETRY": "#ffe0b2", "FINISHED": "#c8e6c9",
           "CACHED": "#bbdefb", "SKIPPED": "#e0e0e0", "FAILED": "#ffcdd2", "KILLED": "#ffccbc"}


class PipelineProgressWidget:
    """Progress callbacks of the runner, drawn as an HTML table in an ``ipywidgets.HTML``."""

    def __init__(self, names: list[str]):
        import ipywidgets

        self.rows = {name: {"status": "PENDING", "detail": "", "seconds": ""} for name in names}
        self.widget = ipywidgets.HTML()
        self._render()

    def _render(self) -> None:
        cells = []
        for name, row in self.rows.items():
            colour = COLOURS.get(row["status"], "#ffffff")
            cells.append(
                f"<tr><td>{html.escape(name)}</td>"
                f"<td style='background:{colour};padding:0 6px'>{row['status']}</td>"
                f"<td>{row['seconds']}</td><td>{html.escape(row['detail'])}</td></tr>"
            )
        self.widget.value = ("<table><tr><th>step</th><th>status</th><th>s</th><th>detail</th></tr>"
                             + "".join(cells) + "</table>")

    def started(self, name: str, attempt: int) -> None:
        self.rows[name].update(status="RUNNING", detail=f"attempt {attempt}" if attempt > 1 else "")
        self._render()

    def retrying(self, name: str, state, outcome) -> None:
        self.rows[name].update(status="RETRY", detail=outcome.describe())
        self._render()

    def finished(self, name: str, state) -> None:
        detail = state.outcome.describe() if state.status == "FAILED" and state.outcome else state.note
        seconds = f"{state.seconds:.1f}" if state.seconds else ""
        self.rows[name].update(status=state.status, detail=detail, seconds=seconds)
        self._render()

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)
