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
        if results[-1][0]:
            results.append(_notebook_path_check(uri))
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
    except Exception as exc:  # noqa: BLE001 - the message of a StoreError already says what to do
        message = " ".join(str(exc).split())
        hint = "" if not uri.startswith("postgresql") else (
            f"; check that the server runs and that host, port, user and database in {config.ENV_URI} are right")
        return False, f"store not usable: {message}{hint}"


def _notebook_path_check(uri: str, recent: int = 50) -> tuple[bool, str]:
    """How a run learns its notebook, and whether the newest runs started in kernels that could not
    tell theirs (they carry the ``mlops.source_unknown`` tag): a problem when the newest run is one."""
    from sqlalchemy import select

    from .tracking import capture
    from .tracking import schema as s
    from .tracking.store import open_store

    r, t = s.runs, s.tags
    with open_store(uri).engine.connect() as conn:
        newest = select(r.c.uuid, r.c.name, r.c.start_time).order_by(r.c.start_time.desc(), r.c.uuid).limit(recent)
        runs = conn.execute(newest).all()
        unknown = set(conn.execute(select(t.c.run_uuid).where(
            t.c.key == capture.SOURCE_UNKNOWN_TAG, t.c.run_uuid.in_([run.uuid for run in runs]))).scalars())
    line = f"notebook path   found from {capture.HOW_FOUND}"
    if not unknown:
        return True, line
    first = next(run for run in runs if run.uuid in unknown)
    said = (f"; {len(unknown)} of the last {len(runs)} runs (newest: {first.uuid[:8]} {first.name!r}) were "
            "started in a kernel that could not tell its notebook: set MLOPS_NOTEBOOK_PATH=/path/to/notebook.ipynb "
            "in that kernel's environment (kernel.json \"env\", or os.environ before the run starts)")
    return runs[0].uuid not in unknown, line + said


def _kernel_check() -> tuple[bool, str]:
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        spec = KernelSpecManager().get_kernel_spec("python3")
    except Exception as exc:  # noqa: BLE001 - a broken kernelspec setup is what doctor reports
        return False, f"no python3 kernel for pipelines ({exc}): pip install ipykernel"
    return True, f"python3 kernel  {spec.display_name} ({spec.resource_dir})"


def run() -> int:
    results = checks()
    for ok, line in results:
        print(f"{'ok     ' if ok else 'PROBLEM'}  {line}")
    return 0 if all(ok for ok, _ in results) else 1
