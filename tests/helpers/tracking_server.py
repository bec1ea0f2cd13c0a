"""``jupyter mlops server`` as a real process on a free port, with one user per role, for tests and benchmarks."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from .net import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
ROLES = {"ada": "admin", "vic": "viewer", "eve": "editor", "ann": "approver", "abe": "approver"}


def server_env(**extra) -> dict:
    """This interpreter's packages, no store settings inherited from the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "MLFLOW_"))}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update({k: str(v) for k, v in extra.items()})
    return env


class TrackingServer(ServerProcess):
    """The server on ``store`` (a URI or path); ``tokens[name]`` for each user of ``roles``."""

    def __init__(self, store: str, log: Path, *, roles: dict[str, str] | None = None, args: tuple[str, ...] = (),
                 cwd: Path | None = None, env: dict | None = None, port: int | None = None):
        from jupyter_mlops.server import users
        from jupyter_mlops.tracking.store import open_store

        handle = open_store(store)
        existing = {u["name"] for u in users.list_users(handle)}
        self.tokens = {}
        for name, role in (ROLES if roles is None else roles).items():
            if name in existing:
                users.remove_user(handle, name)
            self.tokens[name] = users.add_user(handle, name, role, "tests")
        self.store = store
        super().__init__([sys.executable, "-m", "jupyter_mlops.cli", "server", "--store", store,
                          "--port", "{port}", *args], "/healthz", log, cwd=cwd, env=env or server_env(), port=port)

    def headers(self, user: str, **extra) -> dict:
        return {"Authorization": f"Bearer {self.tokens[user]}", **extra}
