"""One small exception hierarchy, so callers can catch ``MlopsError`` and users read where it went wrong."""
from __future__ import annotations


class MlopsError(Exception):
    """Base class of every error jupyter_mlops raises on purpose."""


class StoreError(MlopsError):
    """The tracking store cannot be opened, created or written (names the path or URI)."""


class InvalidInputError(MlopsError, ValueError):
    """A value handed to the API is unusable; the message names the key or field."""


class FilterSyntaxError(InvalidInputError):
    """A ``search_runs`` filter does not parse; carries the 0-based character position."""

    def __init__(self, message: str, filter_string: str, position: int):
        self.filter_string = filter_string
        self.position = position
        shown = filter_string  # a long filter is shown around the position: the message stays one short line
        if len(shown) > 120:
            start, end = max(position - 80, 0), position + 40
            shown = f"{'...' if start else ''}{shown[start:end]}{'...' if end < len(shown) else ''}"
        super().__init__(f"{message} at position {position} of filter {shown!r}")

    def pointer(self) -> str:
        """The filter with a caret under the position, for multi-line displays."""
        return f"{self.filter_string}\n{' ' * self.position}^"


class RunNotFoundError(MlopsError, LookupError):
    """No run has the given id (or unique id prefix)."""


class NoActiveRunError(MlopsError):
    """A ``log_*`` call came with no run active and none could be started."""


class RegistryError(MlopsError):
    """A registry operation (approve, export, alias, load) cannot be done as asked."""


class InvalidNameError(RegistryError, InvalidInputError):
    """A model name, alias or reference is malformed (e.g. holds a path separator)."""


class ModelNotFoundError(RegistryError, LookupError):
    """No registered model, version or alias matches the reference."""


class ApprovalRefusedError(RegistryError):
    """An approval failed a gate, or an export was asked for a run that is not approved."""


class PackageVerificationError(RegistryError):
    """A model package does not match its manifest or its registry record; names the file."""

    def __init__(self, message: str, path: str | None = None):
        self.path = path
        super().__init__(message)
