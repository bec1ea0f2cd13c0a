"""The web UI of ``jupyter mlops server``: the lab's navigator and views as one page at ``/``.

The page and its scripts are static files that ``jlpm build`` in labextension/ (run by ``pip
install``) bundles into ``webui/`` beside this module, from labextension/src/standalone. They
hold no data, so they need no token: the page asks for one, and every API request it makes
carries it. Only files directly in that folder are served, by names of one path component, and
the page may run only its own scripts (``PAGE_POLICY``).
"""
from __future__ import annotations

import json
from pathlib import Path

import tornado.web
from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import JupyterHandler

WEBUI = Path(__file__).with_name("webui")
PAGE = "index.html"
ASSETS = "ui"  # the URL prefix of the bundle's files
ASSET_NAME = r"(?P<name>[A-Za-z0-9_][A-Za-z0-9_.-]*)"  # one path component, not starting with a dot
YEAR = 365 * 24 * 3600

# Scripts from this server only (no inline script, no eval); styles may be inline because Lumino
# and JupyterLab's icons add <style> elements; images may be data: (rendered outputs) or blob:
# (artifact previews); HTML artifacts are drawn in a sandboxed srcdoc frame, which inherits this.
PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
               "font-src 'self' data:; connect-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'none'; "
               "object-src 'none'; frame-ancestors 'none'")  # no other site may frame the approve buttons
NOT_BUILT = ("the web UI is not built: run `jlpm build` in labextension/ (pip install -e . does), "
             "or use the REST API (GET /api-index lists it)")


class _BundleFile(JupyterHandler, tornado.web.StaticFileHandler):
    """A file of the built bundle, under Jupyter's Host check; no token needed (no data in it)."""

    absolute_path: str | None = None  # set by StaticFileHandler.get once a file is found

    @property
    def content_security_policy(self) -> str:
        return PAGE_POLICY

    def initialize(self, path: str = str(WEBUI)) -> None:  # type: ignore[override]
        super().initialize(path)

    def compute_etag(self) -> str | None:
        return super().compute_etag() if self.absolute_path else None  # an error or JSON: no file

    def check_bundle(self) -> None:
        if not (Path(self.root) / PAGE).is_file():
            raise tornado.web.HTTPError(404, NOT_BUILT)

    def write_error(self, status_code: int, **kwargs) -> None:
        # A short plain line, not Jupyter's HTML error page (which would need templates).
        exc = (kwargs.get("exc_info") or (None, None, None))[1]
        message = getattr(exc, "log_message", None) or self._reason
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(f"{status_code}: {message}\n")


class AssetHandler(_BundleFile):
    """``/ui/<name>``: a script, stylesheet or font of the bundle. Names carry a content hash, so
    a browser keeps them; a new build has new names."""

    @allow_unauthenticated
    def head(self, name: str):
        return self.get(name, include_body=False)

    @allow_unauthenticated
    async def get(self, name: str, include_body: bool = True) -> None:
        self.check_bundle()
        await super().get(name, include_body=include_body)

    def set_extra_headers(self, path: str) -> None:
        if path != PAGE:
            self.set_header("Cache-Control", f"public, max-age={YEAR}, immutable")


class PageHandler(_BundleFile):
    """``/``: the page, or this server's JSON index for a client that asks for JSON only."""

    def initialize(self, path: str = str(WEBUI), index: dict | None = None) -> None:  # type: ignore[override]
        super().initialize(path)
        self.index = index or {}

    @allow_unauthenticated
    def head(self):
        return self.get(include_body=False)

    @allow_unauthenticated
    async def get(self, include_body: bool = True) -> None:
        self.set_header("Vary", "Accept")
        if wants_json(self.request.headers.get("Accept", "")):
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps(self.index))
            return
        self.check_bundle()
        await super().get(PAGE, include_body=include_body)

    def set_extra_headers(self, path: str) -> None:
        self.set_header("Cache-Control", "no-cache")  # names the current bundle: always checked


def wants_json(accept: str) -> bool:
    """An Accept header naming JSON and not HTML (a browser's names HTML; ``*/*`` gets the page)."""
    types = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    return "application/json" in types and "text/html" not in types


def routes(index: dict) -> list[tuple[str, type, dict]]:
    """Patterns relative to the base URL (``""`` is the base itself)."""
    return [("", PageHandler, {"index": index}), (rf"{ASSETS}/{ASSET_NAME}", AssetHandler, {})]
