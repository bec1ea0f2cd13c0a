"""Notebooks from the store leave the server untrusted: no trust marker survives, none is honoured.

A snapshot or an executed step notebook was written by whoever logged the run; in team mode that
is anyone who can write to the store. JupyterLab runs a notebook's JavaScript and unsanitized HTML
outputs only when the notebook is trusted, and Jupyter Server decides that from nbformat's signing:
a notebook saved with ``"trusted": true`` on every code cell is signed (``NotebookNotary.check_cells``
then ``sign``), and a notebook whose content hash is in the signature database loads trusted. So
before a notebook is handed out, every marker goes (each cell's ``metadata.trusted``, the notebook's
``metadata.signature`` and ``metadata.trusted``), and the handler drops its content hash from the
server's signature database (:func:`forget_signature`). The panels then render it read-only,
untrusted and without a kernel (labextension/src/panels/snapshot.ts), never as a working copy.
"""
from __future__ import annotations

import json

import nbformat

# Keys that say "trust this" in a notebook (v4) and its cells; v3's ``signature`` is converted away.
NOTEBOOK_TRUST_KEYS = ("signature", "trusted")
CELL_TRUST_KEYS = ("trusted",)


class UnreadableNotebookError(ValueError):
    """A stored ``.ipynb`` artifact is not a notebook nbformat can read (the store holds it as logged)."""


def untrusted_notebook(text: str, where: str) -> dict:
    """The notebook in ``text`` as nbformat 4 JSON with every trust marker removed.

    ``where`` names the artifact in the error raised when ``text`` is not a notebook."""
    try:
        nb = nbformat.reads(text, as_version=4)  # converts v3 (and drops transient keys on the way)
        cells = nb.get("cells")
        if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
            raise ValueError("its cells are not a list of objects")
    except Exception as exc:  # a malformed artifact can fail anywhere in the parser: name it, never a 500
        raise UnreadableNotebookError(f"{where} is not a readable notebook: {type(exc).__name__}: {exc}") from exc
    strip_trust(nb)
    return nb


def strip_trust(nb: dict) -> dict:
    """Remove every trust marker from ``nb`` in place (and return it); tolerant of odd metadata."""
    metadata = nb.get("metadata")
    if isinstance(metadata, dict):
        for key in NOTEBOOK_TRUST_KEYS:
            metadata.pop(key, None)
    else:
        nb["metadata"] = {}
    for cell in nb.get("cells", []):
        if isinstance(cell.get("metadata"), dict):
            for key in CELL_TRUST_KEYS:
                cell["metadata"].pop(key, None)
        else:
            cell["metadata"] = {}
    return nb


def forget_signature(notary, text: str, nb: dict) -> None:
    """Drop from the server's signature database the content hashes this notebook can have been
    signed under, so no copy of it loads trusted: ``nb`` as handed out (a copy the user downloads
    and opens), and the stored JSON as a save through the contents API signed it (what earlier
    versions of the sidebar did to open a snapshot: nbformat pops each cell's ``trusted`` and signs).

    ``notary`` is the contents manager's ``NotebookNotary``; None (a contents manager without one)
    leaves nothing to forget. Call it on the server's own thread: its SQLite store was opened there."""
    if notary is None:
        return
    notary.unsign(nbformat.from_dict(nb))
    try:
        stored = nbformat.from_dict(json.loads(text))
        for cell in stored["cells"]:
            cell["metadata"].pop("trusted", None)
        notary.unsign(stored)
    except (ValueError, TypeError, AttributeError, KeyError, RecursionError):
        pass  # not the shape a contents-API save accepts, so never signed in that form
