"""Where the tracking store lives, found the way git finds ``.git``.

Precedence, highest first: ``set_tracking_uri()`` in this process, the ``MLOPS_TRACKING_URI``
environment variable, ``tracking_uri`` under ``[tool.jupyter_mlops]`` in the nearest
``pyproject.toml``, the nearest existing ``.mlops/`` folder in the start folder or a parent (never
above the user's home), and finally a new ``.mlops/`` at the project root: the nearest folder
holding ``pyproject.toml`` or ``.git``, else the start folder. So a command run from a sub-folder
or a parent folder of a project uses the project's one store instead of quietly making another.
Kept free of heavy imports: ``import jupyter_mlops`` must stay fast.
"""
from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DIR = ".mlops"
DEFAULT_DB = "mlops.db"
ENV_URI = "MLOPS_TRACKING_URI"
ENV_ARTIFACTS = "MLOPS_ARTIFACT_URI"

_explicit_uri: str | None = None

# Called after the URI changes, so layers above (the store's cache of open engines) can let go of
# what they opened for the old one without this module importing them.
_on_uri_change: list = []


def on_tracking_uri_change(callback) -> None:
    """Register ``callback()`` to run whenever :func:`set_tracking_uri` changes the store."""
    if callback not in _on_uri_change:
        _on_uri_change.append(callback)


def set_tracking_uri(uri: str | os.PathLike | None) -> None:
    """Point this process at another store (a path or an SQLAlchemy URL); ``None`` restores the default."""
    global _explicit_uri
    _explicit_uri = None if uri is None else str(uri)
    for callback in _on_uri_change:
        callback()


def find_pyproject(start: Path | None = None) -> Path | None:
    """The nearest ``pyproject.toml`` from ``start`` (default: cwd) upwards."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def project_settings(start: Path | None = None) -> dict:
    """The ``[tool.jupyter_mlops]`` table of the nearest pyproject.toml, or ``{}``."""
    path = find_pyproject(start)
    if path is None:
        return {}
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        from .exceptions import StoreError

        raise StoreError(f"{path}: cannot read [tool.jupyter_mlops]: {exc}") from exc
    settings = data.get("tool", {}).get("jupyter_mlops", {})
    return dict(settings, _pyproject=str(path))


def get_tracking_uri() -> str:
    """The store URI in effect, always as an SQLAlchemy URL."""
    return tracking_uri_and_source()[0]


def tracking_uri_and_source(start: str | os.PathLike | None = None) -> tuple[str, str]:
    """The store URI in effect and which rule chose it (for ``jupyter mlops doctor``).

    ``start`` is the folder the search begins in (default: cwd); the pipeline runner passes the
    spec's folder, so where the shell happens to be does not matter.
    """
    if _explicit_uri:
        return normalize_uri(_explicit_uri), "set_tracking_uri() / --uri"
    if os.environ.get(ENV_URI):
        return normalize_uri(os.environ[ENV_URI]), f"the {ENV_URI} environment variable"
    here = Path(start).resolve() if start is not None else Path.cwd().resolve()
    settings = project_settings(here)
    if settings.get("tracking_uri"):
        uri = str(settings["tracking_uri"])
        if "://" not in uri and not os.path.isabs(uri):
            # A relative path in pyproject.toml is relative to that file, not to the cwd.
            uri = str(Path(settings["_pyproject"]).parent / uri)
        return normalize_uri(uri), f"tracking_uri in [tool.jupyter_mlops] of {settings['_pyproject']}"
    existing = find_store_folder(here)
    if existing is not None:
        return normalize_uri(str(existing / DEFAULT_DB)), f"the nearest existing {DEFAULT_DIR}/ folder ({existing})"
    root, marker = project_root(here)
    return (normalize_uri(str(root / DEFAULT_DIR / DEFAULT_DB)),
            f"a new {DEFAULT_DIR}/ at the project root ({root}, {marker})")


def _upwards(here: Path):
    """``here`` and its parents, stopping at the user's home when ``here`` is inside it."""
    home = Path.home().resolve()
    for folder in (here, *here.parents):
        yield folder
        if folder == home:
            return


def find_store_folder(start: Path | None = None) -> Path | None:
    """The nearest existing ``.mlops/`` folder from ``start`` (default: cwd) upwards, not above home."""
    for folder in _upwards((start or Path.cwd()).resolve()):
        if (folder / DEFAULT_DIR).is_dir():
            return folder / DEFAULT_DIR
    return None


def project_root(start: Path | None = None) -> tuple[Path, str]:
    """The nearest folder holding ``pyproject.toml`` or ``.git`` (and which), else ``start`` itself."""
    here = (start or Path.cwd()).resolve()
    for folder in _upwards(here):
        for marker in ("pyproject.toml", ".git"):
            if (folder / marker).exists():
                return folder, f"it holds {marker}"
    return here, "no pyproject.toml or .git above it: the current folder"


def normalize_uri(uri: str) -> str:
    """Accept a bare file path or ``sqlite:///`` / ``postgresql://`` URLs; return an SQLAlchemy URL."""
    if "://" not in uri:
        return "sqlite:///" + str(Path(uri).expanduser().resolve())
    if uri.startswith(("postgresql://", "postgres://")):
        # psycopg 3 is the maintained driver; plain postgresql:// would pick psycopg2.
        return "postgresql+psycopg://" + uri.split("://", 1)[1]
    return uri


def sqlite_path(uri: str) -> Path | None:
    """The database file behind an SQLite URL, or ``None`` for other back ends / in-memory."""
    if not uri.startswith("sqlite"):
        return None
    path = uri.split(":///", 1)[1] if ":///" in uri else ""
    if not path or path == ":memory:":
        return None
    return Path(path)


def get_artifact_uri(uri: str | None = None) -> str:
    """Where artifacts and packages live: ``MLOPS_ARTIFACT_URI`` (a path, ``file://``, ``memory://``,
    ``s3://``...) or the local folder :func:`get_artifact_root` names."""
    configured = os.environ.get(ENV_ARTIFACTS)
    if configured and is_remote_uri(configured):
        return configured.rstrip("/")
    return str(get_artifact_root(uri))


def is_tracking_server(uri: str) -> bool:
    """True for ``http(s)://host:port``: the store is ``jupyter mlops server`` (tracking/remote.py)."""
    return str(uri).startswith(("http://", "https://"))


def tracking_server_cache(uri: str) -> Path:
    """This user's local folder for a tracking server's downloaded artifacts and scratch files."""
    host = str(uri).split("://", 1)[1].split("/", 1)[0]
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return (base / "jupyter_mlops" / "".join(c if c.isalnum() or c in ".-" else "_" for c in host)).expanduser()


def is_remote_uri(uri: str) -> bool:
    """True for fsspec URLs other than local files (``s3://``, ``memory://``, ``gs://``, ...)."""
    scheme, sep, _ = str(uri).partition("://")
    return bool(sep) and scheme not in ("file", "local") and len(scheme) > 1


def get_artifact_root(uri: str | None = None) -> Path:
    """A local folder: the artifact store when it is local, else the scratch space beside the store
    (executed notebooks, package downloads) for an artifact store elsewhere."""
    configured = os.environ.get(ENV_ARTIFACTS)
    if configured and not is_remote_uri(configured):
        return Path(configured.removeprefix("file://")).expanduser().resolve()
    uri = uri or get_tracking_uri()
    if is_tracking_server(uri):
        return tracking_server_cache(uri) / "artifacts"
    db = sqlite_path(uri)
    if db is not None:
        return db.parent / "artifacts"
    return (Path.cwd() / DEFAULT_DIR / "artifacts").resolve()
