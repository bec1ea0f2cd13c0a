"""``mlops.widgets.live()``: the active run's metrics as a chart that redraws while the cell runs.

It reads what the metric writer has already flushed (about once a second) from the store, local
or the tracking server's, on a background thread, so ``log_metric`` does exactly what it does
without the chart; the chart is redrawn at most once per ``interval`` and only when new points
arrived. Each metric gets its own axes, titled "step" and the metric's name, with whole-number
step ticks and the run's name in a legend.
"""
from __future__ import annotations

import html
import threading
import time

from ..tracking.store import POINTS_PER_READ
from . import charts

MAX_POINTS_DRAWN = 1000


class LiveMetrics:
    def __init__(self, run_id: str, interval: float = 1.0, keys: list[str] | None = None, store=None):
        import ipywidgets

        from ..tracking.store import open_store

        self.store = store or open_store()
        self.run_id = self.store.resolve_run_id(run_id)
        name = self.store.get_run(self.run_id).name
        self.run_name = charts.legend_names([(self.run_id, name)])[self.run_id]
        self.figure = None  # the last chart drawn, a matplotlib Figure
        self.interval = interval
        self.keys = set(keys) if keys else None
        self.series: dict[str, tuple[list, list]] = {}
        self.redraws = 0
        self._drawn_status = None
        self._last_id = 0
        self._stop = threading.Event()
        self.image = ipywidgets.Image(format="png", layout=ipywidgets.Layout(max_width="100%"))
        self.label = ipywidgets.HTML(f"run {self.run_id[:8]}: waiting for metrics")
        self.widget = ipywidgets.VBox([self.label, self.image])
        self._thread: threading.Thread | None = None

    def start(self) -> LiveMetrics:
        self._thread = threading.Thread(target=self._loop, name="mlops-live-chart", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                running = self.refresh()
            except Exception as exc:  # noqa: BLE001 - the chart must never take the notebook down
                self.label.value = html.escape(f"live chart stopped: {type(exc).__name__}: {exc}")
                return
            if not running:
                return

    def refresh(self) -> bool:
        """Read new points, redraw if any; False once the run has ended (after a last read)."""
        status, rows = self.store.points_since(self.run_id, self._last_id)
        for point_id, key, step, value in rows:
            self._last_id = point_id
            if self.keys is not None and key not in self.keys:
                continue
            steps, values = self.series.setdefault(key, ([], []))
            steps.append(step)
            values.append(value)
        if rows or self.redraws == 0 or status != self._drawn_status:  # the final status is always shown
            self._draw(status)
        return status == "RUNNING" or len(rows) == POINTS_PER_READ  # more may be waiting

    def _draw(self, status: str) -> None:
        drawn = {key: {self.run_name: charts.thin(st, vals, MAX_POINTS_DRAWN)} for key, (st, vals) in self.series.items()}
        self.figure = charts.series_figure(drawn)
        self.image.value = charts.png(self.figure)
        self.image.width = charts.shown_width(self.figure)
        latest = ", ".join(f"{k}={v[1][-1]:.4g}" for k, v in sorted(self.series.items()) if v[1])
        points = sum(len(v[0]) for v in self.series.values())
        self.label.value = html.escape(f"run {self.run_id[:8]} {status} · {points} points · "
                                       f"{time.strftime('%H:%M:%S')} · {latest}")
        self.redraws += 1
        self._drawn_status = status

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def live(run=None, interval: float = 1.0, keys: list[str] | None = None) -> LiveMetrics:
    """A live chart of ``run`` (default: the active run), updating until the run ends."""
    from ..tracking import lifecycle

    if run is None:
        run = lifecycle.active_run()
        if run is None:
            from ..exceptions import NoActiveRunError

            raise NoActiveRunError("mlops.widgets.live(): no active run; start one first or pass run=")
    run_id = run if isinstance(run, str) else run.id
    return LiveMetrics(run_id, interval=interval, keys=keys).start()
