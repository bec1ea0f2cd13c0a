"""Model names, aliases and references (``name``, ``name/3``, ``name@production``).

Names and aliases become folder names of the package store, so anything that could walk out
of it (separators, ``..``, absolute paths) is refused before it reaches the file system.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..exceptions import InvalidNameError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")


def check_name(value: str, what: str = "model name") -> str:
    if not isinstance(value, str) or not _NAME.match(value) or ".." in value:
        raise InvalidNameError(
            f"invalid {what} {value!r}: use 1-128 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit (no '/', '\\', '..' or spaces)"
        )
    return value


def check_alias(value: str) -> str:
    check_name(value, "alias")
    if value.isdigit():
        raise InvalidNameError(f"invalid alias {value!r}: an alias cannot be a number (it would read as a version)")
    return value


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
        raise InvalidNameError(f"invalid model reference {ref!r}: expected NAME, NAME/VERSION or NAME@ALIAS")
    if "@" in ref:
        name, alias = ref.split("@", 1)
        return ModelRef(check_name(name), alias=check_alias(alias))
    if "/" in ref:
        name, version = ref.split("/", 1)
        if not version.isdigit() or int(version) < 1:
            raise InvalidNameError(f"invalid model reference {ref!r}: the version after '/' must be a positive integer")
        return ModelRef(check_name(name), version=int(version))
    return ModelRef(check_name(ref))
