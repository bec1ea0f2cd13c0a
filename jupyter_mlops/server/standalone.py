"""``jupyter mlops server``: the team's tracking server, a Jupyter ServerApp with only this extension.

The same REST handlers the JupyterLab extension mounts (routes.py), each behind a role check
(auth.py), plus the remote store's endpoints (store_api.py), the MLflow-compatible API
(mlflow_routes.py), user management (admin.py), ``/healthz``, Jupyter Server's Prometheus
``/metrics``, and the web UI at ``/`` (web_page.py; ``/api-index`` lists the APIs). No kernels,
terminals or contents: only Jupyter's ``api`` service is mounted, and the Authorizer refuses every
Jupyter resource but reading it.

Bound to 127.0.0.1 unless told otherwise. Whatever the address, a request whose ``Host`` is not
one of the server's names (``localhost``, a loopback address, ``--allowed-host``) is refused
(Jupyter Server's own DNS-rebinding check, kept on), and so is a cross-origin request from a
browser unless its origin is allowed (``--allow-origin``). The server reads no Jupyter config
files: a ``c.ServerApp.allow_origin = '*'`` meant for someone's JupyterLab must not open it.
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.serverapp import ServerApp
from jupyter_server.utils import url_path_join
from traitlets.config import Config

from .. import __version__, config
from ..tracking.store import open_store
from . import admin, auth, mlflow_routes, store_api, users, web_page, whoami
from .handlers import API, _pool
from .roles import DEFAULT_HOST, DEFAULT_PORT

EXTENSION = "jupyter_mlops.server.standalone"


class MlopsServerApp(ServerApp):
    """Jupyter Server with Jupyter's ``api`` service only, and this package's standalone extension only."""

    name = "jupyter-mlops-server"
    description = "The jupyter_mlops tracking server"
    default_services = ("api", "auth")

    def load_config_file(self, *args, **kwargs) -> None:
        """No Jupyter config files: every setting comes from ``jupyter mlops server``'s options."""

    def init_server_extensions(self) -> None:
        self.jpserver_extensions = {EXTENSION: True}  # not JupyterLab's or any other installed one
        super().init_server_extensions()


def _jupyter_server_extension_points():
    return [{"module": EXTENSION}]


def _load_jupyter_server_extension(server_app) -> None:
    web_app = server_app.web_app
    base = web_app.settings["base_url"]
    web_app.settings["mlops_tracking_uri"] = server_app.config.get("MlopsServer", {}).get("store_uri")
    rules = [(url_path_join(base, API, pattern) + "$", *rest) for pattern, *rest in
             auth.authorized_lab_routes() + admin.routes() + store_api.routes() + whoami.routes()]
    rules += [(url_path_join(base, pattern) + "$", *rest) for pattern, *rest in mlflow_routes.routes()]
    rules += [(url_path_join(base, "healthz") + "$", HealthHandler),
              (url_path_join(base, "api-index") + "$", IndexHandler)]
    rules += [(url_path_join(base, pattern) + "$", *rest) for pattern, *rest in web_page.routes(api_index())]
    web_app.add_handlers(".*$", rules)
    server_app.log.info("jupyter_mlops: tracking server on %s", server_app.connection_url)


class HealthHandler(JupyterHandler):
    """``{"status": "ok"}`` while the store answers, else 503: for load balancers, no token needed."""

    @allow_unauthenticated
    async def get(self):
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        try:
            version = await asyncio.get_running_loop().run_in_executor(_pool, _schema_version,
                                                                       self.settings["mlops_tracking_uri"])
        except Exception as exc:  # noqa: BLE001 - the store is down, whatever the driver's error: say so
            self.log.warning("jupyter_mlops: health check: the store does not answer: %s", exc)
            self.set_status(503)
            self.finish(json.dumps({"status": "unavailable", "message": "the tracking store does not answer"}))
            return
        self.finish(json.dumps({"status": "ok", "schema_version": version}))


def _schema_version(uri: str | None) -> int:
    return open_store(uri).schema_version()


def api_index() -> dict:
    """What this server is and where its APIs are (``/api-index``, and ``/`` asked for JSON)."""
    return {"service": "jupyter_mlops tracking server", "version": __version__, "web_ui": "/",
            "health": "/healthz", "metrics": "/metrics", "api": f"/{API}/", "whoami": f"/{API}/whoami",
            "mlflow": "/api/2.0/mlflow/", "mlflow_artifacts": "/api/2.0/mlflow-artifacts/"}


class IndexHandler(JupyterHandler):
    """``api_index()`` as JSON (no data: no token needed)."""

    @allow_unauthenticated
    def get(self):
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(api_index()))


def server_config(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, store_uri: str | None = None,
                  allowed_hosts: tuple[str, ...] = (), allow_origin: str = "") -> Config:
    """The ServerApp configuration of ``jupyter mlops server`` (also what the tests start)."""
    c = Config()
    c.ServerApp.ip = host
    c.ServerApp.port = port
    c.ServerApp.port_retries = 0  # the port asked for, or an error: clients are pointed at it
    c.ServerApp.open_browser = False
    c.ServerApp.allow_remote_access = False  # the Host check stays on whatever the address
    c.ServerApp.local_hostnames = ["localhost", *allowed_hosts]
    c.ServerApp.allow_origin = allow_origin
    c.ServerApp.identity_provider_class = auth.StoreIdentityProvider
    c.StoreIdentityProvider.store_uri = store_uri
    c.ServerApp.authorizer_class = auth.RoleAuthorizer
    c.ServerApp.jpserver_extensions = {EXTENSION: True}
    c.ServerApp.terminals_enabled = False
    c.ServerApp.allow_root = True  # no kernels or terminals: nothing runs code for a client
    c.ServerApp.root_dir = tempfile.mkdtemp(prefix="mlops-server-")  # no contents are served from it
    c.ServerApp.default_url = "/"
    # gzip for clients that accept it (text, JSON, the web page's scripts: 2 MB to 0.6 MB); tornado
    # leaves small and binary answers (artifacts) as they are.
    c.ServerApp.tornado_settings = {"compress_response": True}
    c.MlopsServer.store_uri = store_uri
    return c


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, store: str | None = None, artifacts: str | None = None,
          allowed_hosts: tuple[str, ...] = (), allow_origin: str = "") -> None:
    """Run the tracking server until SIGINT/SIGTERM."""
    from ..registry import approval

    if artifacts:
        os.environ[config.ENV_ARTIFACTS] = artifacts
    if store:
        config.set_tracking_uri(store)
    uri = config.get_tracking_uri()
    store = open_store(uri)  # migrated (and a bad URI refused) before the port opens
    if not users.list_users(store):
        print("jupyter mlops server: the store has no users yet, so every request will be refused; add one "
              "with: jupyter mlops users add NAME --role admin", file=sys.stderr)
    approval.separate_duties_by_default(True)
    app = MlopsServerApp(config=server_config(host, port, uri, tuple(allowed_hosts), allow_origin))
    app.initialize(argv=[], find_extensions=False)
    app.start()
