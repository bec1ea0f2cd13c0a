"""A throwaway PostgreSQL server for the tests: initdb in a temp folder, a free loopback port.

The server binaries come from Debian's ``postgresql`` package (``make test`` installs it when
``initdb`` is missing). PostgreSQL refuses to run as root, so as root the server runs as the
``postgres`` user the package creates.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import psycopg  # the postgresql extra, which CI installs: missing, every PostgreSQL test fails

from .helpers.net import free_port, wait_for_port


def pg_bin(name: str) -> str:
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(folder, name)):
            return os.path.join(folder, name)
    found = shutil.which(name)
    if found:
        return found
    raise RuntimeError(f"PostgreSQL's {name} not found: install it (apt-get install -y postgresql), as make test does")


class PostgresServer:
    def __init__(self, folder: Path):
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0

    def _run(self, *argv: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_postgres else []
        subprocess.run([*prefix, *argv], check=True, capture_output=True, text=True)

    def start(self) -> PostgresServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run(pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.resume()
        return self

    def resume(self) -> None:
        """Start the (already initialised) server again, on the same port."""
        self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "server.log"), "-w", "-t", "120", "start",
                  "-o", f"-p {self.port} -h 127.0.0.1 -k {self.folder} -c fsync=off -c max_connections=200")

    def stop(self) -> None:
        try:
            self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        except subprocess.CalledProcessError:
            pass

    def new_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"


def wait_ready(server: PostgresServer, timeout: float = 60) -> None:
    """Return once the server accepts connections (``pg_ctl -w`` has waited already; a ceiling, not a budget)."""
    wait_for_port(server.port, log=server.folder / "server.log", timeout=timeout)
