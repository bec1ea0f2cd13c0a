"""The jupyter_server extension behind the JupyterLab sidebar: a REST API under ``/mlops/api/``.

Enabled on install by ``etc/jupyter/jupyter_server_config.d/jupyter_mlops.json`` in the wheel.
The store is the one configured where the server starts (``MLOPS_TRACKING_URI``, the nearest
pyproject.toml, or ``./.mlops/mlops.db``), like for any other jupyter_mlops door.
"""
from __future__ import annotations


def _jupyter_server_extension_points():
    return [{"module": "jupyter_mlops.server"}]


def _load_jupyter_server_extension(server_app):
    from .handlers import API
    from .routes import setup_handlers

    setup_handlers(server_app.web_app)
    server_app.log.info("jupyter_mlops: REST API at %s", API)
    from . import scheduler_thread

    try:
        scheduler_thread.start(server_app)
    except ValueError as exc:  # a mistake in the JupyterMlops settings: said once, the server goes on without it
        server_app.log.error("jupyter_mlops: no scheduler in this server: %s", exc)
