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


class InputSchemaError(InvalidInputError):
    """Input does not match the model's signature; ``column`` names the offending column."""

    def __init__(self, message: str, column: str | None = None):
        self.column = column
        super().__init__(message)


class SpecError(InvalidInputError):
    """A pipeline spec (or a notebook it names) is unusable. ``str()`` is one line: ``file:line: field: problem``."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None, field: str | None = None):
        self.reason, self.path, self.line, self.field = message, path, line, field
        where = f"{path or ''}{f':{line}' if line else ''}"
        parts = [part for part in (where, field, message) if part]
        super().__init__(" ".join(": ".join(map(str, parts)).split()))  # one line, whatever the parts hold

    def __reduce__(self):  # picklable across process pools
        return type(self), (self.reason, self.path, self.line, self.field)


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
