"""ipywidgets views onto the store, for use inside notebooks.

``live()`` charts the active run while it trains, ``runs()`` searches, pages and compares runs,
``approve(run)`` records a decision; each is a thin door onto the same API as the CLI.
"""
from __future__ import annotations

from ..extras import require


def live(run=None, interval: float = 1.0, keys=None):
    require("ipywidgets", "notebook widgets")
    from .live_chart import live as _live

    return _live(run, interval=interval, keys=keys)


def runs(filter: str | None = None, experiment: str | None = None, max_results: int = 200):
    require("ipywidgets", "notebook widgets")
    from .runs_browser import runs as _runs

    return _runs(filter=filter, experiment=experiment, max_results=max_results)


def approve(run):
    require("ipywidgets", "notebook widgets")
    from .approval_form import approve as _approve

    return _approve(run)
