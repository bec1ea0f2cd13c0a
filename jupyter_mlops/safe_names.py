"""Names that become file paths: run names, step labels, artifact names, model names.

Such names come from the store, a notebook or a request, so they are strangers: a run named
``../../../../tmp/x`` must not write outside the folder it is joined to. ``safe_component``
reduces any name to one harmless file-name component; ``check_artifact_name`` refuses, at log
time, an artifact name that could not be one relative path inside its run.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata

from .exceptions import InvalidInputError

MAX_COMPONENT = 100  # characters; well under the 255 bytes most file systems allow
MAX_ARTIFACT_NAME = 1000
_UNSAFE = re.compile(r"[^\w.-]+")  # \w is Unicode-aware: letters and digits of any script stay


def shown(value, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, so a 10k-character name makes a one-line message."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(str(value))} characters)"


def safe_component(name, fallback: str = "unnamed") -> str:
    """``name`` as one file-name component: no separators, no leading dot, no control characters.

    A name that had to change gets a short digest of the original appended, so two names that
    reduce alike (``a/b``, ``a_b``) still land in different folders."""
    text = unicodedata.normalize("NFC", str(name)) if name is not None else ""
    cleaned = _UNSAFE.sub("_", text).lstrip(".")[:MAX_COMPONENT] or fallback
    if cleaned == text:
        return cleaned
    return f"{cleaned[:MAX_COMPONENT - 9]}-{hashlib.sha256(text.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"


def check_artifact_name(name) -> str:
    """``name`` if it is a relative ``/``-separated path that stays inside its run; else a clear error."""
    if not isinstance(name, str) or not name:
        raise InvalidInputError(f"artifact name must be a non-empty string, got {shown(name)}")
    why = None
    parts = name.split("/")
    if len(name) > MAX_ARTIFACT_NAME:
        why = f"is longer than {MAX_ARTIFACT_NAME} characters"
    elif any(unicodedata.category(c) == "Cc" for c in name):
        why = "holds a NUL or control character (newline, tab, ...)"
    elif name.startswith("/") or re.match(r"[A-Za-z]:", name):
        why = "is an absolute path"
    elif "\\" in name:
        why = "holds '\\' (use '/' between folders)"
    elif ".." in parts or "." in parts:
        why = "has a '..' or '.' component"
    elif "" in parts:
        why = "has an empty component ('//' or a trailing '/')"
    elif any(len(p.encode("utf-8", "surrogatepass")) > 255 for p in parts):
        why = "has a component longer than 255 bytes"
    if why:
        raise InvalidInputError(f"artifact name {shown(name)} {why}; use a relative path such as "
                                "'plots/roc.png'")
    return name
