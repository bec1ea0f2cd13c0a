"""Where the tracking store lives.

Precedence, highest first: ``set_tracking_uri()`` in this process, the ``MLOPS_TRACKING_URI``
environment variable, ``tracking_uri`` under ``[tool.jupyter_mlops]`` in the nearest
``pyproject.toml``, and finally an SQLite file at ``./.mlops/mlops.db``.
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


def set_tracking_uri(uri: str | os.PathLike | None) -> None:
    """Point this process at another store (a path or an SQLAlchemy URL); ``None`` restores the default."""
    global _explicit_uri
    _explicit_uri = None if uri is None else str(uri)
    from .tracking import store

    store.forget_open_stores()


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


def tracking_uri_and_source() -> tuple[str, str]:
    """The store URI in effect and where it was set (for ``jupyter mlops doctor``)."""
    if _explicit_uri:
        return normalize_uri(_explicit_uri), "set_tracking_uri() / --uri"
    if os.environ.get(ENV_URI):
        return normalize_uri(os.environ[ENV_URI]), f"the {ENV_URI} environment variable"
    settings = project_settings()
    if settings.get("tracking_uri"):
        uri = str(settings["tracking_uri"])
        if "://" not in uri and not os.path.isabs(uri):
            # A relative path in pyproject.toml is relative to that file, not to the cwd.
            uri = str(Path(settings["_pyproject"]).parent / uri)
        return normalize_uri(uri), f"[tool.jupyter_mlops] in {settings['_pyproject']}"
    return normalize_uri(os.path.join(DEFAULT_DIR, DEFAULT_DB)), "the default (./.mlops/mlops.db)"


def normalize_uri(uri: str) -> str:
    """Accept a bare file path or ``sqlite:///`` / ``postgresql://`` URLs; return an SQLAlchemy URL."""
    if "://" not in uri:
        return "sqlite:///" + str(Path(uri).expanduser().resolve())
    if uri.startswith("postgresql://") or uri.startswith("postgres://"):
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
    db = sqlite_path(uri or get_tracking_uri())
    if db is not None:
        return db.parent / "artifacts"
    return (Path.cwd() / DEFAULT_DIR / "artifacts").resolve()
