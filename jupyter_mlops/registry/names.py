"""Model names, aliases and references (``name``, ``name/3``, ``name@production``).

Names and aliases become folder names of the package store, so anything that could walk out
of it (separators, ``..``, absolute paths) is refused before it reaches the file system.

A reference always means the registry, even when a folder of the same name sits in the current
directory (a stale or planted copy must not stand in for it); a package folder or zip is read
only when written as a path: ``./x``, ``/abs/x``, ``~/x``, ``file:x`` or ``x.zip``.

Aliases are case-insensitive: they are stored in lower case, so ``Production`` and
``production`` are one alias, never two that point at different versions.
"""
from __future__ import annotations

import operator
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from ..exceptions import InvalidNameError
from ..safe_names import shown

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
_VERSION = re.compile(r"[0-9]{1,10}\Z")
MAX_VERSION = 2**31 - 1  # the store's version column is a 32-bit integer (PostgreSQL refuses more)
PATH_HINT = "a package folder or zip is read only when written as a path: ./NAME, /abs/path, file:PATH or NAME.zip"


def check_name(value: str, what: str = "model name") -> str:
    if not isinstance(value, str) or not _NAME.match(value) or ".." in value:
        raise InvalidNameError(
            f"invalid {what} {shown(value)}: use 1-128 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit (no '/', '\\', '..' or spaces)"
        )
    if value.lower().endswith(".zip"):
        raise InvalidNameError(f"invalid {what} {value!r}: it cannot end in '.zip' (that reads as a zip file)")
    return value


def check_alias(value: str) -> str:
    """``value`` in lower case (aliases are case-insensitive), or an error saying why it is not one."""
    check_name(value, "alias")
    if value.isdigit():
        raise InvalidNameError(f"invalid alias {value!r}: an alias cannot be a number (it would read as a version)")
    return value.lower()


def check_version(value) -> int:
    """A version number: a positive whole number (``3`` or ``"3"``); ``1.9``, ``True`` or ``"1e3"`` are refused
    rather than read as 1."""
    number = None
    if isinstance(value, str):
        number = int(value.strip()) if _VERSION.match(value.strip()) else None
    elif not isinstance(value, bool) and type(value).__name__ != "bool_":
        try:
            number = operator.index(value)  # int and numpy integers; not floats
        except TypeError:
            pass
    if number is None or not 1 <= number <= MAX_VERSION:
        raise InvalidNameError(f"invalid version {shown(value)}: expected a positive whole number such as 3")
    return number


def as_package_path(ref) -> Path | None:
    """The package folder or zip ``ref`` names when it is written as a path; None for a registry reference."""
    if isinstance(ref, os.PathLike):
        return Path(ref)
    if not isinstance(ref, str):
        return None
    if ref.startswith("file:"):
        if not ref.startswith("file://"):
            return Path(ref[5:]).expanduser()  # file:relative/or/absolute
        url = urlparse(ref)
        if url.netloc not in ("", "localhost"):
            raise InvalidNameError(f"{shown(ref)}: only local file: URLs name a package (no host)")
        return Path(unquote(url.path))
    if ref in (".", "..") or ref.startswith(("/", "./", "../", "~", ".\\", "..\\")) or os.path.isabs(ref) \
            or ref.lower().endswith(".zip"):
        return Path(ref).expanduser()
    return None


@dataclass(frozen=True)
class ModelRef:
    """A parsed reference: exactly one of ``version`` and ``alias`` is set, or neither (= latest)."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}/{self.version}"
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        return self.name


def parse_ref(ref: str) -> ModelRef:
    """``"cancer-clf"`` (latest), ``"cancer-clf/3"`` or ``"cancer-clf@production"``."""
    if not isinstance(ref, str) or not ref:
        raise InvalidNameError(f"invalid model reference {shown(ref)}: expected NAME, NAME/VERSION or NAME@ALIAS")
    if "@" in ref:
        name, alias = ref.split("@", 1)
        return ModelRef(check_name(name), alias=check_alias(alias))
    if "/" in ref:
        name, version = ref.split("/", 1)
        if not _VERSION.match(version) or not 1 <= int(version) <= MAX_VERSION:
            raise InvalidNameError(f"invalid model reference {shown(ref)}: the version after '/' must be a positive "
                                   f"whole number below {MAX_VERSION + 1}")
        return ModelRef(check_name(name), version=int(version))
    return ModelRef(check_name(ref))
