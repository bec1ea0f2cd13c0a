"""``jupyter mlops doctor``: what this machine's jupyter_mlops will use, and what is wrong with it.

Each check prints one line, ``ok`` or ``PROBLEM``, and every problem says how to fix it.
"""
from __future__ import annotations

import importlib.util
import os

from . import config


def checks() -> list[tuple[bool, str]]:
    from .tracking.engine import mask_password

    results: list[tuple[bool, str]] = []
    uri, source = config.tracking_uri_and_source()
    results.append((True, f"tracking store  {mask_password(uri)}  (from {source})"))
    if uri.startswith("postgresql") and importlib.util.find_spec("psycopg") is None:
        results.append((False, 'the PostgreSQL driver psycopg is missing: pip install "jupyter_mlops[postgresql]"'))
    else:
        results.append(_store_check(uri))
    root = config.get_artifact_root(uri)
    folder = root if root.exists() else root.parent
    writable = os.access(folder, os.W_OK) if folder.exists() else os.access(folder.parent, os.W_OK)
    results.append((writable, f"artifacts       {root}" + ("" if writable else
                    f"  not writable: set {config.ENV_ARTIFACTS} to a folder you can write")))
    results.append(_kernel_check())
    return results


def _store_check(uri: str) -> tuple[bool, str]:
    from .tracking.store import open_store

    try:
        store = open_store(uri)
        return True, f"store reachable, schema version {store.schema_version()}"
    except Exception as exc:  # the message of a StoreError already says what to do
        message = " ".join(str(exc).split())
        hint = "" if not uri.startswith("postgresql") else (
            f"; check that the server runs and that host, port, user and database in {config.ENV_URI} are right")
        return False, f"store not usable: {message}{hint}"


def _kernel_check() -> tuple[bool, str]:
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        spec = KernelSpecManager().get_kernel_spec("python3")
    except Exception as exc:
        return False, f"no python3 kernel for pipelines ({exc}): pip install ipykernel"
    return True, f"python3 kernel  {spec.display_name} ({spec.resource_dir})"


def run() -> int:
    results = checks()
    for ok, line in results:
        print(f"{'ok     ' if ok else 'PROBLEM'}  {line}")
    return 0 if all(ok for ok, _ in results) else 1
