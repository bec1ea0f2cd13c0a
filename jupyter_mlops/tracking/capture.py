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


# How a kernel learns its notebook, in the order tried (``doctor`` prints this).
HOW_FOUND = ("MLOPS_NOTEBOOK_PATH; Jupyter Server's session (JPY_SESSION_NAME, or the kernel's connection file); "
             "VS Code (__vsc_ipynb_file__); the papermill, jupyter nbconvert or jupyter execute command that "
             "started the kernel")
# Tag of a run started in a kernel that could not tell its notebook; its value says what to set.
SOURCE_UNKNOWN_TAG = "mlops.source_unknown"
# Commands that start a kernel for the notebook(s) named on their command line.
LAUNCHERS = ("papermill", "nbconvert", "jupyter-execute")
# Options of those commands whose value is a notebook that is not the one executed.
_OUTPUT_OPTIONS = {"--output", "--output-dir", "-o"}


def _path_candidates():
    yield os.environ.get("MLOPS_NOTEBOOK_PATH")  # set by our pipeline runner and CLI
    ip = _ipython()
    if ip is not None:
        ns = ip.user_ns
        yield ns.get("__session__")  # ipykernel, from Jupyter Server's session
        yield ns.get("__vsc_ipynb_file__")  # VS Code
        yield os.environ.get("JPY_SESSION_NAME")
        yield _connection_file_session()
        yield _launcher_notebook(ip)
        return
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if main_file and not _is_installed_code(main_file):
        yield main_file  # a plain script; not the __main__ of pytest, papermill and the like


def unknown_notebook_note() -> str | None:
    """In a kernel that cannot tell its notebook, what to do about it (recorded on the run, shown
    by ``doctor``); None elsewhere: a script or an interactive shell has no notebook to find."""
    if os.environ.get("MLOPS_NOTEBOOK_PATH") or getattr(_ipython(), "kernel", None) is None:
        return None
    return ("this kernel could not tell its notebook (none of: " + HOW_FOUND + "); set MLOPS_NOTEBOOK_PATH="
            "/path/to/notebook.ipynb in the kernel's environment")


def _connection_file_session() -> str | None:
    """The ``jupyter_session`` Jupyter Server writes into the kernel's connection file: there even
    when the kernel's environment does not carry JPY_SESSION_NAME (a kernel started by a gateway)."""
    if "ipykernel" not in sys.modules:
        return None
    try:
        from ipykernel.kernelapp import IPKernelApp

        if not IPKernelApp.initialized():
            return None
        with open(IPKernelApp.instance().abs_connection_file) as fh:
            session = json.load(fh).get("jupyter_session")
    except (OSError, ValueError, AttributeError):
        return None
    return session if isinstance(session, str) and session else None


def _launcher_notebook(ip) -> str | None:
    """The notebook named on the command line of the process that started this kernel:
    ``papermill IN OUT``, ``jupyter nbconvert --execute A [B ...]``, ``jupyter execute A [B ...]``.
    Of several, the one in this kernel's folder whose code cells begin with those run so far."""
    parent = _parent_command()
    if parent is None:
        return None
    argv, cwd = parent
    head = " ".join(os.path.basename(a) for a in argv[:3])
    launcher = next((name for name in LAUNCHERS if name in head), None)
    if launcher is None:
        return None
    named = [os.path.join(cwd, a) for a in _positional_notebooks(argv[1:])]
    if launcher == "papermill":  # papermill IN OUT: the input comes first
        return named[0] if named else None
    named = [path for path in dict.fromkeys(named) if os.path.isfile(path)]
    if len(named) > 1:  # each notebook runs in a kernel of its own, started in the notebook's folder
        here = os.getcwd()
        named = [path for path in named if os.path.dirname(os.path.realpath(path)) == os.path.realpath(here)]
    if len(named) > 1:
        ran = [cell.strip() for cell in ip.history_manager.input_hist_raw[1:] if cell.strip()]
        named = [path for path in named if _code_cells(path)[:len(ran)] == ran]
    return named[0] if len(named) == 1 else None


def _parent_command() -> tuple[list[str], str] | None:
    """The parent process's command line and working folder (Linux's /proc), or None."""
    try:
        with open(f"/proc/{os.getppid()}/cmdline", "rb") as fh:
            argv = [a.decode(errors="replace") for a in fh.read().split(b"\0") if a]
        cwd = os.readlink(f"/proc/{os.getppid()}/cwd")
    except OSError:
        return None
    return argv, cwd


def _positional_notebooks(args: list[str]) -> list[str]:
    """``.ipynb`` arguments that are not options nor the value of an output option."""
    found, skip = [], False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in _OUTPUT_OPTIONS:
            skip = True
        elif not arg.startswith("-") and arg.endswith(".ipynb"):
            found.append(arg)
    return found


def _code_cells(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as fh:
            cells = json.load(fh).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return []
    sources = []
    for cell in cells:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            sources.append(("".join(source) if isinstance(source, list) else str(source)).strip())
    return [source for source in sources if source]  # an empty cell is never executed


def _is_installed_code(path: str) -> bool:
    import sysconfig

    path = os.path.realpath(path)
    roots = {sysconfig.get_path(name) for name in ("stdlib", "platstdlib", "purelib", "platlib")}
    return any(root and path.startswith(os.path.realpath(root) + os.sep) for root in roots)


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


ENV_USER = "MLOPS_USER"


def current_user() -> str | None:
    """Who a run, an approval or an alias is recorded as, in a local process: ``MLOPS_USER``, else
    ``user`` under ``[tool.jupyter_mlops]`` in the project's pyproject.toml (a shared service
    account, a CI job), else the OS user. A tracking server records its token's user instead."""
    from .. import config

    named = os.environ.get(ENV_USER, "").strip() or str(config.project_settings().get("user", "")).strip()
    if named:
        return named
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name on this system (e.g. no passwd entry)
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
