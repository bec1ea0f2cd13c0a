"""What a run records about where it ran: the notebook or script, git state, the environment,
papermill-injected parameters and dataset fingerprints. Everything here is best effort: a
capture that fails leaves its field empty and never stops the user's code."""
from __future__ import annotations

import ast
import functools
import getpass
import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

PAPERMILL_PARAMETERS_HEADER = "# Parameters"


def _ipython():
    if "IPython" not in sys.modules:
        return None
    from IPython import get_ipython

    return get_ipython()


def notebook_path() -> Path | None:
    """The notebook (or script) this process is running, or ``None`` when it cannot be told."""
    for candidate in _path_candidates():
        if not candidate:
            continue
        path = Path(candidate).expanduser()
        if path.is_file():
            return path.resolve()
        # Jupyter Server gives the path relative to its root; the kernel runs in the notebook's folder.
        if Path(path.name).is_file():
            return Path(path.name).resolve()
    return None


def _path_candidates():
    yield os.environ.get("MLOPS_NOTEBOOK_PATH")  # set by our pipeline runner and CLI
    ip = _ipython()
    if ip is not None:
        ns = ip.user_ns
        yield ns.get("__session__")  # ipykernel, from Jupyter Server's session
        yield ns.get("__vsc_ipynb_file__")  # VS Code
        yield os.environ.get("JPY_SESSION_NAME")
        yield _papermill_input_path()
        return
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if main_file and not _is_installed_code(main_file):
        yield main_file  # a plain script; not the __main__ of pytest, papermill and the like


def _is_installed_code(path: str) -> bool:
    import sysconfig

    path = os.path.realpath(path)
    roots = {sysconfig.get_path(name) for name in ("stdlib", "platstdlib", "purelib", "platlib")}
    return any(root and path.startswith(os.path.realpath(root) + os.sep) for root in roots)


def _papermill_input_path() -> str | None:
    """Under the papermill CLI the kernel's parent is ``papermill IN.ipynb OUT.ipynb ...``."""
    try:
        with open(f"/proc/{os.getppid()}/cmdline", "rb") as fh:
            argv = [a.decode(errors="replace") for a in fh.read().split(b"\0") if a]
    except OSError:
        return None
    if not any("papermill" in a for a in argv[:3]):
        return None
    notebooks = [a for a in argv if a.endswith(".ipynb")]
    if not notebooks:
        return None
    cwd = os.readlink(f"/proc/{os.getppid()}/cwd")
    return os.path.join(cwd, notebooks[0])


def papermill_parameters() -> dict:
    """Parameters papermill injected into this kernel (its ``# Parameters`` cell), as Python values."""
    ip = _ipython()
    if ip is None:
        return {}
    for source in ip.user_ns.get("In", []):
        if source.lstrip().startswith(PAPERMILL_PARAMETERS_HEADER):
            return _literal_assignments(source)
    return {}


def _literal_assignments(source: str) -> dict:
    values = {}
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return values
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return values


def file_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout


def git_state(folder: Path) -> dict:
    """``{commit, dirty, diff}`` of the repository holding ``folder``; empty outside a repository.

    ``dirty`` counts tracked changes and untracked files, but not the store's own folder
    (which carries a ``.gitignore`` of its own)."""
    commit = _git(["rev-parse", "HEAD"], folder)
    if commit is None:
        return {}
    status = _git(["status", "--porcelain"], folder) or ""
    dirty = bool(status.strip())
    diff = _git(["diff", "HEAD"], folder) if dirty else ""
    return {"commit": commit.strip(), "dirty": dirty, "diff": diff or "", "status": status}


def current_user() -> str | None:
    try:
        return getpass.getuser()
    except Exception:
        return None


@functools.lru_cache(maxsize=1)
def environment() -> dict:
    """Python version, platform and every installed distribution with its version (once per process)."""
    from importlib import metadata

    packages = {}
    for dist in metadata.distributions():
        name = dist.metadata.get("Name")
        if name:
            packages[name] = dist.version
    packages = dict(sorted(packages.items(), key=lambda kv: kv[0].lower()))
    info = {
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "packages": packages,
    }
    info["hash"] = hashlib.sha256(json.dumps(info, sort_keys=True).encode()).hexdigest()
    return info


def dataset_fingerprint(df) -> dict:
    """Content fingerprint, shape and schema of a DataFrame (or anything ``pandas.DataFrame`` accepts)."""
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        df = pd.DataFrame(df)
    digest = hashlib.sha256()
    digest.update(json.dumps([[str(c), str(t)] for c, t in df.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(df, index=True).values.tobytes())
    return {
        "fingerprint": digest.hexdigest(),
        "rows": int(df.shape[0]),
        "columns": int(df.shape[1]),
        "schema": {str(c): str(t) for c, t in df.dtypes.items()},
    }
